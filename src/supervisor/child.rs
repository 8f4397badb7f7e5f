//! The transitions of the child's life: start, run, restart, drain, stop, and the end of
//! the run (sweep, post-stop hooks, exit). Part of `step`: pure.

use std::time::Duration;

use super::action::{Action, Note, Outcome, Stage, Trigger};
use super::input::{Input, Now, Timer};
use super::step::{millis, Cause, Finale, Phase, Running, State, Then, KILL_WAIT};
use crate::config::SignalTarget;
use crate::control::{self, Ask, Verdict};
use crate::exit_code::ExitCode;
use crate::policy::{restart_wanted, Health, HealthTracker};
use crate::process::Exit;
use crate::status::{Snapshot, State as Shown};

impl State {
    /// The snapshot, for a change: the loop publishes every change.
    pub(super) fn shown(&mut self) -> &mut Snapshot {
        self.version += 1;
        &mut self.snapshot
    }

    /// Changes the state shown without writing the file (the caller writes it soon
    /// after, or the state is too short-lived to be worth a write); true when it changed.
    pub(super) fn note_state(&mut self, state: Shown, out: &mut Vec<Action>) -> bool {
        if self.snapshot.state == state {
            return false;
        }
        out.push(Action::Emit(Note::StateChanged(state)));
        self.shown().state = state;
        true
    }

    /// Changes the state shown and writes the file.
    pub(super) fn set_state(&mut self, state: Shown, out: &mut Vec<Action>) {
        if self.note_state(state, out) {
            out.push(Action::WriteStatus);
        }
    }

    fn group(&self) -> bool {
        self.config.signal_target == SignalTarget::Group
    }

    // ---- start ---------------------------------------------------------------------

    /// Starts the child (the first or a new one); `Spawned` or `SpawnFailed` follows.
    pub(super) fn spawn(&mut self, out: &mut Vec<Action>) {
        // In memory only: the file is written once the child runs. `starting` lasts
        // until the spawn returns, too short to be worth a file write (a rename) of its own.
        self.note_state(Shown::Starting, out);
        self.phase = Phase::Up;
        out.push(Action::Spawn);
    }

    /// The child runs as `pid`. With a health check the state stays `starting` until the
    /// first check passes; without one it is `running` at once. One write either way.
    fn started(&mut self, pid: i32, now: Now, out: &mut Vec<Action>) {
        self.child = Some(Running {
            pid,
            started: now.mono,
        });
        // Each child is judged afresh.
        self.tracker = HealthTracker::new(self.config.health.thresholds);
        let snapshot = self.shown();
        snapshot.child_pid = Some(pid);
        snapshot.health = Health::Unknown;
        snapshot.consecutive_failures = 0;
        self.checking = self.config.health.check.is_some();
        self.shown().health_check = self.checking;
        if self.checking {
            out.push(Action::StartHealth);
            let timeout = self.config.health.startup_timeout;
            self.starting_until = Some(now.mono + timeout);
            out.push(Action::Timer(Timer::Startup, Some(timeout)));
        } else {
            self.note_state(Shown::Running, out);
        }
        out.push(Action::WriteStatus);
        out.push(Action::Emit(Note::ChildStarted {
            pid,
            command: self.command.clone(),
        }));
        if !self.checking {
            self.startup_completed(pid, now, out);
        }
        if let (true, Some(timeout)) = (self.role.is_service(), self.stop_timeout) {
            self.stop_ordered(pid, timeout, now, out);
        }
    }

    pub(super) fn startup_completed(&mut self, pid: i32, now: Now, out: &mut Vec<Action>) {
        if self.starting_until.take().is_some() {
            out.push(Action::Timer(Timer::Startup, None));
        }
        out.push(Action::Emit(Note::StartupCompleted { pid }));
        let since = now.mono.saturating_duration_since(self.began);
        self.startup_ms.get_or_insert(millis(since));
        self.recovered(pid, out);
    }

    /// Ends a recovery: the child runs (and passes its check, with one) after a failure.
    pub(super) fn recovered(&mut self, pid: i32, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.recovering) {
            out.push(Action::Emit(Note::RecoveryCompleted {
                pid,
                restarts: self.snapshot.restarts,
            }));
        }
    }

    pub(super) fn failure_detected(
        &mut self,
        pid: i32,
        reason: &'static str,
        exit_code: Option<i32>,
        out: &mut Vec<Action>,
    ) {
        self.recovering = true;
        out.push(Action::Emit(Note::FailureDetected {
            pid,
            reason,
            exit_code,
        }));
    }

    // ---- running -------------------------------------------------------------------

    pub(super) fn on_up(&mut self, input: Input, now: Now, out: &mut Vec<Action>) {
        let Some(child) = self.child else {
            // Spawning: only the spawn's outcome is awaited.
            return match input {
                Input::Spawned { pid } => self.started(pid, now, out),
                Input::SpawnFailed { code } => self.spawn_failed(code, now, out),
                // A stop before the spawn's outcome: carried out once it is known.
                Input::Stop { timeout } => {
                    self.stop_timeout = Some(timeout);
                    self.stop_requested = Some(Cause::StopRequested);
                }
                _ => {}
            };
        };
        match input {
            Input::ChildExited { pid, exit } if pid == child.pid => {
                self.stop_side_work(out);
                self.child_exited(exit, now, out);
                self.after_exit(child.pid, exit, now, out);
            }
            Input::Signal(sig) if self.config.is_stop_signal(sig) => {
                self.drain(Some(sig), now, out)
            }
            Input::Signal(sig) => self.forward(child.pid, sig, out),
            Input::Stop { timeout } => self.stop_ordered(child.pid, timeout, now, out),
            Input::Timer(Timer::Startup, _) if self.starting_until.is_some() => {
                let step = self.startup_overdue(child.pid, out);
                self.remediate(child.pid, step, now, out);
            }
            // While a remediation command runs, its verdict is awaited first.
            Input::Check(check) if self.checking && self.remediating.is_none() => {
                let step = self.on_check(child, check, now, out);
                self.remediate(child.pid, step, now, out);
            }
            Input::RemediationDone(result) => {
                let command = self.remediating.take().unwrap_or_default();
                if let Err(error) = result {
                    out.push(Action::Emit(Note::RemediationFailed {
                        pid: child.pid,
                        command,
                        error,
                    }));
                }
            }
            _ => {}
        }
    }

    fn spawn_failed(&mut self, code: i32, now: Now, out: &mut Vec<Action>) {
        if self.role.is_service() {
            return self.finish(Exit::Code(code), Cause::SpawnFailed, now, out);
        }
        self.set_state(Shown::Failed, out);
        out.push(Action::Report(Outcome {
            exit_code: code,
            cause: "spawn_failed".into(),
            startup_ms: None,
            shutdown_ms: None,
        }));
        self.phase = Phase::Done;
        out.push(Action::Exit(code));
    }

    /// Stops the health checks and a remediation command in flight: no verdicts while
    /// the child stops or is gone.
    fn stop_side_work(&mut self, out: &mut Vec<Action>) {
        if std::mem::take(&mut self.checking) {
            out.push(Action::StopHealth);
        }
        if self.remediating.take().is_some() {
            out.push(Action::CancelJob);
        }
        if self.starting_until.take().is_some() {
            out.push(Action::Timer(Timer::Startup, None));
        }
    }

    /// Logs the child's exit and keeps it as the snapshot's last exit.
    fn child_exited(&mut self, exit: Exit, now: Now, out: &mut Vec<Action>) {
        let Some(child) = self.child.take() else {
            return;
        };
        out.push(Action::Emit(Note::ChildExited {
            pid: child.pid,
            exit,
            duration_ms: millis(now.mono.saturating_duration_since(child.started)),
        }));
        self.shown().record_exit_at(exit, now.wall);
    }

    /// The child exited by itself: the restart policy decides whether it starts again.
    fn after_exit(&mut self, pid: i32, exit: Exit, now: Now, out: &mut Vec<Action>) {
        let code = self.exit_code(exit);
        // Without a restart to come the exit is the end, as `child_exited` and
        // `shutdown_completed` say: a failure is "detected" only when tend acts on it.
        if !restart_wanted(self.config.restart.policy, code) {
            return self.finish(exit, Cause::ChildExited, now, out);
        }
        if code != 0 {
            self.failure_detected(pid, "child_exited", Some(exit.code()), out);
        }
        match self.count_restart(false, now, out) {
            Err(cause) => self.finish(exit, cause, now, out),
            Ok((attempt, delay)) => {
                self.announce_restart(pid, attempt, delay, "child_exited", out);
                self.phase = Phase::Backoff { exit };
                out.push(Action::Timer(Timer::Backoff, Some(delay)));
            }
        }
    }

    /// Counts one more restart; past TEND_RESTART_MAX_ATTEMPTS returns why tend gives up.
    pub(super) fn count_restart(
        &mut self,
        unhealthy: bool,
        now: Now,
        out: &mut Vec<Action>,
    ) -> Result<(u32, Duration), Cause> {
        let (attempt, delay) = self.backoff.next(now.mono);
        let max = self.config.restart.max_attempts;
        if max > 0 && attempt > max {
            out.push(Action::Emit(Note::RestartsExhausted {
                attempts: max,
                window: self.config.restart.window,
            }));
            return Err(Cause::RestartsExhausted { unhealthy });
        }
        self.shown().restarts += 1;
        Ok((attempt, delay))
    }

    pub(super) fn announce_restart(
        &mut self,
        pid: i32,
        attempt: u32,
        delay: Duration,
        reason: &'static str,
        out: &mut Vec<Action>,
    ) {
        self.recovering = true;
        // The file first: whoever acts on the event must find `restarting` there.
        self.set_state(Shown::Restarting, out);
        out.push(Action::Emit(Note::RestartInitiated {
            pid,
            attempt,
            delay,
            reason,
        }));
    }

    /// Forwards a received signal (after rewriting) to the child or its group.
    fn forward(&self, pid: i32, received: i32, out: &mut Vec<Action>) {
        out.push(Action::Forward {
            pid,
            sig: self.config.rewrite(received),
            received: Some(received),
            group: self.group(),
        });
    }

    /// Forwards a stop signal (`received`, or TERM after rewriting when tend stops the
    /// child on its own account), then SIGCONT to the same target: a stopped process
    /// would keep the TERM pending and wait out the whole timeout for its KILL.
    fn forward_stop(&self, pid: i32, received: Option<i32>, out: &mut Vec<Action>) {
        let sig = self.config.rewrite(received.unwrap_or(libc::SIGTERM));
        let group = self.group();
        out.push(Action::Forward {
            pid,
            sig,
            received,
            group,
        });
        out.push(Action::Continue { pid, group });
    }

    // ---- requests ------------------------------------------------------------------

    /// Judges a request in the current state, answers it, and carries out an accepted
    /// one. A restart is taken at once and not counted against the limit.
    pub(super) fn request(&mut self, ask: Ask, now: Now, out: &mut Vec<Action>) {
        if let Ask::Services { .. } = ask {
            // The run answers these when there are services (run/requests.rs).
            let refused = Verdict::Failed(control::SERVICES_NOT_RUN.to_owned());
            return out.push(Action::Answer(refused));
        }
        let verdict = control::judge(&ask, self.snapshot.state, self.snapshot.child_pid);
        let accepted = matches!(verdict, Verdict::Accepted { .. });
        out.push(Action::Answer(verdict));
        if !accepted {
            return;
        }
        match (self.phase.clone(), ask) {
            (Phase::Up, Ask::Stop) if self.child.is_some() => self.drain(None, now, out),
            (Phase::Up, Ask::Restart) => {
                let Some(child) = self.child else { return };
                self.shown().restarts += 1;
                let attempt = self.snapshot.restarts;
                self.announce_restart(child.pid, attempt, Duration::ZERO, "requested", out);
                self.stop_side_work(out);
                self.stop_child(child.pid, None, Then::Restart { delay: None }, out);
            }
            (Phase::Stopping { .. }, Ask::Stop) => {
                self.stop_requested.get_or_insert(Cause::StopRequested);
            }
            (Phase::Backoff { exit }, Ask::Stop) => {
                self.finish(exit, Cause::StopRequested, now, out)
            }
            _ => {}
        }
    }

    // ---- stopping ------------------------------------------------------------------

    /// A stop signal (`received`) or `tend stop` (None) while the child runs: drain it.
    pub(super) fn drain(&mut self, received: Option<i32>, now: Now, out: &mut Vec<Action>) {
        self.stop_side_work(out);
        let Some(child) = self.child else { return };
        let cause = received.map_or(Cause::StopRequested, Cause::Signal);
        self.ended = Some(now.mono);
        let (delay, timeout) = (self.config.drain_delay, self.config.shutdown_timeout);
        self.set_state(Shown::Draining, out);
        let trigger = received.map_or(Trigger::Requested, Trigger::Signal);
        out.push(Action::Emit(Note::ShutdownInitiated {
            trigger,
            drain_delay: delay,
            timeout,
        }));
        if delay.is_zero() {
            return self.stop_draining(child.pid, received, cause, out);
        }
        self.phase = Phase::Draining { received };
        out.push(Action::Timer(Timer::Drain, Some(delay)));
    }

    fn stop_draining(
        &mut self,
        pid: i32,
        received: Option<i32>,
        cause: Cause,
        out: &mut Vec<Action>,
    ) {
        self.set_state(Shown::Stopping, out);
        self.stop_child(pid, received, Then::Finish(cause), out);
    }

    /// The remediation `exit` (or restarts exhausted while unhealthy): the stop sequence
    /// without the drain delay, since the child is not serving well.
    pub(super) fn stop_unhealthy(&mut self, pid: i32, now: Now, out: &mut Vec<Action>) {
        self.stop_side_work(out);
        self.ended = Some(now.mono);
        let timeout = self.config.shutdown_timeout;
        self.set_state(Shown::Stopping, out);
        out.push(Action::Emit(Note::ShutdownInitiated {
            trigger: Trigger::Unhealthy,
            drain_delay: Duration::ZERO,
            timeout,
        }));
        self.stop_child(pid, None, Then::Finish(Cause::Unhealthy), out);
    }

    /// A service stopped by the run (tend shuts down, or its dependents are gone): its
    /// stop signal, then SIGKILL after `timeout`; no restart follows.
    fn stop_ordered(&mut self, pid: i32, timeout: Duration, now: Now, out: &mut Vec<Action>) {
        self.stop_side_work(out);
        self.ended = Some(now.mono);
        self.stop_timeout = Some(timeout);
        self.set_state(Shown::Stopping, out);
        out.push(Action::Emit(Note::ShutdownInitiated {
            trigger: Trigger::Ordered,
            drain_delay: Duration::ZERO,
            timeout,
        }));
        self.stop_child(pid, None, Then::Finish(Cause::StopRequested), out);
    }

    /// Between the stop signal and SIGKILL: TEND_SHUTDOWN_TIMEOUT, or what the run gave
    /// a service it stops.
    fn stop_timeout(&self) -> Duration {
        self.stop_timeout.unwrap_or(self.config.shutdown_timeout)
    }

    /// Keeps the child running for the drain delay (load balancers stop sending traffic).
    pub(super) fn on_draining(
        &mut self,
        received: Option<i32>,
        input: Input,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(child) = self.child else { return };
        let cause = received.map_or(Cause::StopRequested, Cause::Signal);
        match input {
            Input::ChildExited { pid, exit } if pid == child.pid => {
                out.push(Action::Timer(Timer::Drain, None));
                self.child_exited(exit, now, out);
                self.finish(exit, cause, now, out);
            }
            // A second stop signal ends the delay early.
            Input::Timer(Timer::Drain, _) => self.stop_draining(child.pid, received, cause, out),
            Input::Signal(sig) if self.config.is_stop_signal(sig) => {
                out.push(Action::Timer(Timer::Drain, None));
                self.stop_draining(child.pid, received, cause, out);
            }
            Input::Signal(sig) => self.forward(child.pid, sig, out),
            _ => {}
        }
    }

    /// Sends the stop signal, and gives the child `TEND_SHUTDOWN_TIMEOUT` before SIGKILL.
    pub(super) fn stop_child(
        &mut self,
        pid: i32,
        received: Option<i32>,
        then: Then,
        out: &mut Vec<Action>,
    ) {
        let timeout = self.stop_timeout();
        self.phase = Phase::Stopping {
            then,
            killed: false,
        };
        if timeout.is_zero() {
            return self.force_kill(pid, Duration::ZERO, out);
        }
        self.forward_stop(pid, received, out);
        out.push(Action::Timer(Timer::Stop, Some(timeout)));
    }

    /// SIGKILL at the shutdown timeout, `late` after it (a loaded machine's timer).
    fn force_kill(&mut self, pid: i32, late: Duration, out: &mut Vec<Action>) {
        let Phase::Stopping { then, .. } = self.phase else {
            return;
        };
        out.push(Action::Emit(Note::ForceKill {
            pid,
            timeout: self.stop_timeout(),
            late,
        }));
        out.push(Action::Kill { pid });
        out.push(Action::Timer(Timer::Kill, Some(KILL_WAIT)));
        self.phase = Phase::Stopping { then, killed: true };
    }

    pub(super) fn on_stopping(
        &mut self,
        then: Then,
        killed: bool,
        input: Input,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(child) = self.child else { return };
        let exit = match input {
            Input::ChildExited { pid, exit } if pid == child.pid => exit,
            // The KILL did not take within KILL_WAIT (a process stuck in the kernel):
            // tend stops waiting; the reaper still collects it whenever it goes.
            Input::Timer(Timer::Kill, _) if killed => Exit::Signaled(libc::SIGKILL),
            Input::Timer(Timer::Stop, late) if !killed => {
                return self.force_kill(child.pid, late, out)
            }
            // A stop signal means no new child after a restart's stop; until the KILL
            // it is forwarded again, as every other signal is.
            Input::Signal(sig) if self.config.is_stop_signal(sig) => {
                self.stop_requested.get_or_insert(Cause::Signal(sig));
                if !killed {
                    self.forward_stop(child.pid, Some(sig), out);
                }
                return;
            }
            Input::Signal(sig) if !killed => return self.forward(child.pid, sig, out),
            // A service stopping for a restart: no new child after it.
            Input::Stop { .. } => {
                self.stop_requested.get_or_insert(Cause::StopRequested);
                return;
            }
            _ => return,
        };
        out.push(Action::Timer(Timer::Stop, None));
        out.push(Action::Timer(Timer::Kill, None));
        self.child_exited(exit, now, out);
        match (then, self.stop_requested) {
            (Then::Finish(cause), _) => self.finish(exit, cause, now, out),
            (Then::Restart { .. }, Some(cause)) => {
                self.ended = Some(now.mono);
                self.finish(exit, cause, now, out)
            }
            (Then::Restart { delay: None }, None) => self.spawn(out),
            (Then::Restart { delay: Some(delay) }, None) => {
                self.phase = Phase::Backoff { exit };
                out.push(Action::Timer(Timer::Backoff, Some(delay)));
            }
        }
    }

    // ---- the end -------------------------------------------------------------------

    /// No child runs any more: sweep what is left, run the post-stop hooks, exit.
    pub(super) fn finish(&mut self, exit: Exit, cause: Cause, now: Now, out: &mut Vec<Action>) {
        let ended = *self.ended.get_or_insert(now.mono);
        self.child = None;
        self.shown().child_pid = None;
        if self.role.is_service() {
            return self.service_ended(exit, cause, out);
        }
        self.finale = Some(Finale::Child { exit, cause, ended });
        let grace = self.leftover_grace(cause, ended, now);
        // Written by the sweep only if something is left to wait for.
        self.note_state(Shown::Stopping, out);
        self.phase = Phase::Sweeping;
        out.push(Action::Sweep { grace });
    }

    /// A service ended for good: `stopped` (it completed, or the run stopped it) or
    /// `failed`; the run decides what that means for the others.
    fn service_ended(&mut self, exit: Exit, cause: Cause, out: &mut Vec<Action>) {
        let failed = match cause {
            Cause::ChildExited => self.exit_code(exit) != 0,
            Cause::Signal(_) | Cause::StopRequested => false,
            Cause::Unhealthy | Cause::RestartsExhausted { .. } | Cause::SpawnFailed => true,
        };
        self.set_state(
            if failed {
                Shown::Failed
            } else {
                Shown::Stopped
            },
            out,
        );
        self.phase = Phase::Done;
        out.push(Action::Ended { exit, cause });
    }

    /// The processes left behind get one short grace between TERM and KILL, whatever
    /// ended the child (s6-overlay gives them 3 s, as TEND_LEFTOVER_GRACE does). After a
    /// stop it also fits in what is left of the stop's own budget (drain delay + shutdown
    /// timeout, counted from the stop), which users size against their orchestrator's
    /// grace: a slow child must not push tend's exit past it.
    fn leftover_grace(&self, cause: Cause, stopped_at: std::time::Instant, now: Now) -> Duration {
        let config = &self.config;
        let budget = match cause {
            Cause::Signal(_) | Cause::StopRequested => config.drain_delay + config.shutdown_timeout,
            Cause::Unhealthy => config.shutdown_timeout,
            Cause::ChildExited | Cause::RestartsExhausted { .. } | Cause::SpawnFailed => {
                return config.bounded_leftover_grace()
            }
        };
        let left = budget.saturating_sub(now.mono.saturating_duration_since(stopped_at));
        config.bounded_leftover_grace().min(left)
    }

    pub(super) fn after_sweep(&mut self, now: Now, out: &mut Vec<Action>) {
        match self.finale {
            Some(Finale::Gate { code, .. }) => {
                self.phase = Phase::Done;
                out.push(Action::Exit(code));
            }
            Some(Finale::Child { .. }) => self.run_hook(Stage::PostStop, 0, now, out),
            None => {}
        }
    }

    /// The post-stop hooks are done: a failed gate goes on to its sweep, a finished run
    /// to its exit.
    pub(super) fn after_post_stop(&mut self, now: Now, out: &mut Vec<Action>) {
        match self.finale {
            Some(Finale::Gate {
                signal: Some(sig), ..
            }) => self.stopped_during_startup(sig, "pre-start hooks", now, out),
            Some(Finale::Gate { code, signal: None }) => self.gate_failed(code, now, out),
            Some(Finale::Child { exit, cause, ended }) => {
                self.complete(exit, cause, ended, now, out)
            }
            None => {}
        }
    }

    fn complete(
        &mut self,
        exit: Exit,
        cause: Cause,
        ended: std::time::Instant,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        self.set_state(Shown::Stopped, out);
        let code = match cause {
            Cause::Unhealthy | Cause::RestartsExhausted { unhealthy: true } => {
                ExitCode::Unhealthy as i32
            }
            _ => self.exit_code(exit),
        };
        let reason = cause.name();
        let duration_ms = millis(now.mono.saturating_duration_since(ended));
        out.push(Action::Emit(Note::ShutdownCompleted {
            exit_code: code,
            child_exit_code: exit.code(),
            reason: reason.clone(),
            duration_ms,
        }));
        out.push(Action::Report(Outcome {
            exit_code: code,
            cause: reason,
            startup_ms: self.startup_ms,
            shutdown_ms: Some(duration_ms),
        }));
        self.phase = Phase::Done;
        out.push(Action::Exit(code));
    }

    /// The child's code as tend exits with it: 0 for TEND_SUCCESS_EXIT_CODES.
    pub(super) fn exit_code(&self, exit: Exit) -> i32 {
        let code = exit.code();
        if self.config.success_exit_codes.contains(&code) {
            0
        } else {
            code
        }
    }
}
