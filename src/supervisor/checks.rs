//! The transitions of health: each check's verdict, the startup timeout, and the
//! remediation ladder's steps. Part of `step`: pure.

use super::action::{Action, Note};
use super::input::Now;
use super::step::{millis, Running, State, Then};
use crate::health::CheckResult;
use crate::policy::{Health, Step};
use crate::status::State as Shown;

impl State {
    /// Judges one check result; the first pass ends `starting`. Returns the remediation
    /// step now due, if any.
    pub(super) fn on_check(
        &mut self,
        child: Running,
        check: CheckResult,
        now: Now,
        out: &mut Vec<Action>,
    ) -> Option<Step> {
        let since_start = now.mono.saturating_duration_since(child.started);
        // Starting and within TEND_STARTUP_TIMEOUT: failures do not count.
        let starting = self.starting_until.is_some();
        let before = self.tracker.health;
        let passed = check.result.is_ok();
        let changed = self.tracker.record_in(passed, since_start, starting);
        let (health, failures) = (self.tracker.health, self.tracker.consecutive_failures);
        let error = check
            .result
            .as_ref()
            .err()
            .map(|e| crate::redact::text(&e.0));
        let duration_ms = millis(check.duration);
        let snapshot = self.shown();
        snapshot.health = health;
        snapshot.consecutive_failures = failures;
        snapshot.last_check_at = Some(crate::events::rfc3339_millis(check.at));
        snapshot.last_error = error.clone();
        snapshot.last_check_duration_ms = Some(duration_ms);
        match passed {
            true => snapshot.checks_passed += 1,
            false => snapshot.checks_failed += 1,
        }
        // The file first: whoever acts on the events below must find it up to date.
        out.push(Action::WriteStatus);
        out.push(Action::Emit(Note::HealthCheck {
            error,
            consecutive_failures: failures,
            counted: self.tracker.counts(since_start, starting),
            duration_ms,
        }));
        if let Some(health) = changed {
            out.push(Action::Emit(Note::HealthStateChanged {
                from: before,
                to: health,
                consecutive_failures: failures,
            }));
            // With no remediation step left, `health_state_changed` tells it all.
            if health == Health::Unhealthy && self.ladder.has_next() {
                self.failure_detected(child.pid, "unhealthy", None, out);
            }
        }
        if passed && self.snapshot.state == Shown::Starting {
            self.set_state(Shown::Running, out);
            self.startup_completed(child.pid, now, out);
        }
        let step = self.ladder.after_check(&self.tracker);
        if self.tracker.health == Health::Healthy {
            self.recovered(child.pid, out);
        }
        if let Some(step) = &step {
            self.remediation_started(child.pid, step, out);
        }
        step
    }

    /// No check passed within TEND_STARTUP_TIMEOUT: the next remediation step is due.
    pub(super) fn startup_overdue(&mut self, pid: i32, out: &mut Vec<Action>) -> Option<Step> {
        // The start-up grace is over: failures count from now on, at the normal interval.
        self.starting_until = None;
        out.push(Action::EndStartInterval);
        let step = self.ladder.take();
        out.push(Action::Emit(Note::StartupTimeout {
            pid,
            timeout: self.config.health.startup_timeout,
            step: step.as_ref().map(Step::name),
        }));
        // A failure tend does nothing about is told by `startup_timeout` alone.
        if let Some(step) = &step {
            self.failure_detected(pid, "startup_timeout", None, out);
            self.remediation_started(pid, step, out);
        }
        step
    }

    fn remediation_started(&self, pid: i32, step: &Step, out: &mut Vec<Action>) {
        out.push(Action::Emit(Note::RemediationStarted {
            pid,
            step: step.name(),
            consecutive_failures: self.tracker.consecutive_failures,
        }));
    }

    /// Takes a remediation step.
    pub(super) fn remediate(
        &mut self,
        pid: i32,
        step: Option<Step>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        match step {
            None => {}
            Some(Step::Exit) => self.stop_unhealthy(pid, now, out),
            Some(Step::Restart) => match self.count_restart(true, now, out) {
                Err(_) => self.stop_unhealthy(pid, now, out),
                Ok((attempt, delay)) => {
                    self.announce_restart(pid, attempt, delay, "unhealthy", out);
                    if std::mem::take(&mut self.checking) {
                        out.push(Action::StopHealth);
                    }
                    let then = Then::Restart { delay: Some(delay) };
                    self.stop_child(pid, None, then, out);
                }
            },
            // Run while signals keep being forwarded; a stop ends it at once.
            Some(Step::Exec(command)) => {
                self.remediating = Some(command.to_string());
                out.push(Action::Remediate(command));
            }
        }
    }
}
