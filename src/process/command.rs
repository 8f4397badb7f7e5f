//! Helper commands (hooks, exec probes): started through the reaper in a session of their
//! own, so that a timeout or an abort can kill the whole process group they may have made.

use std::fmt;
use std::time::Duration;

use super::capture::{self, Capture};
use super::spawn::{Isolation, SpawnError, SpawnSpec};
use super::{Exit, Handle, Reaper};

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

/// Starts `spec` as a helper: its own session (so that a timeout or an abort can kill
/// the whole process group it may have made), stdin from /dev/null, stdout on stderr.
/// Dropping the handle before its exit was seen kills it.
pub fn start(reaper: &Reaper, mut spec: SpawnSpec) -> Result<Handle, SpawnError> {
    spec.isolation = Isolation::Session;
    spec.foreground = false;
    spec.helper = true;
    Ok(reaper.spawn(&spec)?.kill_on_drop())
}

/// Runs a helper to completion; past `timeout` its process group is killed.
pub async fn run(reaper: &Reaper, spec: SpawnSpec, timeout: Duration) -> Result<Exit, RunError> {
    let mut helper = start(reaper, spec).map_err(RunError::Spawn)?;
    let waited = tokio::time::timeout(timeout, helper.wait()).await;
    finish(&helper, waited.ok())
}

/// The end of a helper's run, `None` when its timeout passed first. Either way its
/// process group is killed: whatever it left running in its session (a daemon it forked)
/// goes with it, so one check cannot leak a process per run (with none left this is a
/// harmless ESRCH). Past the timeout it is killed, not awaited: a timeout bounds the
/// wall-clock time, and the reaper collects the exit whenever it comes.
fn finish(helper: &Handle, exit: Option<Exit>) -> Result<Exit, RunError> {
    helper.kill_leftovers();
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
    let started = start(reaper, spec);
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
