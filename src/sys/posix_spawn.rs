//! The fast way to start a child that needs nothing between fork and exec: posix_spawnp,
//! which musl and glibc implement with a vfork (tend's memory is neither copied nor
//! faulted in).
//!
//! std's `Command` would use posix_spawn too, but it lets the child inherit the signal
//! mask, and tend runs with every handled signal blocked. Here the child gets its own
//! process group, an empty mask and every disposition at default: SIGPIPE, which tend
//! ignores, any signal tend inherited ignored, and the ones libc keeps for its threads
//! (32 to 34 for musl, 32 and 33 for glibc). Both libcs test the default set bit by bit,
//! but their `sigfillset` leaves those out, and what is left out stays as inherited
//! (musl) or is set to ignored (glibc): so the set is every signal, bits set directly.
//! Naming them all also spares the vfork child, which tend waits for, the query of each
//! signal's disposition before setting it.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::exec::{environ_ptr, CStrings};
use super::signal;

/// What the child gets on fds 0, 1 and 2 instead of tend's own: stdin from /dev/null
/// (helpers), and a descriptor duplicated onto 1 and one onto 2 (a helper's stdout onto
/// tend's stderr, a pipe that captures or prefixes the output). fd 1 is set before fd 2,
/// so `stdout` may be tend's fd 2, but `stderr` must not be fd 1.
#[derive(Clone, Copy, Default)]
pub struct Stdio<'a> {
    pub null_stdin: bool,
    pub stdout: Option<BorrowedFd<'a>>,
    pub stderr: Option<BorrowedFd<'a>>,
}

/// Starts `argv[0]` (searched in PATH when it has no '/') with `argv` and tend's
/// environment, in its own process group, in `dir` when given, with `stdio`. Returns the
/// pid, or the error exec gave.
pub fn spawn(argv: &CStrings, stdio: Stdio<'_>, dir: Option<&CStr>) -> io::Result<i32> {
    let Some(program) = argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let attrs = Attrs::new()?;
    let actions = FileActions::new(stdio, dir)?;
    let mut pid: libc::pid_t = 0;
    // musl's posix_spawn blocks every signal for the vfork and then restores the mask it
    // saved through its pthread_sigmask, which leaves out the signals musl reserves: 34,
    // which tend reads from its signalfd, would come back unblocked, and a 34 would then
    // kill tend. So the mask is kept as the kernel holds it. (A 34 that comes in between,
    // a few instructions, is still delivered at default.)
    let rc = signal::keeping_thread_mask(|| {
        // SAFETY: every pointer is valid for the call: the C strings outlive it, argv
        // ends with a null, environ is libc's own (see `exec::environment`); attrs and
        // actions were initialised by their constructors.
        unsafe {
            libc::posix_spawnp(
                &mut pid,
                program.as_ptr(),
                &actions.0,
                &attrs.0,
                argv.as_ptr().cast(),
                environ_ptr(),
            )
        }
    })?;
    match rc {
        0 => Ok(pid),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// posix_spawn attributes: own process group, empty mask, every signal at default.
struct Attrs(libc::posix_spawnattr_t);

impl Attrs {
    fn new() -> io::Result<Self> {
        // SAFETY: initialised by posix_spawnattr_init before any other use (and destroyed
        // by Drop only after that succeeded); the sets are initialised.
        unsafe {
            let mut raw: libc::posix_spawnattr_t = std::mem::zeroed();
            check(libc::posix_spawnattr_init(&mut raw))?;
            let mut attrs = Attrs(raw);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            check(libc::posix_spawnattr_setsigmask(&mut attrs.0, &set))?;
            check(libc::posix_spawnattr_setsigdefault(
                &mut attrs.0,
                &signal::every_signal(),
            ))?;
            check(libc::posix_spawnattr_setpgroup(&mut attrs.0, 0))?;
            let flags = libc::POSIX_SPAWN_SETPGROUP
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETSIGDEF;
            check(libc::posix_spawnattr_setflags(
                &mut attrs.0,
                flags as libc::c_short,
            ))?;
            Ok(attrs)
        }
    }
}

impl Drop for Attrs {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// The child's stdio (see `Stdio`) and the directory to start in (performed before the
/// exec, so a relative program name resolves there).
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new(stdio: Stdio<'_>, dir: Option<&CStr>) -> io::Result<Self> {
        // SAFETY: initialised by posix_spawn_file_actions_init before any other use (and
        // destroyed by Drop only after that succeeded); the paths are C strings, which
        // glibc copies; the descriptors are borrowed, so open for the call.
        unsafe {
            let mut raw: libc::posix_spawn_file_actions_t = std::mem::zeroed();
            check(libc::posix_spawn_file_actions_init(&mut raw))?;
            let mut actions = FileActions(raw);
            if stdio.null_stdin {
                check(libc::posix_spawn_file_actions_addopen(
                    &mut actions.0,
                    0,
                    c"/dev/null".as_ptr(),
                    libc::O_RDONLY,
                    0,
                ))?;
            }
            for (fd, target) in [(stdio.stdout, 1), (stdio.stderr, 2)] {
                if let Some(fd) = fd {
                    check(libc::posix_spawn_file_actions_adddup2(
                        &mut actions.0,
                        fd.as_raw_fd(),
                        target,
                    ))?;
                }
            }
            if let Some(dir) = dir {
                check(libc::posix_spawn_file_actions_addchdir_np(
                    &mut actions.0,
                    dir.as_ptr(),
                ))?;
            }
            Ok(actions)
        }
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
