//! Helper commands (hooks, exec probes): started through the reaper in a session of their
//! own, so that a timeout or an abort can kill the whole process group they may have made.

use std::fmt;
use std::time::Duration;

use tokio::sync::oneshot::{self, error::TryRecvError};

use super::capture::{self, Capture};
use super::spawn::{Isolation, SpawnError, SpawnSpec};
use super::{Exit, Reaper};
use crate::exit_code::ExitCode;

#[derive(Debug)]
pub enum RunError {
    Spawn(SpawnError),
    /// No pipe for the output to be captured (EMFILE, ENFILE).
    Pipe(std::io::Error),
    TimedOut,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Spawn(error) => write!(f, "{error}"),
            RunError::Pipe(error) => write!(f, "cannot make a pipe for its output: {error}"),
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
        let exit = (&mut self.exit)
            .await
            .unwrap_or(Exit::Code(ExitCode::Software as i32));
        self.done = true;
        exit
    }

    /// Sends `sig` to the helper's process group (its pid, as it leads its own session).
    pub fn signal_group(&self, sig: i32) {
        // The group id stays reserved while any member lives, and the leader is not
        // reaped before `done`, so the number cannot name a stranger.
        let _ = crate::sys::process::kill(-self.pid, sig);
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
    let waited = tokio::time::timeout(timeout, helper.wait()).await;
    finish(&helper, waited.ok())
}

/// The end of a helper's run, `None` when its timeout passed first. Either way its
/// process group is killed: whatever it left running in its session (a daemon it forked)
/// goes with it, so one check cannot leak a process per run (with none left this is a
/// harmless ESRCH). Past the timeout it is killed, not awaited: a timeout bounds the
/// wall-clock time, and the reaper collects the exit whenever it comes.
fn finish(helper: &Helper, exit: Option<Exit>) -> Result<Exit, RunError> {
    helper.signal_group(libc::SIGKILL);
    exit.ok_or(RunError::TimedOut)
}

/// Runs a helper to completion like `run`, with its stdout and stderr captured instead of
/// reaching tend's stderr (`capture`). The output read comes back whatever the outcome.
pub async fn run_captured(
    reaper: &Reaper,
    mut spec: SpawnSpec,
    timeout: Duration,
) -> (Result<Exit, RunError>, Option<Capture>) {
    let (mut capture, write) = match capture::pipe() {
        Ok(pipe) => pipe,
        Err(error) => return (Err(RunError::Pipe(error)), None),
    };
    // The helper gets its own copies, and the spec (with this one) is gone once it has
    // started: the output ends when its last writer is gone.
    spec.output = Some(std::sync::Arc::new(write));
    let started = Helper::start(reaper, spec);
    let mut helper = match started {
        Ok(helper) => helper,
        Err(error) => return (Err(RunError::Spawn(error)), Some(capture)),
    };
    let waited = tokio::time::timeout(timeout, async {
        loop {
            tokio::select! {
                exit = helper.wait() => break exit,
                // Read while it runs, so that it never blocks on a full pipe.
                () = capture.read_some(), if capture.is_open() => {}
            }
        }
    })
    .await;
    let result = finish(&helper, waited.ok());
    capture.drain();
    (result, Some(capture))
}
