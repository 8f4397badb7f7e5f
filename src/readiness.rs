//! `tend health` and `tend health --live`: answers from the status file alone, fast enough
//! to run every second from a compose healthcheck. No configuration, no network; the
//! only exit codes are 0 (yes) and 1 (no, with a one-line reason on stdout).

use crate::exit_code::ExitCode;
use crate::policy::Health;
use crate::status::place::{locate, Target};
use crate::status::{self, Snapshot, State};

/// Which question is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Ready for traffic: `running`, and healthy if a health check is configured.
    Ready,
    /// Alive: tend is there and not `failed` or `stopped`.
    Live,
}

/// Runs the subcommand; returns the exit code after printing the reason.
pub fn main(question: Question, target: Target) -> i32 {
    let (code, reason) = match load(target) {
        Ok((snapshot, path)) if !status::writer_alive(&snapshot) => (
            ExitCode::No as i32,
            format!(
                "stale status file {}: tend (pid {}) is gone; name another tend with \
                 --pid PID or TEND_STATUS_FILE",
                path.display(),
                snapshot.pid
            ),
        ),
        Ok((snapshot, _)) => judge(&snapshot, question),
        Err(reason) => (ExitCode::No as i32, reason),
    };
    crate::outln!("{reason}");
    code
}

/// The asked-for tend's snapshot and its file, found as `tend status` finds it
/// (`status::place::locate`).
fn load(target: Target) -> Result<(Snapshot, std::path::PathBuf), String> {
    let path = locate(target)?.path;
    match status::read(&path) {
        Ok(snapshot) => Ok((snapshot, path)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no status file at {}: is tend running here? Name a tend with --pid PID or \
             TEND_STATUS_FILE",
            path.display()
        )),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// The answer for a live supervisor's snapshot: (exit code, reason).
pub fn judge(snapshot: &Snapshot, question: Question) -> (i32, String) {
    let state = state_name(snapshot.state);
    if matches!(snapshot.state, State::Failed | State::Stopped) {
        return (ExitCode::No as i32, format!("not alive: state {state}"));
    }
    if question == Question::Live {
        return (0, format!("alive: state {state}"));
    }
    if snapshot.state != State::Running {
        return (ExitCode::No as i32, format!("not ready: state {state}"));
    }
    if !snapshot.health_check {
        return (0, "ready: running (no health check configured)".into());
    }
    match snapshot.health {
        Health::Healthy => (0, "ready: running and healthy".into()),
        Health::Unknown => (
            ExitCode::No as i32,
            "not ready: no health verdict yet".into(),
        ),
        Health::Unhealthy => (
            ExitCode::No as i32,
            format!(
                "not ready: unhealthy after {} failed check(s): {}",
                snapshot.consecutive_failures,
                snapshot
                    .last_error
                    .as_deref()
                    .unwrap_or("no error recorded")
            ),
        ),
    }
}

fn state_name(state: State) -> &'static str {
    state.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(state: State, check: bool, health: Health) -> Snapshot {
        Snapshot {
            state,
            health_check: check,
            health,
            ..Snapshot::new()
        }
    }

    #[test]
    fn ready_needs_running_and_a_passing_or_absent_check() {
        let ready = |s: &Snapshot| judge(s, Question::Ready).0;
        assert_eq!(ready(&snapshot(State::Running, false, Health::Unknown)), 0);
        assert_eq!(ready(&snapshot(State::Running, true, Health::Healthy)), 0);
        assert_eq!(ready(&snapshot(State::Running, true, Health::Unknown)), 1);
        assert_eq!(ready(&snapshot(State::Running, true, Health::Unhealthy)), 1);
        for state in [State::Starting, State::Draining, State::Stopping] {
            assert_eq!(ready(&snapshot(state, true, Health::Healthy)), 1);
        }
    }

    #[test]
    fn live_unless_failed_or_stopped() {
        let live = |state| judge(&snapshot(state, true, Health::Unhealthy), Question::Live).0;
        for state in [
            State::Initializing,
            State::Starting,
            State::Running,
            State::Draining,
            State::Stopping,
        ] {
            assert_eq!(live(state), 0, "{state:?}");
        }
        assert_eq!(live(State::Failed), 1);
        assert_eq!(live(State::Stopped), 1);
    }

    #[test]
    fn reasons_are_one_line_and_name_the_cause() {
        let mut s = snapshot(State::Running, true, Health::Unhealthy);
        s.consecutive_failures = 3;
        s.last_error = Some("test exited with code 1".into());
        let (_, reason) = judge(&s, Question::Ready);
        assert!(
            reason.contains("3 failed") && reason.contains("code 1"),
            "{reason}"
        );
        assert!(!reason.contains('\n'));
        let (_, reason) = judge(
            &snapshot(State::Draining, false, Health::Unknown),
            Question::Ready,
        );
        assert_eq!(reason, "not ready: state draining");
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_stale() {
        let mut s = Snapshot::new();
        s.with_start_ticks();
        assert!(status::writer_alive(&s));
        s.pid_start_ticks = s.pid_start_ticks.map(|t| t + 1);
        assert!(!status::writer_alive(&s));
    }
}
