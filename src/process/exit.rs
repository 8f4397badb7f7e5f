//! How a process ended, and the exit code that stands for it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    Code(i32),
    Signaled(i32),
}

impl Exit {
    /// The shell convention: the code itself, or 128 + N for death by signal N.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signaled(signal) => 128 + signal,
        }
    }

    /// Decodes a status from waitpid: an exit or a death by any signal, real-time ones
    /// included; None for a stop or a continue.
    pub fn from_wait_status(status: i32) -> Option<Exit> {
        if libc::WIFEXITED(status) {
            Some(Exit::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(Exit::Signaled(libc::WTERMSIG(status)))
        } else {
            None
        }
    }

    pub fn signal(self) -> Option<i32> {
        match self {
            Exit::Code(_) => None,
            Exit::Signaled(signal) => Some(signal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_shell_convention() {
        assert_eq!(Exit::Code(3).code(), 3);
        assert_eq!(Exit::Signaled(libc::SIGTERM).code(), 143);
        assert_eq!(Exit::Signaled(libc::SIGKILL).code(), 137);
    }

    #[test]
    fn wait_statuses_decode_every_signal() {
        assert_eq!(Exit::from_wait_status(0), Some(Exit::Code(0)));
        assert_eq!(Exit::from_wait_status(3 << 8), Some(Exit::Code(3)));
        assert_eq!(Exit::from_wait_status(255 << 8), Some(Exit::Code(255)));
        assert_eq!(
            Exit::from_wait_status(libc::SIGKILL),
            Some(Exit::Signaled(9))
        );
        // With the core-dump bit.
        assert_eq!(Exit::from_wait_status(0x80 | 11), Some(Exit::Signaled(11)));
        // Real-time signals, which nix's decoding refuses (and so lost the exit).
        for sig in [32, 33, libc::SIGRTMIN(), 40, libc::SIGRTMAX()] {
            assert_eq!(
                Exit::from_wait_status(sig),
                Some(Exit::Signaled(sig)),
                "{sig}"
            );
        }
        // Stopped by SIGSTOP, and continued.
        assert_eq!(Exit::from_wait_status((libc::SIGSTOP << 8) | 0x7f), None);
        assert_eq!(Exit::from_wait_status(0xffff), None);
    }
}
