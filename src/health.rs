//! The health check task: runs the configured probe every interval and sends each result
//! to the supervisor, which alone judges it (with `crate::policy`) and changes state.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{interval, MissedTickBehavior};

use crate::config::health::HealthConfig;
use crate::probe::{Probe, ProbeError};
use crate::process::spawn::Credentials;
use crate::process::Reaper;

/// One finished check.
#[derive(Debug)]
pub struct CheckResult {
    pub result: Result<(), ProbeError>,
    pub at: SystemTime,
    pub duration: Duration,
}

/// The running task; dropping it stops the checks (an `exec:` probe in flight is killed
/// with its process group when its helper is dropped).
pub struct HealthTask {
    pub results: mpsc::Receiver<CheckResult>,
    handle: JoinHandle<()>,
}

impl Drop for HealthTask {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Starts checking, or returns None when no health check is configured.
pub fn start(
    config: &HealthConfig,
    reaper: Arc<Reaper>,
    credentials: Option<Credentials>,
) -> Option<HealthTask> {
    let probe = config.check.clone()?;
    // One slot is enough: the supervisor reads every result before the next is due, and
    // a slow supervisor should delay checks rather than queue stale results.
    let (tx, results) = mpsc::channel(1);
    let (every, timeout) = (config.interval, config.timeout);
    let handle = tokio::spawn(async move {
        let mut ticks = interval(every);
        // A check slower than the interval must not be followed by a burst of catch-ups.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // The first tick is immediate: the child is checked as soon as it starts.
            ticks.tick().await;
            let result = check(&probe, timeout, &reaper, credentials.as_ref()).await;
            if tx.send(result).await.is_err() {
                return;
            }
        }
    });
    Some(HealthTask { results, handle })
}

async fn check(
    probe: &Probe,
    timeout: Duration,
    reaper: &Reaper,
    credentials: Option<&Credentials>,
) -> CheckResult {
    let at = SystemTime::now();
    let started = tokio::time::Instant::now();
    let result = probe.check_as(timeout, reaper, credentials).await;
    CheckResult {
        result,
        at,
        duration: started.elapsed(),
    }
}

/// The next result, or never when there is no task (so a `select!` branch stays idle).
pub async fn next(task: &mut Option<HealthTask>) -> CheckResult {
    match task {
        Some(task) => match task.results.recv().await {
            Some(result) => result,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
