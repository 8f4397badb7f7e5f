//! Everything that touches processes: spawning children with a clean slate, the reaper
//! (the only caller of `waitpid(-1)`), the signals (a SIGCHLD pump for the reaper, a
//! signalfd for the supervisor), and finding and signalling the processes that are left
//! when the child is gone.

pub mod capture;
pub mod command;
pub mod exec;
pub mod exit;
mod posix_spawn;
pub mod reaper;
pub mod signals;
pub mod spawn;
pub mod sweep;

pub use exit::Exit;
pub use reaper::Reaper;

use crate::emit;
use crate::events::Event;

/// Makes orphaned descendants re-parent to tend instead of the host's init, so that tend
/// can reap them when it is not PID 1 (`docker run` without `--init`, tests, systemd units).
pub fn become_subreaper() {
    // Safety: plain prctl on the calling process.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        let error = std::io::Error::last_os_error();
        emit!(warn, Event::InternalError, error = %error,
            "cannot become child subreaper ({error}); orphans will go to the host's init");
    }
}
