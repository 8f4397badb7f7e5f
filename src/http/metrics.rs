//! `/metrics`: the snapshot in the Prometheus text exposition format (version 0.0.4).
//! Every metric has its HELP and TYPE lines; label values are fixed words, never input.

use std::fmt::Write;

use super::routes::View;
use crate::policy::Health;
use crate::readiness::{self, Question};
use crate::status::State;

/// Every state, in lifecycle order, for the one-hot `tend_state` gauge.
const STATES: [State; 8] = State::ALL;

const HEALTHS: [Health; 3] = [Health::Unknown, Health::Healthy, Health::Unhealthy];

pub fn render(view: &View<'_>) -> String {
    let s = view.snapshot;
    let mut out = Metrics(String::with_capacity(2048));
    out.family("tend_up", "gauge", "1 while tend answers.");
    out.sample("tend_up", "", 1);
    out.family(
        "tend_state",
        "gauge",
        "The lifecycle state: 1 for the current one, 0 for the others.",
    );
    for state in STATES {
        let label = format!("state=\"{}\"", state.name());
        out.sample("tend_state", &label, u8::from(state == s.state));
    }
    out.family(
        "tend_ready",
        "gauge",
        "1 when ready for traffic (as /readyz and `tend health`), else 0.",
    );
    let ready = readiness::judge(s, Question::Ready).0 == 0;
    out.sample("tend_ready", "", u8::from(ready));
    out.family(
        "tend_uptime_seconds",
        "gauge",
        "Seconds since tend started.",
    );
    out.sample("tend_uptime_seconds", "", view.uptime_seconds);
    out.family(
        "tend_child_restarts_total",
        "counter",
        "Restarts of the child by the restart policy or remediation.",
    );
    out.sample("tend_child_restarts_total", "", s.restarts);
    out.family(
        "tend_child_last_exit_code",
        "gauge",
        "Exit code of the child's last exit (128+N for signal N); absent before the first exit.",
    );
    if let Some(exit) = &s.last_exit {
        out.sample("tend_child_last_exit_code", "", exit.exit_code);
    }
    out.family(
        "tend_health_check_configured",
        "gauge",
        "1 when a health check (TEND_HEALTH_CHECK) is configured.",
    );
    out.sample("tend_health_check_configured", "", u8::from(s.health_check));
    out.family(
        "tend_health_status",
        "gauge",
        "The health verdict: 1 for the current one, 0 for the others.",
    );
    for health in HEALTHS {
        let label = format!("status=\"{}\"", health.name());
        out.sample("tend_health_status", &label, u8::from(health == s.health));
    }
    out.family(
        "tend_health_checks_total",
        "counter",
        "Health checks run, by result.",
    );
    out.sample(
        "tend_health_checks_total",
        "result=\"passed\"",
        s.checks_passed,
    );
    out.sample(
        "tend_health_checks_total",
        "result=\"failed\"",
        s.checks_failed,
    );
    out.family(
        "tend_health_consecutive_failures",
        "gauge",
        "Failed health checks in a row.",
    );
    out.sample(
        "tend_health_consecutive_failures",
        "",
        s.consecutive_failures,
    );
    out.family(
        "tend_health_check_duration_seconds",
        "gauge",
        "Duration of the last health check; absent before the first.",
    );
    if let Some(ms) = s.last_check_duration_ms {
        out.sample("tend_health_check_duration_seconds", "", ms as f64 / 1000.0);
    }
    out.family(
        "tend_orphans_reaped_total",
        "counter",
        "Processes re-parented to tend (not its own children) that it reaped.",
    );
    out.sample("tend_orphans_reaped_total", "", view.orphans_reaped);
    out.0
}

struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = if labels.is_empty() {
            writeln!(self.0, "{name} {value}")
        } else {
            writeln!(self.0, "{name}{{{labels}}} {value}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{LastExit, Snapshot};
    use std::collections::HashMap;

    /// Parses the exposition text strictly enough to catch format slips: every sample
    /// belongs to a family announced by HELP and TYPE, and every value is a number.
    fn parse(text: &str) -> HashMap<String, f64> {
        let mut typed = HashMap::new();
        let mut samples = HashMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                typed.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample");
            let name = series.split('{').next().unwrap_or(series);
            assert!(typed.contains_key(name), "no TYPE before {line}");
            let value: f64 = value.parse().expect("number");
            assert!(samples.insert(series.to_owned(), value).is_none(), "{line}");
        }
        samples
    }

    #[test]
    fn state_labels_are_the_status_file_words() {
        for state in STATES {
            assert_eq!(serde_json::to_value(state).expect("json"), state.name());
        }
        for health in HEALTHS {
            assert_eq!(serde_json::to_value(health).expect("json"), health.name());
        }
    }

    #[test]
    fn renders_every_family_with_its_values() {
        let snapshot = Snapshot {
            state: State::Running,
            restarts: 2,
            health_check: true,
            health: Health::Unhealthy,
            consecutive_failures: 3,
            checks_passed: 7,
            checks_failed: 4,
            last_check_duration_ms: Some(1250),
            last_exit: Some(LastExit {
                exit_code: 137,
                signal: Some(9),
                at: String::new(),
            }),
            ..Snapshot::new()
        };
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 12.5,
            orphans_reaped: 5,
        };
        let m = parse(&render(&view));
        assert_eq!(m["tend_up"], 1.0);
        assert_eq!(m["tend_state{state=\"running\"}"], 1.0);
        assert_eq!(m["tend_state{state=\"draining\"}"], 0.0);
        let states: f64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("tend_state{"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(states, 1.0);
        assert_eq!(m["tend_ready"], 0.0);
        assert_eq!(m["tend_uptime_seconds"], 12.5);
        assert_eq!(m["tend_child_restarts_total"], 2.0);
        assert_eq!(m["tend_child_last_exit_code"], 137.0);
        assert_eq!(m["tend_health_status{status=\"unhealthy\"}"], 1.0);
        assert_eq!(m["tend_health_checks_total{result=\"passed\"}"], 7.0);
        assert_eq!(m["tend_health_checks_total{result=\"failed\"}"], 4.0);
        assert_eq!(m["tend_health_consecutive_failures"], 3.0);
        assert_eq!(m["tend_health_check_duration_seconds"], 1.25);
        assert_eq!(m["tend_orphans_reaped_total"], 5.0);
    }

    #[test]
    fn absent_values_are_left_out_not_invented() {
        let snapshot = Snapshot::new();
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 0.0,
            orphans_reaped: 0,
        };
        let m = parse(&render(&view));
        assert!(!m.contains_key("tend_child_last_exit_code"));
        assert!(!m.contains_key("tend_health_check_duration_seconds"));
        assert_eq!(m["tend_state{state=\"initializing\"}"], 1.0);
    }
}
