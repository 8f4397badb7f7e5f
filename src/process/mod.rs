//! Everything that touches processes: spawning children with a clean slate, the reaper
//! (the only caller of `waitpid(-1)`), the handle to a started process, the signals (a SIGCHLD pump for the reaper, a
//! signalfd for the supervisor), finding and signalling the processes that are left
//! when the child is gone, and a service's output copied with its name before each line.

pub mod capture;
pub mod command;
pub mod exec;
pub mod exit;
mod handle;
// The supervisor starts no service yet (issue 14): until it does, only the tests use this.
pub mod output;
pub mod reaper;
pub mod signals;
pub mod spawn;
pub mod sweep;

pub use exit::Exit;
pub use handle::Handle;
pub use reaper::Reaper;

use crate::emit;
use crate::events::Event;

/// Makes orphaned descendants re-parent to tend instead of the host's init, so that tend
/// can reap them when it is not PID 1 (`docker run` without `--init`, tests, systemd units).
pub fn become_subreaper() {
    if let Err(error) = nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from) {
        emit!(warn, Event::InternalError, error = %error,
            "cannot become child subreaper ({error}); orphans will go to the host's init");
    }
}

/// The directory tend started in, once tend has left it (see `leave_workdir`).
static WORKDIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Moves tend's own working directory to `/` (as dumb-init does), so that tend pins no
/// mount for its whole life: a volume the image's WORKDIR sits on can then be unmounted,
/// and tend's cwd never keeps a deleted directory alive. Every process tend starts from
/// now on (a restarted child, hooks, exec probes, remediation commands) is started in the
/// directory tend started in, by path, as before; nothing tend opens is relative to its
/// cwd. Called once the first child has been spawned; a second call does nothing. When
/// the directory cannot be named (deleted already), tend stays where it is.
pub fn leave_workdir() {
    if WORKDIR.get().is_some() {
        return;
    }
    let Ok(dir) = std::env::current_dir() else {
        return;
    };
    if dir == std::path::Path::new("/") {
        return;
    }
    if let Err(error) = std::env::set_current_dir("/") {
        emit!(warn, Event::InternalError, error = %error, dir = %dir.display(),
            "cannot move tend's working directory to /: {error}; it stays in {}", dir.display());
        return;
    }
    let _ = WORKDIR.set(dir);
}

/// Where new processes start: the directory tend started in, once tend has left it.
pub(crate) fn workdir() -> Option<&'static std::path::Path> {
    WORKDIR.get().map(std::path::PathBuf::as_path)
}
