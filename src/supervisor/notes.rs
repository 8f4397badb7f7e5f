//! Writes the events the transitions ask for (`Action::Emit`): one place for the
//! wording of every lifecycle event the supervisor logs.

use super::action::{Note, Stage, Trigger};
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::signals::signal_name;

impl Note {
    pub fn emit(&self) {
        match self {
            Note::StateChanged(state) => emit!(
                debug,
                Event::StateChanged,
                state = state.name(),
                "state changed to {}",
                state.name()
            ),
            Note::ChildStarted { pid, command } => {
                emit!(info, Event::ChildStarted, pid, command = %command,
                "started {command} as pid {pid}")
            }
            Note::StartupCompleted { pid } => {
                emit!(info, Event::StartupCompleted, pid, "startup completed")
            }
            Note::RecoveryCompleted { pid, restarts } => emit!(
                info,
                Event::RecoveryCompleted,
                pid,
                restarts,
                "recovered: pid {pid} is up and passing"
            ),
            Note::FailureDetected {
                pid,
                reason,
                exit_code,
            } => emit!(
                warn,
                Event::FailureDetected,
                pid,
                reason,
                exit_code,
                "failure detected: {reason}"
            ),
            Note::RemediationStarted {
                pid,
                step,
                consecutive_failures,
            } => emit!(
                warn,
                Event::RemediationStarted,
                pid,
                step,
                consecutive_failures,
                "child unhealthy: remediation step {step}"
            ),
            Note::RemediationFailed {
                pid,
                command,
                error,
            } => emit!(warn, Event::RemediationFailed, pid, step = "exec", error = %error,
                "remediation command {command} failed: {error}"),
            Note::StartupTimeout { pid, timeout, step } => emit!(
                error,
                Event::StartupTimeout,
                pid,
                timeout_ms = timeout.as_millis() as u64,
                step,
                "no health check passed within {}",
                format_duration(*timeout)
            ),
            Note::HealthCheck {
                error,
                consecutive_failures,
                counted,
                duration_ms,
            } => health_check(
                error.as_deref(),
                *consecutive_failures,
                *counted,
                *duration_ms,
            ),
            Note::HealthStateChanged {
                from,
                to,
                consecutive_failures,
            } => emit!(
                info,
                Event::HealthStateChanged,
                from = from.name(),
                to = to.name(),
                consecutive_failures,
                "health changed from {} to {}",
                from.name(),
                to.name()
            ),
            Note::ChildExited {
                pid,
                exit,
                duration_ms,
            } => emit!(
                info,
                Event::ChildExited,
                pid,
                exit_code = exit.code(),
                signal = exit.signal().map(signal_name),
                duration_ms,
                "pid {pid} exited with code {}",
                exit.code()
            ),
            Note::RestartsExhausted { attempts, window } => emit!(
                error,
                Event::RestartsExhausted,
                attempts,
                window_ms = window.as_millis() as u64,
                "{attempts} restarts within {}: giving up",
                format_duration(*window)
            ),
            Note::RestartInitiated {
                pid,
                attempt,
                delay,
                reason,
            } => emit!(
                warn,
                Event::RestartInitiated,
                pid,
                attempt,
                delay_ms = delay.as_millis() as u64,
                reason,
                "restarting pid {pid} ({reason}), attempt {attempt}, in {}",
                format_duration(*delay)
            ),
            Note::ShutdownInitiated {
                trigger,
                drain_delay,
                timeout,
            } => shutdown_initiated(*trigger, *drain_delay, *timeout),
            Note::ForceKill { pid, timeout, late } => emit!(
                warn,
                Event::ForceKill,
                pid,
                timeout_ms = timeout.as_millis() as u64,
                late_ms = late.as_secs_f64() * 1000.0,
                reason = "shutdown_timeout",
                "pid {pid} still running after {}, sending SIGKILL to its process group",
                format_duration(*timeout)
            ),
            Note::ShutdownCompleted {
                exit_code,
                child_exit_code,
                reason,
                duration_ms,
            } => emit!(info, Event::ShutdownCompleted, exit_code, child_exit_code,
                reason = %reason, duration_ms, "exiting with code {exit_code}"),
            Note::Blocked { by } => {
                let by = by.join(", ");
                emit!(error, Event::ServiceBlocked, blocked_by = %by,
                    "will not start: what it depends on failed ({by})")
            }
            Note::HookStarted {
                stage,
                index,
                command,
            } => emit!(info, Event::HookStarted, phase = stage.name(), index, command = %command,
                "running {} hook: {command}", shown(*stage)),
            Note::HookCompleted {
                stage,
                index,
                command,
                duration_ms,
            } => emit!(info, Event::HookCompleted, phase = stage.name(), index, command = %command,
                duration_ms, "{} hook done: {command}", shown(*stage)),
            Note::HookFailed {
                stage: Stage::PreStart,
                index,
                command,
                duration_ms,
                reason,
                exit_code,
            } => emit!(error, Event::HookFailed, phase = "pre_start", index, command = %command,
                duration_ms, reason = %reason, exit_code,
                "pre-start hook {command} failed: {reason}; running post-stop cleanup, the child will not start"),
            Note::HookFailed {
                stage: Stage::PostStop,
                index,
                command,
                duration_ms,
                reason,
                ..
            } => emit!(warn, Event::HookFailed, phase = "post_stop", index, command = %command,
                duration_ms, reason = %reason, "post-stop hook {command} failed: {reason}"),
        }
    }
}

/// A stage as the messages name it.
fn shown(stage: Stage) -> &'static str {
    match stage {
        Stage::PreStart => "pre-start",
        Stage::PostStop => "post-stop",
    }
}

/// A pass logs at debug; a failure that does not count (starting, or within the start
/// period) is expected and logged at debug too; one that counts at warn.
fn health_check(error: Option<&str>, failures: u32, counted: bool, duration_ms: u64) {
    let Some(error) = error else {
        emit!(
            debug,
            Event::HealthCheckPassed,
            duration_ms,
            "health check passed"
        );
        return;
    };
    if counted {
        emit!(warn, Event::HealthCheckFailed, error = %error, consecutive_failures = failures,
            counted, duration_ms, "health check failed ({failures} in a row): {error}");
    } else {
        emit!(debug, Event::HealthCheckFailed, error = %error, consecutive_failures = failures,
            counted, duration_ms, "health check failed, not counted (starting or in the start period): {error}");
    }
}

fn shutdown_initiated(trigger: Trigger, delay: std::time::Duration, timeout: std::time::Duration) {
    let (delay_ms, timeout_ms) = (delay.as_millis() as u64, timeout.as_millis() as u64);
    match trigger {
        Trigger::Signal(sig) => emit!(info, Event::ShutdownInitiated, signal = %signal_name(sig),
            reason = "signal", drain_delay_ms = delay_ms, timeout_ms,
            "received {}, shutting down", signal_name(sig)),
        Trigger::Requested => emit!(
            info,
            Event::ShutdownInitiated,
            reason = "requested",
            drain_delay_ms = delay_ms,
            timeout_ms,
            "stop requested over the control socket, shutting down"
        ),
        Trigger::Unhealthy => emit!(
            warn,
            Event::ShutdownInitiated,
            reason = "unhealthy",
            timeout_ms,
            "child still unhealthy, shutting down"
        ),
        Trigger::Ordered => emit!(
            info,
            Event::ShutdownInitiated,
            reason = "ordered",
            timeout_ms,
            "stopping: tend shuts down, or what depends on it has stopped"
        ),
        Trigger::DuringStartup(sig, phase) => emit!(info, Event::ShutdownInitiated,
            signal = %signal_name(sig), reason = "signal_during_startup",
            "received {} during the {phase}; the child will not start", signal_name(sig)),
    }
}
