//! The sweep at exit: TERM to every process left, up to a grace for them to go, KILL to
//! the rest, and reap them all. A free function the loop runs as a job; it decides
//! nothing about the lifecycle, and ends early as soon as nobody is left.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep, sleep_until, Instant};

use super::step::KILL_WAIT;
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::process::signals;
use crate::process::sweep::Sweep;
use crate::process::Reaper;

/// How often the sweep re-checks for processes that were not our children (their exits
/// reach us only when their own parent dies first).
const SWEEP_POLL: Duration = Duration::from_millis(20);
/// How often the TERM phase re-reads /proc for newcomers to warn (a subreaper reads the
/// host's whole /proc: not every poll).
const TERM_RESCAN: Duration = Duration::from_millis(100);

/// Sweeps what `sweep` found left. `cut` ends the TERM phase early (a stop signal: the
/// user wants out now). Each round re-reads what is left: newcomers get their TERM
/// during the grace, and the KILL is sent again every round, so that a process that
/// keeps forking is outrun within a few rounds.
pub async fn sweep(mut sweep: Sweep, reaper: Arc<Reaper>, grace: Duration, cut: Arc<Notify>) {
    let count = sweep.warn();
    emit!(
        info,
        Event::ProcessesRemaining,
        count,
        grace_ms = grace.as_millis() as u64,
        "sent SIGTERM to the processes left behind"
    );
    let gone = tokio::select! {
        gone = until_gone(&mut sweep, &reaper, Phase::Term, grace) => gone,
        () = cut.notified() => false,
    };
    if gone {
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
    until_gone(&mut sweep, &reaper, Phase::Kill, KILL_WAIT).await;
}

/// Which signal a sweep's wait sends again between its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TERM to newcomers.
    Term,
    /// KILL to everyone.
    Kill,
}

/// True when every process in scope is gone within `limit`. Between rounds, newcomers
/// get their TERM (at most every TERM_RESCAN: it reads /proc) or everyone their KILL
/// again, by `phase`.
async fn until_gone(sweep: &mut Sweep, reaper: &Reaper, phase: Phase, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut rescan = Instant::now() + TERM_RESCAN;
    loop {
        let reaped = reaper.reaped();
        signals::reap(reaper);
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
