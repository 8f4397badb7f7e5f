//! Restarts: after the child exits by itself (TEND_RESTART), as a remediation step, and
//! on request (`tend restart`). Counted and delayed by `policy::Backoff`; each one stops
//! the old child with the bounded stop sequence of shutdown, and a stop signal during any
//! part of it ends tend instead.

use std::time::Duration;

use crate::child::Child;
use crate::control::Ask;
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::policy::{restart_wanted, Health, HealthTracker};
use crate::process::Exit;
use crate::status::State;
use crate::supervisor::{Cause, Ending, Supervisor};

impl Supervisor {
    /// The child exited by itself: the restart policy decides whether it starts again.
    pub(crate) async fn after_exit(&mut self, child: &mut Child, exit: Exit) -> Result<(), Ending> {
        let code = self.exit_code(exit);
        // Without a restart to come the exit is the end, as `child_exited` and
        // `shutdown_completed` say: a failure is "detected" only when tend acts on it.
        if !restart_wanted(self.config.restart.policy, code) {
            return Err(Ending::Done(exit, Cause::ChildExited));
        }
        if code != 0 {
            self.failure_detected(child.pid, "child_exited", Some(exit.code()));
        }
        let (attempt, delay) = self
            .count_restart(false)
            .map_err(|c| Ending::Done(exit, c))?;
        self.announce_restart(child.pid, attempt, delay, "child_exited");
        self.backoff_wait(delay)
            .await
            .map_err(|cause| Ending::Done(exit, cause))?;
        self.start_again(child)
    }

    /// The remediation step `restart`: counted and delayed like a restart after an exit.
    pub(crate) async fn restart_unhealthy(&mut self, child: &mut Child) -> Result<(), Ending> {
        let Ok((attempt, delay)) = self.count_restart(true) else {
            return Err(Ending::Unhealthy);
        };
        self.announce_restart(child.pid, attempt, delay, "unhealthy");
        let exit = self.stop_for_restart(child).await?;
        self.backoff_wait(delay)
            .await
            .map_err(|cause| Ending::Done(exit, cause))?;
        self.start_again(child)
    }

    /// An accepted request while the child runs. A restart (`tend restart`) happens at
    /// once and is not counted against the limit; requests that come while it is under
    /// way are refused (`stop_child`, `backoff_wait`).
    pub(crate) async fn on_request(&mut self, child: &mut Child, ask: Ask) -> Result<(), Ending> {
        match ask {
            Ask::Stop => Err(Ending::StopRequested),
            Ask::Restart => {
                self.snapshot.restarts += 1;
                self.announce_restart(
                    child.pid,
                    self.snapshot.restarts,
                    Duration::ZERO,
                    "requested",
                );
                self.stop_for_restart(child).await?;
                self.start_again(child)
            }
        }
    }

    /// Counts one more restart; past TEND_RESTART_MAX_ATTEMPTS returns why tend gives up.
    fn count_restart(&mut self, unhealthy: bool) -> Result<(u32, Duration), Cause> {
        let (attempt, delay) = self.backoff.next(std::time::Instant::now());
        let max = self.config.restart.max_attempts;
        if max > 0 && attempt > max {
            let window = self.config.restart.window;
            emit!(
                error,
                Event::RestartsExhausted,
                attempts = max,
                window_ms = window.as_millis() as u64,
                "{max} restarts within {}: giving up",
                format_duration(window)
            );
            return Err(Cause::RestartsExhausted { unhealthy });
        }
        self.snapshot.restarts += 1;
        Ok((attempt, delay))
    }

    fn announce_restart(&mut self, pid: i32, attempt: u32, delay: Duration, reason: &str) {
        self.recovering = true;
        // The file first: whoever acts on the event must find `restarting` there.
        self.set_state(State::Restarting);
        emit!(
            warn,
            Event::RestartInitiated,
            pid,
            attempt,
            delay_ms = delay.as_millis() as u64,
            reason,
            "restarting pid {pid} ({reason}), attempt {attempt}, in {}",
            format_duration(delay)
        );
    }

    /// Stops the running child with the bounded stop sequence (as at shutdown).
    async fn stop_for_restart(&mut self, child: &mut Child) -> Result<Exit, Ending> {
        self.health = None;
        let exit = self
            .stop_child(child, None, self.config.shutdown_timeout)
            .await;
        self.record_child_exit(child, exit);
        match self.stop_requested {
            Some(cause) => Err(Ending::Done(exit, cause)),
            None => Ok(exit),
        }
    }

    /// Waits out a restart delay; a stop signal or an accepted `tend stop` ends it (Err
    /// with the signal). No child runs meanwhile, so other signals have nobody to go to;
    /// a `tend restart` is refused (a restart is under way).
    async fn backoff_wait(&mut self, delay: Duration) -> Result<(), Cause> {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
                Some(sig) = self.signals.recv() => {
                    if self.config.is_stop_signal(sig) {
                        return Err(Cause::Signal(sig));
                    }
                }
                Some(request) = self.requests.recv() => {
                    if self.judge_request(request) == Some(Ask::Stop) {
                        return Err(Cause::StopRequested);
                    }
                }
            }
        }
    }

    fn start_again(&mut self, child: &mut Child) -> Result<(), Ending> {
        self.note_state(State::Starting);
        *child = self.start_child().map_err(Ending::SpawnFailed)?;
        self.tracker = HealthTracker::new(self.config.health.thresholds);
        self.snapshot.health = Health::Unknown;
        self.snapshot.consecutive_failures = 0;
        self.after_start(child);
        Ok(())
    }
}
