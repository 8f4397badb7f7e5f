//! `tend health`, `tend health --live` and `tend health NAME`: answers from the status
//! file alone, fast enough to run every second from a compose healthcheck. No
//! configuration, no network; the exit codes are 0 (yes) and 1 (no, with a one-line
//! reason on stdout), and 64 for a NAME that is not one of the services.

use crate::exit_code::ExitCode;
use crate::policy::Health;
use crate::services::graph::MAIN;
use crate::status::place::{locate, Target};
use crate::status::{self, ServiceStatus, Snapshot, State};

/// Which question is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Ready for traffic: the main command `running`, and healthy if a health check is
    /// configured; and every service ready (`service_ready`).
    Ready,
    /// Alive: tend is there and not `failed` or `stopped`.
    Live,
    /// Is this one ready: a service, or `main` (the main command alone)?
    Named(String),
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
    if let Question::Named(name) = &question {
        if name != MAIN && !snapshot.services.iter().any(|s| s.name == *name) {
            return (ExitCode::Usage as i32, unknown(name, snapshot));
        }
    }
    let state = state_name(snapshot.state);
    if matches!(snapshot.state, State::Failed | State::Stopped) {
        return (ExitCode::No as i32, format!("not alive: state {state}"));
    }
    match question {
        Question::Live => (0, format!("alive: state {state}")),
        Question::Ready => match main_ready(snapshot) {
            Ok(reason) if snapshot.services.is_empty() => (0, reason),
            Ok(reason) => services_ready(&snapshot.services, &reason),
            Err(reason) => (ExitCode::No as i32, reason),
        },
        Question::Named(name) => {
            let verdict = match snapshot.services.iter().find(|s| s.name == name) {
                Some(service) => service_ready(service),
                None => main_ready(snapshot),
            };
            match verdict {
                Ok(reason) => (0, format!("{name}: {reason}")),
                Err(reason) => (ExitCode::No as i32, format!("{name}: {reason}")),
            }
        }
    }
}

/// A NAME that is neither `main` nor a service: the services there are.
fn unknown(name: &str, snapshot: &Snapshot) -> String {
    let shown = crate::shown::quoted(name);
    if snapshot.services.is_empty() {
        return format!(
            "no service named {shown}: this tend runs no services; ask `tend health` or \
             `tend health main`"
        );
    }
    let mut names: Vec<&str> = snapshot.services.iter().map(|s| s.name.as_str()).collect();
    names.push(MAIN);
    let near = crate::control::services::near(name, &names)
        .map(|near| format!(" (did you mean {near}?)"))
        .unwrap_or_default();
    names.pop();
    format!(
        "no service named {shown}{near}: the services are {}, and main is the main command",
        names.join(", ")
    )
}

/// The main command (tend's own state): Ok(reason) when ready, Err(reason) when not.
fn main_ready(snapshot: &Snapshot) -> Result<String, String> {
    if snapshot.state != State::Running {
        return Err(format!("not ready: state {}", state_name(snapshot.state)));
    }
    if !snapshot.health_check {
        return Ok("ready: running (no health check configured)".into());
    }
    match snapshot.health {
        Health::Healthy => Ok("ready: running and healthy".into()),
        Health::Unknown => Err("not ready: no health verdict yet".into()),
        Health::Unhealthy => Err(format!(
            "not ready: unhealthy after {} failed check(s): {}",
            snapshot.consecutive_failures,
            snapshot
                .last_error
                .as_deref()
                .unwrap_or("no error recorded")
        )),
    }
}

/// Every service after a ready main command: ready when each one is, else the ones that
/// are not, each named with why.
fn services_ready(services: &[ServiceStatus], main: &str) -> (i32, String) {
    let mut ready = Vec::new();
    let mut not = Vec::new();
    for service in services {
        match service_ready(service) {
            Ok(_) if completed(service) => ready.push(format!("{} (completed)", service.name)),
            Ok(_) => ready.push(service.name.clone()),
            Err(reason) => not.push(format!(
                "service {}: {}",
                service.name,
                reason.trim_start_matches("not ready: ")
            )),
        }
    }
    if not.is_empty() {
        (0, format!("{main}; services ready: {}", ready.join(", ")))
    } else {
        (
            ExitCode::No as i32,
            format!("not ready: {}", not.join("; ")),
        )
    }
}

/// A one-shot that ran to completion: stopped, `completed`, exit code 0.
fn completed(service: &ServiceStatus) -> bool {
    service.oneshot
        && service.state == State::Stopped
        && service.reason.as_deref() == Some("completed")
        && service.last_exit.as_ref().is_some_and(|e| e.exit_code == 0)
}

/// One service: ready when it runs (and, with a health check, passes it), or when it is a
/// one-shot that completed. Ok(reason) when ready, Err(reason) when not.
pub fn service_ready(service: &ServiceStatus) -> Result<String, String> {
    if completed(service) {
        return Ok("ready: completed (exit code 0)".into());
    }
    if service.state != State::Running {
        let mut reason = format!("not ready: state {}", state_name(service.state));
        let why: Vec<String> = service
            .reason
            .iter()
            .cloned()
            .chain(service.last_exit.as_ref().map(|exit| match exit.signal {
                Some(sig) => format!("killed by {}", crate::signals::signal_name(sig)),
                None => format!("last exit code {}", exit.exit_code),
            }))
            .collect();
        if !why.is_empty() {
            reason.push_str(&format!(" ({})", why.join("; ")));
        }
        return Err(reason);
    }
    if !service.health_check {
        return Ok("ready: running (no health check configured)".into());
    }
    match service.health {
        Health::Healthy => Ok("ready: running and healthy".into()),
        Health::Unknown => Err("not ready: no health verdict yet".into()),
        Health::Unhealthy => Err(format!(
            "not ready: unhealthy after {} failed check(s)",
            service.consecutive_failures
        )),
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

    fn service(name: &str, state: State) -> ServiceStatus {
        ServiceStatus {
            pid: (state == State::Running).then_some(10),
            ..ServiceStatus::plain(name, state)
        }
    }

    fn exited(code: i32, signal: Option<i32>) -> Option<crate::status::LastExit> {
        Some(crate::status::LastExit {
            exit_code: code,
            signal,
            at: "2024-01-01T00:00:00.000Z".into(),
        })
    }

    /// A one-shot that ran to completion.
    fn completed_oneshot(name: &str) -> ServiceStatus {
        ServiceStatus {
            oneshot: true,
            reason: Some("completed".into()),
            last_exit: exited(0, None),
            ..service(name, State::Stopped)
        }
    }

    fn with_services(services: Vec<ServiceStatus>) -> Snapshot {
        Snapshot {
            services,
            ..snapshot(State::Running, false, Health::Unknown)
        }
    }

    #[test]
    fn ready_needs_every_service_ready_too() {
        let healthy_web = ServiceStatus {
            health_check: true,
            health: Health::Healthy,
            ..service("web", State::Running)
        };
        let all_ready = with_services(vec![
            service("api", State::Running),
            completed_oneshot("migrate"),
            healthy_web.clone(),
        ]);
        assert_eq!(
            judge(&all_ready, Question::Ready),
            (
                0,
                "ready: running (no health check configured); services ready: api, \
                 migrate (completed), web"
                    .into()
            )
        );
        let waiting = with_services(vec![
            service("api", State::Initializing),
            completed_oneshot("migrate"),
            ServiceStatus {
                health: Health::Unhealthy,
                consecutive_failures: 3,
                ..healthy_web.clone()
            },
        ]);
        assert_eq!(
            judge(&waiting, Question::Ready),
            (
                1,
                "not ready: service api: state initializing; service web: unhealthy after 3 \
                 failed check(s)"
                    .into()
            )
        );
        // A main command that is not ready comes first, as without services.
        let mut starting = all_ready.clone();
        starting.state = State::Starting;
        assert_eq!(
            judge(&starting, Question::Ready),
            (1, "not ready: state starting".into())
        );
    }

    #[test]
    fn a_failed_or_stopped_service_is_not_ready_and_says_why() {
        let failed_oneshot = ServiceStatus {
            oneshot: true,
            reason: Some("failed".into()),
            last_exit: exited(1, None),
            ..service("migrate", State::Failed)
        };
        assert_eq!(
            service_ready(&failed_oneshot),
            Err("not ready: state failed (failed; last exit code 1)".into())
        );
        // A one-shot is ready only once it completed with code 0.
        let stopped_oneshot = ServiceStatus {
            reason: Some("stopped".into()),
            ..completed_oneshot("migrate")
        };
        assert!(service_ready(&stopped_oneshot).is_err());
        let nonzero = ServiceStatus {
            last_exit: exited(3, None),
            ..completed_oneshot("migrate")
        };
        assert!(service_ready(&nonzero).is_err());
        let killed = ServiceStatus {
            reason: Some("restarts exhausted".into()),
            last_exit: exited(137, Some(9)),
            ..service("web", State::Failed)
        };
        assert_eq!(
            service_ready(&killed),
            Err("not ready: state failed (restarts exhausted; killed by KILL)".into())
        );
        let blocked = ServiceStatus {
            reason: Some("blocked by migrate".into()),
            ..service("api", State::Stopped)
        };
        let snapshot = with_services(vec![failed_oneshot, blocked]);
        let (code, reason) = judge(&snapshot, Question::Ready);
        assert_eq!(code, 1);
        assert_eq!(
            reason,
            "not ready: service migrate: state failed (failed; last exit code 1); service \
             api: state stopped (blocked by migrate)"
        );
        assert!(!reason.contains('\n'));
        // A running one-shot is not finished: running is ready, as for any service.
        let running_oneshot = ServiceStatus {
            oneshot: true,
            ..service("seed", State::Running)
        };
        assert!(service_ready(&running_oneshot).is_ok());
        for state in [
            State::Initializing,
            State::Starting,
            State::Restarting,
            State::Stopping,
        ] {
            assert!(service_ready(&service("web", state)).is_err(), "{state:?}");
        }
    }

    #[test]
    fn one_service_or_main_by_name() {
        let snapshot = with_services(vec![
            service("api", State::Initializing),
            completed_oneshot("migrate"),
            ServiceStatus {
                health_check: true,
                health: Health::Unknown,
                ..service("web", State::Running)
            },
        ]);
        let ask = |name: &str| judge(&snapshot, Question::Named(name.into()));
        assert_eq!(
            ask("main"),
            (
                0,
                "main: ready: running (no health check configured)".into()
            )
        );
        assert_eq!(ask("api"), (1, "api: not ready: state initializing".into()));
        assert_eq!(
            ask("migrate"),
            (0, "migrate: ready: completed (exit code 0)".into())
        );
        assert_eq!(
            ask("web"),
            (1, "web: not ready: no health verdict yet".into())
        );
        let (code, reason) = ask("wbe");
        assert_eq!(code, ExitCode::Usage as i32);
        assert_eq!(
            reason,
            "no service named \"wbe\" (did you mean web?): the services are api, migrate, \
             web, and main is the main command"
        );
        // Tend itself gone: no service is ready, whatever the file says of it.
        let mut ended = snapshot.clone();
        ended.state = State::Stopped;
        assert_eq!(
            judge(&ended, Question::Named("migrate".into())),
            (1, "not alive: state stopped".into())
        );
        // An unknown name is a usage error even then.
        assert_eq!(judge(&ended, Question::Named("db".into())).0, 64);
    }

    #[test]
    fn by_name_without_services() {
        let plain = snapshot(State::Running, true, Health::Healthy);
        assert_eq!(
            judge(&plain, Question::Named("main".into())),
            (0, "main: ready: running and healthy".into())
        );
        let (code, reason) = judge(&plain, Question::Named("web".into()));
        assert_eq!(code, 64);
        assert!(reason.contains("runs no services"), "{reason}");
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
