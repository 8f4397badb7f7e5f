//! Helper commands (hooks, exec probes): started through the reaper in a session of their
//! own, so that a timeout or an abort can kill the whole process group they may have made.

use std::fmt;
use std::time::Duration;

use tokio::sync::oneshot::{self, error::TryRecvError};

use super::spawn::{Isolation, SpawnError, SpawnSpec};
use super::{Exit, Reaper};

/// SIGKILL cannot be ignored, but a process stuck in the kernel can delay its death; after
/// this long tend stops waiting for a killed helper rather than hang.
const KILL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub enum RunError {
    Spawn(SpawnError),
    TimedOut,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn(error) => write!(f, "{error}"),
            RunError::TimedOut => f.write_str("timed out"),
        }
    }
}

/// A running helper. Dropping it before its exit was seen kills its process group, so an
/// aborted wait (a stop signal) leaves nothing behind.
pub struct Helper {
    pub pid: i32,
    exit: oneshot::Receiver<Exit>,
    done: bool,
}

impl Helper {
    /// Starts `spec` as a helper: its own session, stdin from /dev/null, stdout on stderr.
    pub fn start(reaper: &Reaper, mut spec: SpawnSpec) -> Result<Helper, SpawnError> {
        spec.isolation = Isolation::Session;
        spec.foreground = false;
        spec.helper = true;
        let started = reaper.spawn(&spec)?;
        Ok(Helper {
            pid: started.pid,
            exit: started.exit,
            done: false,
        })
    }

    /// Waits for the helper's exit. Cancel-safe.
    pub async fn wait(&mut self) -> Exit {
        // A dropped sender means the reaper is gone: report an internal failure, not hang.
        let exit = (&mut self.exit).await.unwrap_or(Exit::Code(70));
        self.done = true;
        exit
    }

    /// Sends `sig` to the helper's process group (its pid, as it leads its own session).
    pub fn signal_group(&self, sig: i32) {
        // Safety: plain syscall. The group id stays reserved while any member lives, and
        // the leader is not reaped before `done`, so the number cannot name a stranger.
        unsafe { libc::kill(-self.pid, sig) };
    }

    /// SIGKILL to the group, then waits (bounded) for the leader's exit.
    pub async fn kill(&mut self) -> Exit {
        self.signal_group(libc::SIGKILL);
        match tokio::time::timeout(KILL_WAIT, self.wait()).await {
            Ok(exit) => exit,
            Err(_) => Exit::Signaled(libc::SIGKILL),
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if !self.done && matches!(self.exit.try_recv(), Err(TryRecvError::Empty)) {
            self.signal_group(libc::SIGKILL);
        }
    }
}

/// Runs a helper to completion; past `timeout` its process group is killed.
pub async fn run(reaper: &Reaper, spec: SpawnSpec, timeout: Duration) -> Result<Exit, RunError> {
    let mut helper = Helper::start(reaper, spec).map_err(RunError::Spawn)?;
    match tokio::time::timeout(timeout, helper.wait()).await {
        Ok(exit) => {
            // Whatever the helper left running in its session (a daemon it forked) goes
            // with it: one check must not leak a process per run. The group id stays
            // reserved while any member lives; with none left this is a harmless ESRCH.
            helper.signal_group(libc::SIGKILL);
            Ok(exit)
        }
        Err(_) => {
            helper.kill().await;
            Err(RunError::TimedOut)
        }
    }
}
