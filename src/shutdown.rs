//! The shutdown sequence, bounded at every step: drain (state `draining`, optional delay),
//! forward the stop signal, wait up to the shutdown timeout, SIGKILL the child's group;
//! then TERM/KILL whatever else is left and reap it.

use std::time::Duration;

use tokio::time::{sleep, sleep_until, Instant};

use crate::child::Child;
use crate::config::SignalTarget;
use crate::control::Ask;
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::process::signals;
use crate::process::sweep::Sweep;
use crate::process::Exit;
use crate::signals::signal_name;
use crate::status::State;
use crate::supervisor::{Cause, Supervisor};

/// How often the sweep re-checks for processes that were not our children (their exits
/// reach us only when their own parent dies first).
const SWEEP_POLL: Duration = Duration::from_millis(20);
/// How often the TERM phase of the sweep re-reads /proc for newcomers to warn (a
/// subreaper reads the host's whole /proc: not every poll).
const TERM_RESCAN: Duration = Duration::from_millis(100);
/// SIGKILL cannot be ignored, but a process stuck in the kernel (D state) can delay its
/// death; after this long tend stops waiting rather than hang the container.
const KILL_WAIT: Duration = Duration::from_secs(5);

impl Supervisor {
    /// From a stop signal (`received`), or `tend stop` (None), to the child's exit. A
    /// `tend stop` is carried out as a TERM would be, and logged as what it was.
    pub(crate) async fn drain(&mut self, child: &mut Child, received: Option<i32>) -> Exit {
        let timeout = self.config.shutdown_timeout;
        let delay = self.config.drain_delay;
        self.set_state(State::Draining);
        let (delay_ms, timeout_ms) = (delay.as_millis() as u64, timeout.as_millis() as u64);
        match received {
            Some(sig) => emit!(info, Event::ShutdownInitiated, signal = %signal_name(sig),
                reason = "signal", drain_delay_ms = delay_ms, timeout_ms,
                "received {}, shutting down", signal_name(sig)),
            None => emit!(
                info,
                Event::ShutdownInitiated,
                reason = "requested",
                drain_delay_ms = delay_ms,
                timeout_ms,
                "stop requested over the control socket, shutting down"
            ),
        }

        if !delay.is_zero() {
            if let Some(exit) = self.drain_delay(child, delay).await {
                return exit;
            }
        }
        self.set_state(State::Stopping);
        self.stop_child(child, received, timeout).await
    }

    /// TEND_REMEDIATION `exit`: the stop sequence without the drain delay (the child is
    /// not serving well, so there is nothing to drain).
    pub(crate) async fn stop_unhealthy(&mut self, child: &mut Child) -> Exit {
        let timeout = self.config.shutdown_timeout;
        self.set_state(State::Stopping);
        emit!(
            warn,
            Event::ShutdownInitiated,
            reason = "unhealthy",
            timeout_ms = timeout.as_millis() as u64,
            "child still unhealthy, shutting down"
        );
        self.stop_child(child, None, timeout).await
    }

    /// Keeps the child running for the drain delay (so that load balancers can stop
    /// sending traffic). A second stop signal ends the delay early.
    async fn drain_delay(&mut self, child: &mut Child, delay: Duration) -> Option<Exit> {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                exit = child.wait() => return Some(exit),
                _ = sleep_until(deadline) => return None,
                Some(sig) = self.signals.recv() => {
                    if self.config.is_stop_signal(sig) {
                        return None;
                    }
                    self.forward(child, sig);
                }
                // Draining: a restart is refused, a stop changes nothing.
                Some(request) = self.requests.recv() => {
                    self.judge_request(request);
                }
            }
        }
    }

    /// Forwards the stop signal `received`, or sends TERM when tend stops the child on its
    /// own account (None: a restart, `tend stop`, the remediation `exit`), waits up to
    /// `timeout`, then kills the child's process group.
    pub(crate) async fn stop_child(
        &mut self,
        child: &mut Child,
        received: Option<i32>,
        timeout: Duration,
    ) -> Exit {
        let deadline = Instant::now() + timeout;
        if !timeout.is_zero() {
            self.forward_stop(child, received);
            loop {
                tokio::select! {
                    exit = child.wait() => return exit,
                    _ = sleep_until(deadline) => break,
                    // Further signals, stop signals included, are forwarded again.
                    Some(sig) = self.signals.recv() => {
                        // A restart must not start a new child after this.
                        if self.config.is_stop_signal(sig) {
                            self.stop_requested.get_or_insert(Cause::Signal(sig));
                            self.forward_stop(child, Some(sig));
                        } else {
                            self.forward(child, sig);
                        }
                    }
                    // During a restart (state restarting) another restart is refused and
                    // a stop ends tend instead of starting the new child, as a stop signal
                    // does; at shutdown (stopping) a restart is refused, a stop is a no-op.
                    Some(request) = self.requests.recv() => {
                        if self.judge_request(request) == Some(Ask::Stop) {
                            self.stop_requested.get_or_insert(Cause::StopRequested);
                        }
                    }
                }
            }
        }
        let late = Instant::now().saturating_duration_since(deadline);
        emit!(
            warn,
            Event::ForceKill,
            pid = child.pid,
            timeout_ms = timeout.as_millis() as u64,
            late_ms = late.as_secs_f64() * 1000.0,
            reason = "shutdown_timeout",
            "pid {} still running after {}, sending SIGKILL to its process group",
            child.pid,
            format_duration(timeout)
        );
        child.kill();
        tokio::select! {
            exit = child.wait() => exit,
            _ = sleep(KILL_WAIT) => Exit::Signaled(libc::SIGKILL),
        }
    }

    /// Forwards a stop signal, then SIGCONT to the same target: a stopped process
    /// (`kill -STOP`, a debugger's stop) keeps the TERM pending and would wait out the
    /// whole timeout for its KILL. systemd sends the same CONT after its TERM.
    fn forward_stop(&mut self, child: &mut Child, received: Option<i32>) {
        match received {
            Some(sig) => self.forward(child, sig),
            None => self.send_stop(child),
        }
        let group = self.config.signal_target == SignalTarget::Group;
        child.signal(libc::SIGCONT, group);
    }

    /// TERM to every process left, up to `grace` for them to go, KILL to the rest, and
    /// reap them all. Returns early as soon as none is left. Each round re-reads what is
    /// left: newcomers get their TERM during the grace, and the KILL is sent again every
    /// round, so that a process that keeps forking is outrun within a few rounds.
    pub(crate) async fn sweep(&mut self, grace: Duration) {
        signals::reap(&self.reaper);
        let mut sweep = Sweep::new(self.scope);
        if !sweep.any_left() {
            return;
        }
        // The state is `stopping` in memory; now that it may last, readers must see it.
        self.write_status();
        let count = sweep.warn();
        emit!(
            info,
            Event::ProcessesRemaining,
            count,
            grace_ms = grace.as_millis() as u64,
            "sent SIGTERM to the processes left behind"
        );
        if self.wait_until_gone(&mut sweep, Phase::Term, grace).await {
            return;
        }
        let count = sweep.kill();
        emit!(
            warn,
            Event::ForceKill,
            count,
            reason = "remaining_processes",
            "processes still running after {}, sending SIGKILL",
            format_duration(grace)
        );
        self.wait_until_gone(&mut sweep, Phase::Kill, KILL_WAIT)
            .await;
    }

    /// True when every process in scope is gone within `limit`. Between rounds, newcomers
    /// get their TERM (at most every TERM_RESCAN: it reads /proc) or everyone their KILL
    /// again, by `phase`. A stop signal ends the TERM phase early (the user wants out now).
    async fn wait_until_gone(&mut self, sweep: &mut Sweep, phase: Phase, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut rescan = Instant::now() + TERM_RESCAN;
        loop {
            let reaped = self.reaper.reaped();
            signals::reap(&self.reaper);
            if !sweep.any_left() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::select! {
                _ = reaped => {}
                _ = sleep(SWEEP_POLL) => {}
                _ = sleep_until(deadline) => {}
                Some(sig) = self.signals.recv() => {
                    if phase == Phase::Term && self.config.is_stop_signal(sig) {
                        return false;
                    }
                }
                // Stopping: a restart is refused, a stop changes nothing.
                Some(request) = self.requests.recv() => {
                    self.judge_request(request);
                }
            }
            match phase {
                Phase::Term if Instant::now() >= rescan => {
                    sweep.warn();
                    rescan = Instant::now() + TERM_RESCAN;
                }
                Phase::Term => {}
                Phase::Kill => {
                    sweep.kill();
                }
            }
        }
    }
}

/// Which signal a sweep's wait sends again between its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TERM to newcomers; a stop signal ends the wait.
    Term,
    /// KILL to everyone.
    Kill,
}
