//! The supervised child: its pid, its exit (delivered by the reaper), and signalling that
//! never reaches a pid after it has been reaped (the number may belong to someone else by then).

use tokio::sync::oneshot::{self, error::TryRecvError};

use crate::exit_code::ExitCode;
use crate::process::reaper::Started;
use crate::process::Exit;

pub struct Child {
    pub pid: i32,
    exit_rx: oneshot::Receiver<Exit>,
    exit: Option<Exit>,
}

impl Child {
    pub fn new(started: Started) -> Self {
        Child {
            pid: started.pid,
            exit_rx: started.exit,
            exit: None,
        }
    }

    /// Resolves when the child has exited. Cancel-safe, and may be awaited again after.
    pub async fn wait(&mut self) -> Exit {
        if let Some(exit) = self.exit {
            return exit;
        }
        // The sender is dropped unanswered only if the reaper itself is gone; report that
        // as an internal failure rather than hang.
        let exit = (&mut self.exit_rx)
            .await
            .unwrap_or(Exit::Code(ExitCode::Software as i32));
        self.exit = Some(exit);
        exit
    }

    /// True until the reaper has collected the child's exit.
    pub fn alive(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.exit_rx.try_recv() {
            Ok(exit) => {
                self.exit = Some(exit);
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Closed) => false,
        }
    }

    /// Sends `sig` to the child, or to its process group; false when it is already gone.
    pub fn signal(&mut self, sig: i32, group: bool) -> bool {
        if !self.alive() {
            return false;
        }
        let target = if group { -self.pid } else { self.pid };
        // A pid the reaper has not collected, so it is still ours.
        crate::sys::process::kill(target, sig).is_ok()
    }

    /// SIGKILL to the child's process group and to the child itself (in case it moved to
    /// another group).
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL, true);
        self.signal(libc::SIGKILL, false);
    }
}
