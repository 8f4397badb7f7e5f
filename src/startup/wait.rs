//! Dependency waiting: every probe is retried in parallel with exponential backoff until it
//! passes or the deadline comes. The caller ends the wait early by dropping it (a stop
//! signal): an `exec:` probe's process group is killed with it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::probe::{Probe, ProbeError};
use crate::process::Reaper;

const FIRST_DELAY: Duration = Duration::from_millis(100);
/// How late past its deadline the wait gives up on attempts still under way.
const OVERRUN_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub timeout: Duration,
    pub interval_max: Duration,
    pub probe_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ready(Duration),
    Failed { error: ProbeError, attempts: u32 },
}

/// The pause after failed attempt `n` (0-based): 100ms, 200ms, 400ms… capped at `max`.
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    FIRST_DELAY
        .checked_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
        .unwrap_or(max)
        .min(max)
}

/// A required dependency never passed (exit 69).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// Waits for `required` and `optional` probes.
pub async fn dependencies(
    required: &[Probe],
    optional: &[Probe],
    settings: Settings,
    reaper: &Arc<Reaper>,
) -> Result<(), Unavailable> {
    let targets: Vec<(Probe, bool)> = required
        .iter()
        .map(|p| (p.clone(), true))
        .chain(optional.iter().map(|p| (p.clone(), false)))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    emit!(info, Event::DependencyWaiting, targets = %list(required), optional = %list(optional),
        timeout_ms = settings.timeout.as_millis() as u64,
        "waiting up to {:?} for {}", settings.timeout, list(&targets.iter().map(|t| t.0.clone()).collect::<Vec<_>>()));
    let deadline = Instant::now() + settings.timeout;
    let mut set = JoinSet::new();
    for (index, (probe, _)) in targets.iter().enumerate() {
        let (probe, reaper) = (probe.clone(), reaper.clone());
        set.spawn(async move { (index, wait_one(&probe, &reaper, deadline, settings).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; targets.len()];
    // Every attempt is bounded by the deadline; this only makes sure that nothing can
    // keep the wait past it (a task late on a loaded machine is given up on).
    let joined = tokio::time::timeout_at(deadline + OVERRUN_GRACE, async {
        // A task can only fail by panicking; its target stays without an outcome.
        while let Some(joined) = set.join_next().await {
            if let Ok((index, outcome)) = joined {
                outcomes[index] = Some(outcome);
            }
        }
    });
    // Past the overrun, the tasks are dropped with the set (their exec probes killed).
    let _ = joined.await;
    report(&targets, &outcomes, settings.timeout)
}

/// Emits `dependency_failed` for each target that never passed and `dependencies_ready`
/// with each passing target's time.
fn report(
    targets: &[(Probe, bool)],
    outcomes: &[Option<Outcome>],
    timeout: Duration,
) -> Result<(), Unavailable> {
    let within = format_duration(timeout);
    let mut times = Vec::new();
    let mut unavailable = false;
    for ((probe, required), outcome) in targets.iter().zip(outcomes) {
        let (error, attempts) = match outcome {
            Some(Outcome::Ready(took)) => {
                times.push(format!("{probe}={}ms", took.as_millis()));
                continue;
            }
            Some(Outcome::Failed { error, attempts }) => (error.to_string(), *attempts),
            None => (format!("no attempt finished within {within}"), 0),
        };
        if *required {
            unavailable = true;
            emit!(error, Event::DependencyFailed, target = %probe, required = true, attempts,
                timeout_ms = timeout.as_millis() as u64, error = %error,
                "required dependency {probe} did not pass within {within}: {error}");
        } else {
            emit!(warn, Event::DependencyFailed, target = %probe, required = false, attempts,
                timeout_ms = timeout.as_millis() as u64, error = %error,
                "optional dependency {probe} did not pass within {within} ({error}); starting anyway");
        }
    }
    if unavailable {
        return Err(Unavailable);
    }
    emit!(info, Event::DependenciesReady, times = %times.join(", "), "dependencies ready: {}", times.join(", "));
    Ok(())
}

/// Retries one probe until it passes or the deadline comes.
async fn wait_one(
    probe: &Probe,
    reaper: &Reaper,
    deadline: Instant,
    settings: Settings,
) -> Outcome {
    let started = Instant::now();
    let mut attempts = 0;
    let mut last_error = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if let (Some(error), true) = (&last_error, left.is_zero()) {
            // Woken past the deadline (a loaded machine): no attempt of zero length.
            return Outcome::Failed {
                error: ProbeError::clone(error),
                attempts,
            };
        }
        let error = match probe.check(settings.probe_timeout.min(left), reaper).await {
            Ok(()) => return Outcome::Ready(started.elapsed()),
            Err(error) => error,
        };
        let delay = backoff(attempts, settings.interval_max);
        attempts += 1;
        emit!(debug, Event::DependencyAttemptFailed, target = %probe, attempt = attempts,
            error = %error, retry_in_ms = delay.as_millis() as u64, "{probe}: {error}");
        // The last attempt comes a little before the deadline, so that it has time to pass.
        let last_chance = deadline.checked_sub(FIRST_DELAY).unwrap_or(deadline);
        let now = Instant::now();
        if now >= last_chance {
            return Outcome::Failed { error, attempts };
        }
        last_error = Some(error);
        tokio::time::sleep_until((now + delay).min(last_chance)).await;
    }
}

fn list(probes: &[Probe]) -> String {
    probes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_100ms_up_to_the_cap() {
        let max = Duration::from_secs(5);
        let schedule: Vec<u128> = (0..9).map(|n| backoff(n, max).as_millis()).collect();
        assert_eq!(schedule, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert_eq!(backoff(40, max), max, "no overflow for large counts");
        assert_eq!(backoff(u32::MAX, max), max);
        assert_eq!(
            backoff(0, Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }
}
