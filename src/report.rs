//! The lifecycle report (TEND_REPORT_FILE): written once at exit, a JSON document with
//! how tend's run ended, its durations, restart and health statistics, and the timeline
//! of the events it logged.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use serde_json::json;

use crate::config::Config;
use crate::emit;
use crate::events::{self, rfc3339_millis, Event};
use crate::status::Snapshot;

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the start of tend's run, the origin of the report's durations.
pub fn mark_start() {
    STARTED.get_or_init(Instant::now);
}

/// When tend's run started (`mark_start`).
pub fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

/// Milliseconds since `mark_start`.
pub fn elapsed_ms() -> u64 {
    STARTED.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// How the run ended, as the supervisor saw it.
pub struct Outcome<'a> {
    pub exit_code: i32,
    pub cause: &'a str,
    /// From tend's start to the child's first `startup_completed`.
    pub startup_ms: Option<u64>,
    /// From the first stop signal or the child's exit to tend's exit.
    pub shutdown_ms: Option<u64>,
}

/// Starts keeping the timeline when a report is wanted.
pub fn prepare(config: &Config) {
    if config.interfaces.report_file.is_some() {
        events::keep_timeline();
    }
}

/// Writes the report when TEND_REPORT_FILE is set; a failure is logged, never fatal.
pub fn write(config: &Config, snapshot: &Snapshot, outcome: &Outcome) {
    let Some(path) = &config.interfaces.report_file else {
        return;
    };
    let report = build(snapshot, outcome);
    match write_file(path, &report) {
        Ok(()) => emit!(info, Event::ReportWritten, path = %path.display(),
            "lifecycle report written to {}", path.display()),
        Err(error) => emit!(warn, Event::ReportWritten, path = %path.display(), error = %error,
            "cannot write the lifecycle report: {error}"),
    }
}

/// The report, every string in it redacted (the timeline's lines were when logged; the
/// rest is checked again here, as `tend check-config` does, so that nothing new added
/// to the report can show a password).
fn build(snapshot: &Snapshot, outcome: &Outcome) -> serde_json::Value {
    let mut report = contents(snapshot, outcome);
    crate::redact::json(&mut report);
    report
}

fn contents(snapshot: &Snapshot, outcome: &Outcome) -> serde_json::Value {
    let mut report = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "started_at": snapshot.started_at,
        "ended_at": rfc3339_millis(SystemTime::now()),
        "exit_code": outcome.exit_code,
        "exit_cause": outcome.cause,
        "child_last_exit": snapshot.last_exit,
        "restarts": snapshot.restarts,
        "durations_ms": {
            "total": elapsed_ms(),
            "startup": outcome.startup_ms,
            "shutdown": outcome.shutdown_ms,
        },
        "health": {
            "configured": snapshot.health_check,
            "checks_passed": snapshot.checks_passed,
            "checks_failed": snapshot.checks_failed,
            "last_state": snapshot.health,
            "last_error": snapshot.last_error,
        },
        "timeline": events::timeline_lines(),
    });
    // Only with services, as in the status file: a run without them reports what it
    // always reported. Each as the status file has it at the end (state, reason, last exit).
    if !snapshot.services.is_empty() {
        if let (Some(object), Ok(services)) = (
            report.as_object_mut(),
            serde_json::to_value(&snapshot.services),
        ) {
            object.insert("services".into(), services);
        }
    }
    report
}

/// Through `fsafe`: TEND_REPORT_FILE may sit in a directory the child can write, where a
/// symlink, a pipe or a device planted at the report's name or beside it must not be
/// written through, waited on or replaced.
fn write_file(path: &Path, report: &serde_json::Value) -> Result<(), String> {
    let mut bytes = serde_json::to_vec_pretty(report).map_err(|e| e.to_string())?;
    bytes.push(b'\n');
    crate::fsafe::replace_file(path, &bytes, 0o644).map_err(|e| format!("TEND_REPORT_FILE={e}"))
}

/// The startup gate failed (invalid environment, dependency, hook): nothing ran.
pub fn gate_failed(config: &Config, code: i32) {
    let outcome = Outcome {
        exit_code: code,
        cause: "startup_gate_failed",
        startup_ms: None,
        shutdown_ms: None,
    };
    write(config, &Snapshot::new(), &outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Health;
    use crate::status::{LastExit, ServiceStatus, State};

    fn outcome() -> Outcome<'static> {
        Outcome {
            exit_code: 0,
            cause: "child_exited",
            startup_ms: Some(5),
            shutdown_ms: Some(7),
        }
    }

    #[test]
    fn without_services_the_report_has_no_services_key() {
        let report = build(&Snapshot::new(), &outcome());
        assert!(report.get("services").is_none(), "{report}");
        assert_eq!(report["exit_cause"], "child_exited");
    }

    #[test]
    fn the_services_are_reported_as_the_status_file_has_them() {
        let mut snapshot = Snapshot::new();
        snapshot.services = vec![ServiceStatus {
            name: "migrate".into(),
            state: State::Failed,
            pid: None,
            oneshot: true,
            restarts: 0,
            last_exit: Some(LastExit {
                exit_code: 1,
                signal: None,
                at: "2024-01-01T00:00:00.000Z".into(),
            }),
            health_check: false,
            health: Health::Unknown,
            consecutive_failures: 0,
            // Redacted like the rest of the report.
            reason: Some("failed: http://admin:hunter2@db:5432 refused".into()),
        }];
        let report = build(&snapshot, &outcome());
        let services = &report["services"];
        assert_eq!(services[0]["name"], "migrate");
        assert_eq!(services[0]["state"], "failed");
        assert_eq!(services[0]["oneshot"], true);
        assert_eq!(services[0]["last_exit"]["exit_code"], 1);
        let reason = services[0]["reason"].as_str().expect("reason");
        assert!(!reason.contains("hunter2"), "{reason}");
    }
}
