//! The reaper: the one place that calls `waitpid(-1, …)`.
//!
//! Every process tend starts goes through `Reaper::spawn`, which registers the pid under
//! the same lock that `reap` takes, so an exit can never be collected before someone is
//! listening for it. Exits of processes nobody registered (orphans re-parented to tend)
//! are counted and reported back to the caller of `reap`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use tokio::sync::futures::Notified;
use tokio::sync::{oneshot, Notify};

use super::spawn::{self, SpawnError, SpawnSpec};
use super::{Exit, Handle};

#[derive(Default)]
pub struct Reaper {
    waiters: Mutex<HashMap<i32, oneshot::Sender<Exit>>>,
    reaped: Notify,
    orphans: AtomicU64,
}

impl Reaper {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a process and registers it before its exit can be reaped.
    pub fn spawn(&self, spec: &SpawnSpec) -> Result<Handle, SpawnError> {
        let mut waiters = self.lock();
        let pid = spawn::spawn(spec)?;
        let (tx, rx) = oneshot::channel();
        waiters.insert(pid, tx);
        Ok(Handle::new(pid, rx))
    }

    /// Collects every exited child until none is left to collect. Registered pids get
    /// their status; the others (orphans) are returned. Wakes `reaped` only when it
    /// collected something: a waiter that reaps, then waits for the next round, must not
    /// be woken by its own empty round (it would spin and starve the runtime).
    pub fn reap(&self) -> Vec<(i32, Exit)> {
        let mut orphans = Vec::new();
        let mut collected = 0usize;
        let mut waiters = self.lock();
        loop {
            let (pid, exit) = match wait_any() {
                Ok(Some((pid, exit))) => (pid, exit),
                // A stop or a continue: not an end; look for the next one.
                Ok(None) => continue,
                Err(Errno::EINTR) => continue,
                // ECHILD (no child at all), or nothing has exited yet.
                Err(_) => break,
            };
            collected += 1;
            match waiters.remove(&pid) {
                // The receiver may be gone (a helper that timed out); the exit is still collected.
                Some(tx) => {
                    let _ = tx.send(exit);
                }
                None => orphans.push((pid, exit)),
            }
        }
        drop(waiters);
        self.orphans
            .fetch_add(orphans.len() as u64, Ordering::Relaxed);
        if collected > 0 {
            self.reaped.notify_waiters();
        }
        orphans
    }

    /// Resolves after the next round of reaping that collects an exit. Create it before
    /// checking what it guards: it counts from creation, not from its first poll.
    pub fn reaped(&self) -> Notified<'_> {
        self.reaped.notified()
    }

    /// Orphans reaped so far (for `/metrics`).
    pub fn orphans_reaped(&self) -> u64 {
        self.orphans.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i32, oneshot::Sender<Exit>>> {
        // A poisoned lock only means a panic elsewhere; the map itself is still sound.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One `waitpid(-1, WNOHANG)`: `Err(EAGAIN)` when children live but none has ended,
/// `Ok(None)` for a stop or a continue.
fn wait_any() -> Result<Option<(i32, Exit)>, Errno> {
    let (pid, status) = crate::sys::process::wait_any()?;
    Ok(Exit::from_wait_status(status).map(|exit| (pid, exit)))
}
