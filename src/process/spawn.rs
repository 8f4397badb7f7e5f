//! Starting a process the way an init must: its own process group (or session), the
//! terminal's foreground when there is one, default signal dispositions, an empty signal
//! mask, no file descriptor beyond 0, 1 and 2, and optionally another user.
//!
//! Only the reaper calls `spawn` (see `Reaper::spawn`), so that a pid is registered before
//! its exit can be collected.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::exec::Program;
use crate::exit_code::ExitCode;

/// What kind of process group the new process gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A new process group in tend's session (keeps the controlling terminal usable).
    ProcessGroup,
    /// A new session, hence a new process group and no controlling terminal.
    Session,
}

/// Resolved identity to switch to before exec (root only).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: Option<OsString>,
    /// Set no_new_privs after the switch (TEND_NO_NEW_PRIVS), for the child and exec probes.
    pub no_new_privs: bool,
}

#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub argv: Vec<OsString>,
    pub isolation: Isolation,
    /// Give the new process group the terminal on stdin (ignored when there is none).
    pub foreground: bool,
    pub credentials: Option<Credentials>,
    /// A helper (hook, exec probe): stdin from /dev/null and stdout onto tend's stderr,
    /// because tend's stdout belongs to the child.
    pub helper: bool,
    /// For a helper whose output tend captures (exec probes): the write end of a pipe
    /// that becomes its stdout and stderr. The caller keeps it open until `spawn` returns.
    pub output: Option<RawFd>,
    /// Set no_new_privs before exec (TEND_NO_NEW_PRIVS): no setuid or file-capability gain.
    pub no_new_privs: bool,
}

impl SpawnSpec {
    pub fn new(argv: Vec<OsString>) -> Self {
        SpawnSpec {
            argv,
            isolation: Isolation::ProcessGroup,
            foreground: false,
            credentials: None,
            helper: false,
            output: None,
            no_new_privs: false,
        }
    }
}

/// Why a command could not be started, with the exit code a shell would give.
#[derive(Debug)]
pub enum SpawnError {
    NotFound(io::Error),
    NotExecutable(io::Error),
    /// No process could be created (EAGAIN: a process limit such as RLIMIT_NPROC or the
    /// cgroup's pids.max; ENOMEM): nothing is wrong with the command itself.
    NoProcess(io::Error),
}

impl SpawnError {
    /// Sorts an error from fork, exec or posix_spawn.
    pub fn from_io(error: io::Error) -> SpawnError {
        match error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => SpawnError::NotFound(error),
            Some(libc::EAGAIN) | Some(libc::ENOMEM) => SpawnError::NoProcess(error),
            _ => SpawnError::NotExecutable(error),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::NotFound(_) => ExitCode::NotFound as i32,
            SpawnError::NotExecutable(_) | SpawnError::NoProcess(_) => {
                ExitCode::NotExecutable as i32
            }
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            SpawnError::NotFound(_) => "not_found",
            SpawnError::NotExecutable(_) => "not_executable",
            SpawnError::NoProcess(_) => "no_process",
        }
    }

    pub fn error(&self) -> &io::Error {
        match self {
            SpawnError::NotFound(e) | SpawnError::NotExecutable(e) | SpawnError::NoProcess(e) => e,
        }
    }

    /// The sentence for a `spawn_failed` event about `program`. Only a bare name was
    /// looked up in PATH, so only a bare name gets the hint about PATH.
    pub fn message(&self, program: &str) -> String {
        let shown = crate::shown::quoted(program);
        match self {
            SpawnError::NoProcess(_) => format!(
                "cannot run {shown}: {self} (a process limit such as RLIMIT_NPROC or \
                 pids.max, or memory, is exhausted)"
            ),
            _ if program.contains('/') => format!("cannot run {shown}: {self}"),
            _ => format!(
                "cannot run {shown}: {self} (a name without '/' is looked up in the \
                 directories of PATH)"
            ),
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::NoProcess(error) => {
                let name = match error.raw_os_error() {
                    Some(libc::EAGAIN) => "EAGAIN",
                    _ => "ENOMEM",
                };
                write!(f, "no process could be created ({name}: {error})")
            }
            _ => write!(f, "{}", self.error()),
        }
    }
}

/// Starts the process. The caller must hold the reaper's registry lock.
pub(super) fn spawn(spec: &SpawnSpec) -> Result<i32, SpawnError> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(SpawnError::NotFound(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command",
        )));
    };
    let started = if needs_setup(spec) {
        fork_and_exec(spec, program, args)
    } else {
        close_inherited_fds_once();
        super::posix_spawn::spawn(program, args, spec.helper, spec.output, super::workdir())
    };
    started.map_err(SpawnError::from_io)
}

/// The slow way, through std's fork: `child_setup` runs between fork and exec, then the
/// closure execs the program itself (`exec::Program`), so that std's execvp, which runs a
/// script without `#!` with /bin/sh, is never reached. An exec error goes back to the
/// parent through std's pipe, as the closure's error.
fn fork_and_exec(spec: &SpawnSpec, program: &OsString, args: &[OsString]) -> io::Result<i32> {
    let home = spec.credentials.as_ref().and_then(|c| c.home.as_deref());
    let executable = Program::new(&spec.argv, home)?;
    let mut command = Command::new(program);
    command.args(args);
    // std changes directory in the child before `child_setup` and the exec, so a relative
    // program name or PATH entry resolves as it would have in tend's starting directory.
    if let Some(dir) = super::workdir() {
        command.current_dir(dir);
    }
    if spec.helper {
        command.stdin(Stdio::null());
        match spec.output {
            Some(fd) => {
                // Safety: the caller keeps `fd` open until spawn returns (see `output`).
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                command.stdout(fd.try_clone_to_owned()?);
                command.stderr(fd.try_clone_to_owned()?);
            }
            None => {
                command.stdout(io::stderr().as_fd().try_clone_to_owned()?);
            }
        }
    }
    let isolation = spec.isolation;
    let foreground = spec.foreground;
    let credentials = spec.credentials.clone();
    let no_new_privs = spec.no_new_privs;
    // Safety: the closure runs between fork and exec and only makes async-signal-safe
    // system calls; everything it needs was allocated above, before the fork.
    unsafe {
        command.pre_exec(move || {
            child_setup(isolation, foreground, credentials.as_ref(), no_new_privs)?;
            Err(executable.exec())
        });
    }
    // Dropping `Child` neither waits nor kills: the reaper owns the exit status.
    command.spawn().map(|child| child.id() as i32)
}

/// Whether the child needs work between fork and exec that posix_spawn cannot do: a
/// session, the terminal, a user switch or no_new_privs. The common case (own process
/// group, tend's own user) needs none, and skipping the fork spares every start the
/// copy-on-write faults of tend's whole address space.
fn needs_setup(spec: &SpawnSpec) -> bool {
    spec.isolation != Isolation::ProcessGroup
        || spec.foreground
        || spec.credentials.is_some()
        || spec.no_new_privs
}

/// Makes every fd tend inherited above 2 close-on-exec, once, before the first
/// posix_spawn (the fork path does it in the child). Signals need nothing here:
/// posix_spawn sets every one to default, as `posix_spawn` asks it to.
fn close_inherited_fds_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    // Safety: plain system calls on tend's own process.
    DONE.call_once(|| unsafe { close_inherited_fds() });
}

/// The kernel's `struct sigaction` for rt_sigaction(2): asm-generic's layout with
/// `sa_restorer`, as on x86_64 and aarch64 (flags an unsigned long, a 64-bit mask).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

// Other architectures lay it out differently (mips puts the flags first, alpha and sparc
// have their own; 32-bit ones have 4-byte longs): check the kernel's uapi before adding one.
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!("KernelSigaction matches the kernel's struct sigaction on x86_64 and aarch64 only");
const _: () = assert!(std::mem::size_of::<KernelSigaction>() == 32);

/// Runs in the child after fork. Async-signal-safe calls only.
fn child_setup(
    isolation: Isolation,
    foreground: bool,
    credentials: Option<&Credentials>,
    no_new_privs: bool,
) -> io::Result<()> {
    unsafe {
        match isolation {
            Isolation::Session => check(libc::setsid())?,
            Isolation::ProcessGroup => check(libc::setpgid(0, 0))?,
        };
        if foreground && libc::isatty(libc::STDIN_FILENO) == 1 {
            // A background group asking for the terminal gets SIGTTOU unless it ignores it.
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
            // ENOTTY/ENXIO/EPERM: no usable terminal; the child runs without job control.
            libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpgrp());
        }
        reset_signals();
        if let Some(c) = credentials {
            check(libc::setgroups(c.groups.len(), c.groups.as_ptr()))?;
            check(libc::setgid(c.gid))?;
            check(libc::setuid(c.uid))?;
        }
        if no_new_privs || credentials.is_some_and(|c| c.no_new_privs) {
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        close_inherited_fds();
    }
    Ok(())
}

/// Default dispositions for every signal and an empty mask: ignored dispositions survive
/// exec, and a child that inherits `SIGTTOU` ignored or `SIGTERM` blocked misbehaves.
pub(super) unsafe fn reset_signals() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_default(sig);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
}

/// Sets `sig` to its default action. The raw system call (async-signal-safe), because
/// glibc's wrapper refuses the two real-time signals it reserves (32, 33), and an ignored
/// 32 inherited from tend's parent would still leak.
pub(super) unsafe fn set_default(sig: i32) {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    libc::syscall(
        libc::SYS_rt_sigaction,
        sig,
        &default as *const KernelSigaction,
        std::ptr::null_mut::<KernelSigaction>(),
        8usize,
    );
}

/// Marks every fd above 2 close-on-exec. Closing them outright would also close the pipe
/// through which std reports exec errors (ENOENT → 127), so close-on-exec it is.
unsafe fn close_inherited_fds() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) == 0 {
        return;
    }
    // Kernels before 5.11: walk up to the fd limit.
    let mut limit: libc::rlimit = std::mem::zeroed();
    let max = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
        limit.rlim_cur.min(1 << 20) as i32
    } else {
        1024
    };
    for fd in 3..max {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

fn check(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_hint_is_only_for_bare_names() {
        let not_found = || SpawnError::from_io(io::Error::from_raw_os_error(libc::ENOENT));
        let denied = || SpawnError::from_io(io::Error::from_raw_os_error(libc::EACCES));
        for error in [not_found(), denied()] {
            assert!(error.message("app").contains("PATH"));
            for named in ["./app", "/usr/bin/app", "bin/app"] {
                let message = error.message(named);
                assert!(!message.contains("PATH"), "{message}");
                assert!(message.starts_with(&format!("cannot run \"{named}\": ")));
            }
        }
    }
}
