//! The fast way to start a child that needs nothing between fork and exec: posix_spawnp,
//! which glibc implements with a vfork (tend's memory is neither copied nor faulted in).
//!
//! std's `Command` would use posix_spawn too, but it lets the child inherit the signal
//! mask, and tend runs with every handled signal blocked (see `signals`). Here the child
//! gets its own process group, an empty mask and every disposition at default: SIGPIPE,
//! which tend ignores, any signal tend inherited ignored, and glibc's own 32 and 33.
//! Naming them all also spares the vfork child, which tend waits for, glibc's query of
//! each signal's disposition before setting it: half of the 128 system calls it makes
//! between vfork and exec.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use super::exec::{c_string, null_terminated};

extern "C" {
    static environ: *const *mut libc::c_char;
}

/// Starts `program` (searched in PATH when it has no '/') with `args` and tend's
/// environment, in `dir` when given; a `helper` reads /dev/null and writes its stdout to
/// tend's stderr, or its stdout and stderr to `output` when given. Returns the pid, or the
/// error exec gave.
pub fn spawn(
    program: &OsStr,
    args: &[OsString],
    helper: bool,
    output: Option<RawFd>,
    dir: Option<&std::path::Path>,
) -> io::Result<i32> {
    let argv = std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .map(|arg| c_string(arg.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let argv_ptrs = null_terminated(&argv);
    let attrs = Attrs::new()?;
    let dir = dir
        .map(|dir| c_string(dir.as_os_str().as_bytes()))
        .transpose()?;
    let actions = FileActions::new(helper, output, dir.as_deref())?;
    let mut pid: libc::pid_t = 0;
    // Safety: every pointer is valid for the call: the C strings outlive it, argv ends
    // with a null, environ is libc's own; attrs and actions were initialised by their
    // constructors.
    let rc = unsafe {
        libc::posix_spawnp(
            &mut pid,
            argv[0].as_ptr(),
            &actions.0,
            &attrs.0,
            argv_ptrs.as_ptr().cast(),
            environ,
        )
    };
    match rc {
        0 => Ok(pid),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// posix_spawn attributes: own process group, empty mask, every signal at default.
struct Attrs(libc::posix_spawnattr_t);

impl Attrs {
    fn new() -> io::Result<Self> {
        // Safety: initialised by posix_spawnattr_init before any other use; sets made
        // with sigemptyset/sigaddset on zeroed storage.
        unsafe {
            let mut attrs = Attrs(std::mem::zeroed());
            check(libc::posix_spawnattr_init(&mut attrs.0))?;
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            check(libc::posix_spawnattr_setsigmask(&mut attrs.0, &set))?;
            libc::sigfillset(&mut set);
            add_reserved_signals(&mut set);
            check(libc::posix_spawnattr_setsigdefault(&mut attrs.0, &set))?;
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

/// Adds 32 and 33 to `set`. glibc reserves them for its threads, so `sigfillset` and
/// `sigaddset` leave them out, and its posix_spawn sets every signal it is not asked to
/// default, and that is blocked in the vfork child (all are), to ignored: a child would
/// exec with both ignored, and keep them so. posix_spawn's own test of the default set
/// is a plain bit test, so the bits are set directly (signal n is bit n - 1).
fn add_reserved_signals(set: &mut libc::sigset_t) {
    // The first word holds signals 1 to 64 only where a long has 64 bits.
    const _: () = assert!(
        std::mem::size_of::<libc::c_ulong>() == 8
            && std::mem::size_of::<libc::sigset_t>() >= 8
            && std::mem::align_of::<libc::sigset_t>() >= 8
    );
    // Safety: sigset_t is an array of unsigned longs on Linux (checked above to be 64-bit
    // and aligned for u64); the first holds signals 1 to 64.
    let first = unsafe { &mut *(set as *mut libc::sigset_t).cast::<u64>() };
    *first |= (1 << 31) | (1 << 32);
}

impl Drop for Attrs {
    fn drop(&mut self) {
        // Safety: initialised in `new`.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// For a helper: stdin from /dev/null, stdout onto tend's stderr (tend's stdout belongs
/// to the child), or stdout and stderr onto `output`. For any: the directory to start
/// in, once tend has left it for `/` (performed before the exec, so a relative program
/// name resolves there).
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new(helper: bool, output: Option<RawFd>, dir: Option<&std::ffi::CStr>) -> io::Result<Self> {
        // Safety: initialised before use; the paths are C strings, which glibc copies.
        unsafe {
            let mut actions = FileActions(std::mem::zeroed());
            check(libc::posix_spawn_file_actions_init(&mut actions.0))?;
            if helper {
                check(libc::posix_spawn_file_actions_addopen(
                    &mut actions.0,
                    0,
                    c"/dev/null".as_ptr(),
                    libc::O_RDONLY,
                    0,
                ))?;
                match output {
                    Some(fd) => {
                        check(libc::posix_spawn_file_actions_adddup2(
                            &mut actions.0,
                            fd,
                            1,
                        ))?;
                        check(libc::posix_spawn_file_actions_adddup2(
                            &mut actions.0,
                            fd,
                            2,
                        ))?;
                    }
                    None => check(libc::posix_spawn_file_actions_adddup2(&mut actions.0, 2, 1))?,
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
        // Safety: initialised in `new`.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_is_an_error_not_a_panic() {
        let error = spawn(OsStr::new("/bin/tr\0ue"), &[], false, None, None).expect_err("NUL");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
