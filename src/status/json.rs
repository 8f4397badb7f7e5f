//! The snapshot as JSON, written by hand: it is written at every change of state and
//! health check, the write at exit among them, and serde_json's generic path costs the
//! exit-latency figure (docs/benchmark.md). The output is serde_json's, byte for byte: a
//! property test compares the two on arbitrary snapshots.

use std::fmt::{Display, Write as _};

use super::{LastExit, Snapshot};
use crate::events::push_escaped;

impl Snapshot {
    /// `serde_json::to_string(self)`, faster.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512);
        out.push_str("{\"state\":\"");
        out.push_str(self.state.name());
        out.push('"');
        number(&mut out, "pid", self.pid);
        optional(&mut out, "pid_start_ticks", self.pid_start_ticks);
        optional(&mut out, "child_pid", self.child_pid);
        string(&mut out, "started_at", &self.started_at);
        number(&mut out, "started_unix_ms", self.started_unix_ms);
        string(&mut out, "updated_at", &self.updated_at);
        number(&mut out, "restarts", self.restarts);
        key(&mut out, "last_exit");
        match &self.last_exit {
            Some(exit) => last_exit(&mut out, exit),
            None => out.push_str("null"),
        }
        number(&mut out, "health_check", self.health_check);
        key(&mut out, "health");
        out.push('"');
        out.push_str(self.health.name());
        out.push('"');
        number(&mut out, "consecutive_failures", self.consecutive_failures);
        optional_string(&mut out, "last_check_at", self.last_check_at.as_deref());
        optional_string(&mut out, "last_error", self.last_error.as_deref());
        optional(
            &mut out,
            "last_check_duration_ms",
            self.last_check_duration_ms,
        );
        number(&mut out, "checks_passed", self.checks_passed);
        number(&mut out, "checks_failed", self.checks_failed);
        // Only with services, whose writes are not on the start-up path: serde's own.
        if !self.services.is_empty() {
            key(&mut out, "services");
            let services = serde_json::to_string(&self.services);
            out.push_str(services.as_deref().unwrap_or("[]"));
        }
        out.push('}');
        out
    }
}

fn last_exit(out: &mut String, exit: &LastExit) {
    out.push_str("{\"exit_code\":");
    let _ = write!(out, "{}", exit.exit_code);
    // `signal` is left out when there is none (skip_serializing_if).
    if let Some(signal) = exit.signal {
        number(out, "signal", signal);
    }
    string(out, "at", &exit.at);
    out.push('}');
}

/// `,"name":` (no comma before the first field, which `to_json` writes itself).
fn key(out: &mut String, name: &str) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
}

fn number(out: &mut String, name: &str, value: impl Display) {
    key(out, name);
    let _ = write!(out, "{value}");
}

fn optional(out: &mut String, name: &str, value: Option<impl Display>) {
    match value {
        Some(value) => number(out, name, value),
        None => {
            key(out, name);
            out.push_str("null");
        }
    }
}

fn string(out: &mut String, name: &str, value: &str) {
    key(out, name);
    out.push('"');
    push_escaped(out, value);
    out.push('"');
}

fn optional_string(out: &mut String, name: &str, value: Option<&str>) {
    match value {
        Some(value) => string(out, name, value),
        None => {
            key(out, name);
            out.push_str("null");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Health;
    use crate::status::State;
    use proptest::prelude::*;

    fn arb_state() -> impl Strategy<Value = State> {
        proptest::sample::select(State::ALL.to_vec())
    }

    fn arb_health() -> impl Strategy<Value = Health> {
        proptest::sample::select(vec![Health::Unknown, Health::Healthy, Health::Unhealthy])
    }

    fn arb_exit() -> impl Strategy<Value = Option<LastExit>> {
        proptest::option::of(
            (any::<i32>(), proptest::option::of(any::<i32>()), ".*").prop_map(
                |(exit_code, signal, at)| LastExit {
                    exit_code,
                    signal,
                    at,
                },
            ),
        )
    }

    prop_compose! {
        fn arb_snapshot()(
            (state, pid, pid_start_ticks, child_pid, started_at, started_unix_ms) in
                (arb_state(), any::<u32>(), any::<Option<u64>>(), any::<Option<i32>>(), ".*", any::<u64>()),
            (updated_at, restarts, last_exit, health_check, health) in
                (".*", any::<u32>(), arb_exit(), any::<bool>(), arb_health()),
            (consecutive_failures, last_check_at, last_error, last_check_duration_ms) in
                (any::<u32>(), proptest::option::of(".*"), proptest::option::of("[\\x00-\\x7f]*|.*"), any::<Option<u64>>()),
            (checks_passed, checks_failed) in (any::<u64>(), any::<u64>()),
        ) -> Snapshot {
            Snapshot {
                state, pid, pid_start_ticks, child_pid, started_at, started_unix_ms, updated_at,
                restarts, last_exit, health_check, health, consecutive_failures, last_check_at,
                last_error, last_check_duration_ms, checks_passed, checks_failed,
                services: Vec::new(),
            }
        }
    }

    proptest! {
        #[test]
        fn the_hand_written_json_is_serde_json_s(snapshot in arb_snapshot()) {
            prop_assert_eq!(snapshot.to_json(), serde_json::to_string(&snapshot).unwrap());
        }
    }

    #[test]
    fn services_are_written_as_serde_json_writes_them() {
        let mut snapshot = Snapshot::new();
        snapshot.services.push(crate::status::ServiceStatus {
            name: "php_fpm".into(),
            state: State::Stopped,
            pid: None,
            oneshot: true,
            restarts: 2,
            last_exit: Some(LastExit {
                exit_code: 0,
                signal: None,
                at: "t".into(),
            }),
            health_check: false,
            health: crate::policy::Health::Unknown,
            consecutive_failures: 0,
            reason: Some("completed".into()),
        });
        assert_eq!(
            snapshot.to_json(),
            serde_json::to_string(&snapshot).unwrap()
        );
        assert!(snapshot
            .to_json()
            .contains(r#""services":[{"name":"php_fpm""#));
    }

    #[test]
    fn a_fresh_snapshot_reads_back() {
        let snapshot = Snapshot::new();
        let back: Snapshot = serde_json::from_str(&snapshot.to_json()).expect("valid JSON");
        assert_eq!(back.pid, snapshot.pid);
        assert_eq!(back.state, State::Initializing);
    }
}
