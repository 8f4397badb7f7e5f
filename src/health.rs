//! The health check task: runs the configured probe and sends each result to the
//! supervisor, which alone judges it (with `crate::policy`) and changes state. While the
//! child is starting the checks come every TEND_HEALTH_START_INTERVAL, so that a fast
//! start is seen at once; after the first pass (or once the supervisor ends the start-up
//! grace at TEND_STARTUP_TIMEOUT) every TEND_HEALTH_INTERVAL.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
    /// True while the checks use the start interval; the supervisor clears it when the
    /// start-up grace ends without a pass (TEND_STARTUP_TIMEOUT).
    starting: Arc<AtomicBool>,
}

impl HealthTask {
    /// From now on the normal interval applies (the start-up grace is over).
    pub fn end_start_interval(&self) {
        self.starting.store(false, Ordering::Relaxed);
    }
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
    let (every, start_every, timeout) = (config.interval, config.start_interval, config.timeout);
    let starting = Arc::new(AtomicBool::new(true));
    let still_starting = starting.clone();
    let handle = tokio::spawn(async move {
        loop {
            // The first check is immediate: the child is checked as soon as it starts.
            let began = Instant::now();
            let result = check(&probe, timeout, &reaper, credentials.as_ref()).await;
            // The first pass ends `starting` (the supervisor's rule too): seen here at
            // once, the next check need not wait for the supervisor to read this one.
            if result.result.is_ok() {
                still_starting.store(false, Ordering::Relaxed);
            }
            if tx.send(result).await.is_err() {
                return;
            }
            let period = match still_starting.load(Ordering::Relaxed) {
                true => start_every,
                false => every,
            };
            // Time between the starts of two checks; a check slower than that is
            // followed by the next one at once, never by a burst of catch-ups.
            tokio::time::sleep_until(began + period).await;
        }
    });
    Some(HealthTask {
        results,
        handle,
        starting,
    })
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
