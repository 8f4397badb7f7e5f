//! A process tend started, as the reaper hands it out: its pid, its exit (delivered by
//! the reaper, the only one that reaps), and signalling that never reaches a pid after it
//! has been reaped (the number may belong to someone else by then). One type for the
//! supervised child and for helpers (hooks, exec probes).
//!
//! "Not reaped yet" is what the reaper has not delivered: tend's runtime is one thread,
//! and reaping runs on it (the SIGCHLD pump, the sweep), so nothing is reaped between
//! that check and the kill that follows it.

use tokio::sync::oneshot::{self, error::TryRecvError};

use super::Exit;
use crate::exit_code::ExitCode;
use crate::sys;

/// The exit reported when the reaper is gone without sending one: an internal failure.
const REAPER_GONE: Exit = Exit::Code(ExitCode::Software as i32);

pub struct Handle {
    pub pid: i32,
    exit_rx: oneshot::Receiver<Exit>,
    exit: Option<Exit>,
    /// Dropped before its exit was seen, it is killed (see `kill_on_drop`).
    kill_on_drop: bool,
}

impl Handle {
    /// A process just started, whose exit the reaper will send on `exit`.
    pub(super) fn new(pid: i32, exit: oneshot::Receiver<Exit>) -> Handle {
        Handle {
            pid,
            exit_rx: exit,
            exit: None,
            kill_on_drop: false,
        }
    }

    /// Makes dropping the handle before the exit was seen kill the process (its group and
    /// itself), so that an aborted wait (a stop signal, a cancelled task) leaves nothing
    /// behind. For helpers; the child is stopped on purpose, never by a drop.
    pub fn kill_on_drop(mut self) -> Handle {
        self.kill_on_drop = true;
        self
    }

    /// Resolves when the process has exited. Cancel-safe, and may be awaited again after.
    pub async fn wait(&mut self) -> Exit {
        if let Some(exit) = self.exit {
            return exit;
        }
        // The sender is dropped unanswered only if the reaper itself is gone; report that
        // as an internal failure rather than hang.
        let exit = (&mut self.exit_rx).await.unwrap_or(REAPER_GONE);
        self.exit = Some(exit);
        exit
    }

    /// True until the reaper has collected the exit.
    pub fn alive(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        // The receiver is spent once it answered, Closed included (awaiting it again
        // would panic): what it said is kept for `wait`.
        match self.exit_rx.try_recv() {
            Ok(exit) => self.exit = Some(exit),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Closed) => self.exit = Some(REAPER_GONE),
        }
        false
    }

    /// Sends `sig` to the process, or to its process group; false when it is already
    /// gone (reaped: nothing is sent) or the kill failed.
    pub fn signal(&mut self, sig: i32, group: bool) -> bool {
        if !self.alive() {
            return false;
        }
        let target = if group { -self.pid } else { self.pid };
        // Not reaped, so the pid is still this process, and the group it leads (or led)
        // is reserved while the pid is.
        sys::process::kill(target, sig).is_ok()
    }

    /// Sends `sig` to the process group (its pid: every process tend starts leads one).
    pub fn signal_group(&mut self, sig: i32) -> bool {
        self.signal(sig, true)
    }

    /// SIGKILL to the process group and to the process itself (in case it moved to
    /// another group). Nothing once it is gone.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL, true);
        self.signal(libc::SIGKILL, false);
    }

    /// SIGKILL to the process group of a helper that leads its own session, whether its
    /// exit was seen or not: whatever it left running in its session (a daemon it forked)
    /// goes with it. The one signal sent after the reap, on purpose: the group's number
    /// stays reserved while any member lives, and with none left the kill finds nobody
    /// (ESRCH), unless in the moments since the reap the pid numbers went all the way round
    /// and a new process took this one as its group's.
    pub fn kill_leftovers(&self) {
        let _ = sys::process::kill(-self.pid, libc::SIGKILL);
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.kill_on_drop && self.alive() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_exit_can_be_awaited_again_and_ends_alive() {
        let (tx, rx) = oneshot::channel();
        let mut handle = Handle::new(std::process::id() as i32, rx);
        assert!(handle.alive());
        tx.send(Exit::Code(3)).expect("send");
        assert!(!handle.alive());
        assert_eq!(handle.wait().await, Exit::Code(3));
        assert_eq!(handle.wait().await, Exit::Code(3));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_gone_reaper_is_an_internal_failure_not_a_hang() {
        let (tx, rx) = oneshot::channel::<Exit>();
        let mut handle = Handle::new(std::process::id() as i32, rx);
        drop(tx);
        assert!(!handle.alive());
        assert_eq!(handle.wait().await, Exit::Code(ExitCode::Software as i32));
    }

    /// Once the exit is in, the number is not ours any more: nothing is sent to it. Here
    /// it is this test's own pid, to which a signal 0 would be delivered (and reported).
    #[test]
    fn a_reaped_pid_is_never_signalled() {
        let (tx, rx) = oneshot::channel();
        let mut handle = Handle::new(std::process::id() as i32, rx);
        assert!(handle.signal(0, false), "alive: sent");
        tx.send(Exit::Code(0)).expect("send");
        assert!(!handle.signal(0, false));
        assert!(!handle.signal_group(0));
    }

    /// A process group leader that is nobody's but the test's, and the sender of its exit.
    fn sleeper() -> (std::process::Child, oneshot::Sender<Exit>, Handle) {
        let child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .expect("sleep");
        let (tx, rx) = oneshot::channel();
        let handle = Handle::new(child.id() as i32, rx);
        (child, tx, handle)
    }

    #[test]
    fn only_a_helper_is_killed_when_dropped_before_its_exit() {
        let (mut child, _tx, handle) = sleeper();
        drop(handle);
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the child lives on"
        );
        let _ = child.kill();
        let _ = child.wait();

        let (mut child, _tx, handle) = sleeper();
        drop(handle.kill_on_drop());
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
