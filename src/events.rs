//! The catalogue of lifecycle events and the subscriber that writes them as JSON lines
//! (or text) on stderr. Event names live in one enum so that they cannot drift from the
//! events table of docs/reference.md; every log line carries `event = Event::X.name()`.

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::level_filters::LevelFilter;

mod lines;
mod stderr;

pub(crate) use lines::push_escaped;

macro_rules! catalogue {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event tend emits. The README's event table lists the same names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Event { $($variant,)* }

        impl Event {
            #[allow(dead_code)] // read by tests that check the README against it
            pub const ALL: &'static [Event] = &[$(Event::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Event::$variant => $name,)* }
            }
        }
    };
}

catalogue! {
    StartupInitiated => "startup_initiated",
    ConfigInvalid => "config_invalid",
    EnvironmentInvalid => "environment_invalid",
    ResourceLimits => "resource_limits",
    DependencyWaiting => "dependency_waiting",
    DependencyAttemptFailed => "dependency_attempt_failed",
    DependenciesReady => "dependencies_ready",
    DependencyFailed => "dependency_failed",
    HookStarted => "hook_started",
    HookCompleted => "hook_completed",
    HookFailed => "hook_failed",
    ChildStarted => "child_started",
    SpawnFailed => "spawn_failed",
    StartupCompleted => "startup_completed",
    StartupTimeout => "startup_timeout",
    HealthCheckPassed => "health_check_passed",
    HealthCheckFailed => "health_check_failed",
    HealthStateChanged => "health_state_changed",
    RemediationStarted => "remediation_started",
    RemediationFailed => "remediation_failed",
    FailureDetected => "failure_detected",
    RestartInitiated => "restart_initiated",
    RestartsExhausted => "restarts_exhausted",
    RecoveryCompleted => "recovery_completed",
    SignalForwarded => "signal_forwarded",
    ShutdownInitiated => "shutdown_initiated",
    ForceKill => "force_kill",
    ChildExited => "child_exited",
    OrphanReaped => "orphan_reaped",
    ProcessesRemaining => "processes_remaining",
    ShutdownCompleted => "shutdown_completed",
    StatusWriteFailed => "status_write_failed",
    StatusPlace => "status_place",
    ReportWritten => "report_written",
    HttpListening => "http_listening",
    HttpFailed => "http_failed",
    ControlListening => "control_listening",
    ControlRequest => "control_request",
    ControlFailed => "control_failed",
    StateChanged => "state_changed",
    ServiceBlocked => "service_blocked",
    InternalError => "internal_error",
    LogLinesDropped => "log_lines_dropped",
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Emits one event: `emit!(info, Event::ChildStarted, pid = 12, "child started")`;
/// after the event come tracing's own fields and message.
#[macro_export]
macro_rules! emit {
    ($level:ident, $event:expr, $($rest:tt)+) => {
        tracing::$level!(event = $event.name(), $($rest)+)
    };
}

thread_local! {
    /// The service whose lifecycle the events emitted now belong to (`service` field).
    static SERVICE: std::cell::RefCell<Option<std::rc::Rc<str>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with every event it emits carrying `"service":name` (right after the level):
/// the supervisor's edges call it around the actions of a service. tend's runtime is one
/// thread, so the scope is the call.
pub fn in_service<T>(name: Option<&std::rc::Rc<str>>, f: impl FnOnce() -> T) -> T {
    let Some(name) = name else { return f() };
    let before = SERVICE.with(|s| s.replace(Some(name.clone())));
    let result = f();
    SERVICE.with(|s| *s.borrow_mut() = before);
    result
}

/// Runs `f` with its events carrying no service: work of the run's that happens to be
/// done while a service's actions are carried out.
pub fn outside_service<T>(f: impl FnOnce() -> T) -> T {
    let before = SERVICE.with(|s| s.replace(None));
    let result = f();
    SERVICE.with(|s| *s.borrow_mut() = before);
    result
}

/// The service of the events emitted now, if any.
fn current_service() -> Option<std::rc::Rc<str>> {
    SERVICE.with(|s| s.borrow().clone())
}

/// Installs the stderr subscriber. Stdout is never touched: it belongs to the child.
pub fn init(json: bool, level: &str) {
    let max: LevelFilter = level.parse().unwrap_or(LevelFilter::INFO);
    stderr::install(json);
    // A second init (only possible in tests) keeps the first subscriber.
    let lines = lines::Lines {
        json,
        max,
        out: write_line,
        now: SystemTime::now,
    };
    let _ = tracing::subscriber::set_global_default(lines);
}

/// Keeps a copy of every line for the lifecycle report (TEND_REPORT_FILE); off unless
/// `keep_timeline` was called, so that tend without a report holds nothing.
static TIMELINE: Mutex<Option<Vec<u8>>> = Mutex::new(None);
/// A long-lived container must not grow without bound: past this the rest is dropped.
const TIMELINE_LIMIT: usize = 1 << 20;

pub fn keep_timeline() {
    *timeline() = Some(Vec::new());
}

/// The lines kept so far (JSON objects, or text lines with TEND_LOG_FORMAT=text).
pub fn timeline_lines() -> Vec<serde_json::Value> {
    let guard = timeline();
    let Some(bytes) = guard.as_ref() else {
        return Vec::new();
    };
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| line.into()))
        .collect()
}

fn timeline() -> std::sync::MutexGuard<'static, Option<Vec<u8>>> {
    TIMELINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// One whole line to stderr (never blocking: see `stderr`), and to the timeline when one
/// is kept.
fn write_line(line: &[u8]) {
    stderr::write(line);
    if let Some(kept) = timeline().as_mut() {
        if kept.len() + line.len() <= TIMELINE_LIMIT {
            kept.extend_from_slice(line);
        }
    }
}

/// Formats a time as `2026-11-23T09:20:37.123Z`: RFC 3339, UTC, milliseconds, as the
/// design asks for every line.
pub fn rfc3339_millis(time: SystemTime) -> String {
    let mut text = String::with_capacity(24);
    push_rfc3339_millis(&mut text, time);
    text
}

/// Appends `rfc3339_millis(time)` to `out`, digit by digit: it stamps every log line and
/// every status snapshot, and `format!` costs ten times as much.
pub fn push_rfc3339_millis(out: &mut String, time: SystemTime) {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut text = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut text[0..4], year.clamp(0, 9999) as u64);
    put_digits(&mut text[5..7], u64::from(month));
    put_digits(&mut text[8..10], u64::from(day));
    put_digits(&mut text[11..13], rem / 3600);
    put_digits(&mut text[14..16], rem % 3600 / 60);
    put_digits(&mut text[17..19], rem % 60);
    put_digits(&mut text[20..23], u64::from(since_epoch.subsec_millis()));
    // Only ASCII digits went into the template.
    out.push_str(std::str::from_utf8(&text).unwrap_or("1970-01-01T00:00:00.000Z"));
}

/// Writes the last `digits.len()` decimal digits of `value` into `digits`.
fn put_digits(digits: &mut [u8], mut value: u64) {
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_425_637_123);
        assert_eq!(rfc3339_millis(t), "2026-11-23T09:20:37.123Z");
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&rfc3339_millis(leap)[..10], "2000-02-29");
    }

    proptest::proptest! {
        /// The digit-by-digit timestamp is the one `format!` writes, for any millisecond
        /// from 1970 to the year 9999.
        #[test]
        fn timestamps_match_the_formatted_ones(ms in 0u64..253_402_300_800_000) {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            let secs = ms / 1000;
            let (year, month, day) = civil_from_days((secs / 86_400) as i64);
            let rem = secs % 86_400;
            let expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                ms % 1000
            );
            proptest::prop_assert_eq!(rfc3339_millis(t), expected);
        }
    }

    #[test]
    fn event_names_are_unique_snake_case() {
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.name()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
    }
}

#[cfg(test)]
mod readme {
    use super::Event;

    #[test]
    fn docs_list_every_event_and_variable() {
        // The events catalogue is in the reference, the variable table in the README.
        let reference = include_str!("../docs/reference.md");
        let readme = include_str!("../README.md");
        for event in Event::ALL {
            assert!(
                reference.contains(&format!("| `{}` |", event.name())),
                "docs/reference.md misses event {}",
                event.name()
            );
        }
        for spec in crate::config::variables() {
            if spec.name != "TEND_FAULT_INJECT" {
                assert!(
                    readme.contains(&format!("| `{}` |", spec.name)),
                    "README misses {}",
                    spec.name
                );
            }
        }
    }
}
