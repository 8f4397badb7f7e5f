//! The fork path of spawning, through std's `Command`: what the child does between fork
//! and exec (`Setup`), then `exec::Program`, so that std's execvp, which runs a script
//! without `#!` with /bin/sh, is never reached. An exec error goes back to the parent
//! through std's pipe, as the closure's error.
//!
//! tend runs threads (tokio's blocking pool), so after the fork only async-signal-safe
//! calls are allowed until exec: everything here is prepared before it.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use super::exec::Program;

/// A user to become: supplementary groups, group, user, in that order.
#[derive(Debug, Clone)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// What the child does between fork and exec.
#[derive(Debug, Clone)]
pub struct Setup {
    /// A new session (hence a new process group and no controlling terminal), else a new
    /// process group in tend's session.
    pub session: bool,
    /// Take the terminal on stdin for the new process group (when there is one).
    pub foreground: bool,
    pub ids: Option<Ids>,
    /// Set no_new_privs before exec: no setuid or file-capability gain.
    pub no_new_privs: bool,
}

/// Starts `program` from `command` (its stdio and directory set by the caller) after
/// `setup`, every signal at default with an empty mask, and every fd above 2
/// close-on-exec. Returns the pid. Dropping std's `Child` neither waits nor kills: the
/// caller's reaper owns the exit status.
pub fn spawn(mut command: Command, setup: Setup, program: Program) -> io::Result<i32> {
    // SAFETY: the closure runs between fork and exec and makes only async-signal-safe
    // calls (`Setup::run`'s system calls, then execve): nothing is allocated or locked,
    // everything it reads was made before the fork.
    unsafe {
        command.pre_exec(move || {
            setup.run()?;
            Err(program.exec())
        });
    }
    command.spawn().map(|child| child.id() as i32)
}

impl Setup {
    /// Runs in the child after fork. Async-signal-safe calls only.
    fn run(&self) -> io::Result<()> {
        // SAFETY: plain system calls on the child's own process; setgroups reads the
        // slice it is given, whose length it is told.
        unsafe {
            if self.session {
                check(libc::setsid())?;
            } else {
                check(libc::setpgid(0, 0))?;
            }
            if self.foreground && libc::isatty(libc::STDIN_FILENO) == 1 {
                // A background group asking for the terminal gets SIGTTOU unless it
                // ignores it.
                super::signal::ignore(libc::SIGTTOU);
                // ENOTTY/ENXIO/EPERM: no usable terminal; the child runs without job control.
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
            }
            super::signal::reset_all();
            if let Some(ids) = &self.ids {
                check(libc::setgroups(ids.groups.len(), ids.groups.as_ptr()))?;
                check(libc::setgid(ids.gid))?;
                check(libc::setuid(ids.uid))?;
            }
            if self.no_new_privs {
                check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
            }
        }
        super::fd::close_on_exec_above_stdio();
        Ok(())
    }
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}
