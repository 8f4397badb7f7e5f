//! Starting a process the way an init must: its own process group (or session), the
//! terminal's foreground when there is one, default signal dispositions, an empty signal
//! mask, no file descriptor beyond 0, 1 and 2, and optionally another user, with fds 1
//! and 2 replaced when asked (`SpawnSpec::stdout`, `stderr`).
//!
//! Only the reaper calls `spawn` (see `Reaper::spawn`), so that a pid is registered before
//! its exit can be collected.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use super::exec::c_string;
use crate::exit_code::ExitCode;
use crate::sys;
use crate::sys::exec::CStrings;
use crate::sys::fork::{Ids, Setup};
use crate::sys::posix_spawn;

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
    /// that becomes its stdout and stderr. The helper gets copies of its own: the output
    /// ends once the helper and everything holding the spec are gone.
    pub output: Option<Arc<OwnedFd>>,
    /// What becomes the process's stdout (fd 1) and stderr (fd 2) instead of tend's (a
    /// service whose output is prefixed: `process::output`); for a helper, instead of what
    /// `helper` and `output` give. The process gets its own copies: as with `output`, the
    /// writer's end is closed once the process, its descendants and every spec holding
    /// it are gone, so a spec kept for restarts keeps the pipe open.
    pub stdout: Option<Arc<OwnedFd>>,
    pub stderr: Option<Arc<OwnedFd>>,
    /// Set no_new_privs before exec (TEND_NO_NEW_PRIVS): no setuid or file-capability gain.
    pub no_new_privs: bool,
    /// Where it starts (a service's `_WORKDIR`); None: the directory tend started in.
    pub cwd: Option<PathBuf>,
    /// Variables added to (or replacing in) its environment (a service's `_ENV`).
    pub env: Vec<(String, String)>,
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
            stdout: None,
            stderr: None,
            no_new_privs: false,
            cwd: None,
            env: Vec::new(),
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
    if spec.argv.is_empty() {
        return Err(SpawnError::NotFound(empty_command()));
    }
    let started = if needs_setup(spec) {
        fork_and_exec(spec)
    } else {
        spawn_without_setup(spec)
    };
    started.map_err(SpawnError::from_io)
}

/// The fast way, through posix_spawn (a vfork): see `sys::posix_spawn`.
fn spawn_without_setup(spec: &SpawnSpec) -> io::Result<i32> {
    let argv = CStrings::new(
        spec.argv
            .iter()
            .map(|arg| c_string(arg.as_bytes()))
            .collect::<io::Result<Vec<_>>>()?,
    );
    let dir = start_dir(spec)
        .map(|dir| c_string(dir.as_os_str().as_bytes()))
        .transpose()?;
    let tends_stderr = io::stderr();
    let tends_stderr = tends_stderr.as_fd();
    let stdio = posix_spawn::Stdio {
        null_stdin: spec.helper,
        stdout: stdout_of(spec).map(|to| to.fd(tends_stderr)),
        stderr: stderr_of(spec).map(|to| to.fd(tends_stderr)),
    };
    close_inherited_fds_once();
    posix_spawn::spawn(&argv, stdio, dir.as_deref())
}

/// The slow way, through std's fork: `sys::fork` runs the setup between fork and exec,
/// then execs the program itself (`exec::program`), so that std's execvp, which runs a
/// script without `#!` with /bin/sh, is never reached.
fn fork_and_exec(spec: &SpawnSpec) -> io::Result<i32> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(empty_command());
    };
    let home = spec.credentials.as_ref().and_then(|c| c.home.as_deref());
    let executable = super::exec::program_with(&spec.argv, home, &spec.env)?;
    let mut command = Command::new(program);
    command.args(args);
    // std changes directory in the child before the setup and the exec, so a relative
    // program name or PATH entry resolves as it would have in tend's starting directory.
    if let Some(dir) = start_dir(spec) {
        command.current_dir(dir);
    }
    if spec.helper {
        command.stdin(Stdio::null());
    }
    // Copies of their own, which std closes in tend once the child is started.
    let tends_stderr = io::stderr();
    let tends_stderr = tends_stderr.as_fd();
    if let Some(to) = stdout_of(spec) {
        command.stdout(to.fd(tends_stderr).try_clone_to_owned()?);
    }
    if let Some(to) = stderr_of(spec) {
        command.stderr(to.fd(tends_stderr).try_clone_to_owned()?);
    }
    let setup = Setup {
        session: spec.isolation == Isolation::Session,
        foreground: spec.foreground,
        ids: spec.credentials.as_ref().map(|c| Ids {
            uid: c.uid,
            gid: c.gid,
            groups: c.groups.clone(),
        }),
        no_new_privs: spec.no_new_privs
            || spec.credentials.as_ref().is_some_and(|c| c.no_new_privs),
    };
    sys::fork::spawn(command, setup, executable)
}

/// What replaces fd 1 or fd 2 of the new process.
#[derive(Clone, Copy)]
enum Redirect<'a> {
    To(&'a OwnedFd),
    /// tend's own stderr: a helper's stdout when nothing captures it (tend's stdout
    /// belongs to the child).
    TendsStderr,
}

impl<'a> Redirect<'a> {
    fn fd(self, tends_stderr: BorrowedFd<'a>) -> BorrowedFd<'a> {
        match self {
            Redirect::To(fd) => fd.as_fd(),
            Redirect::TendsStderr => tends_stderr,
        }
    }
}

/// What replaces the process's fd 1, `None` for tend's own stdout.
fn stdout_of(spec: &SpawnSpec) -> Option<Redirect<'_>> {
    match (&spec.stdout, &spec.output) {
        (Some(fd), _) => Some(Redirect::To(fd)),
        (None, Some(fd)) if spec.helper => Some(Redirect::To(fd)),
        (None, _) if spec.helper => Some(Redirect::TendsStderr),
        (None, _) => None,
    }
}

/// What replaces the process's fd 2, `None` for tend's own stderr.
fn stderr_of(spec: &SpawnSpec) -> Option<Redirect<'_>> {
    match (&spec.stderr, &spec.output) {
        (Some(fd), _) => Some(Redirect::To(fd)),
        (None, Some(fd)) if spec.helper => Some(Redirect::To(fd)),
        _ => None,
    }
}

fn empty_command() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "empty command")
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
        // The environment of its own is built before the fork on this path (`exec`).
        || !spec.env.is_empty()
}

/// The directory a process starts in: its own, else the one tend started in (once tend
/// has left it), else tend's.
fn start_dir(spec: &SpawnSpec) -> Option<&Path> {
    spec.cwd.as_deref().or_else(|| super::workdir())
}

/// Makes every fd tend inherited above 2 close-on-exec, once, before the first
/// posix_spawn (the fork path does it in the child). Signals need nothing here:
/// posix_spawn sets every one to default, as `sys::posix_spawn` asks it to.
fn close_inherited_fds_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(sys::fd::close_on_exec_above_stdio);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_byte_is_an_error_not_a_panic_on_either_path() {
        for no_new_privs in [false, true] {
            let spec = SpawnSpec {
                no_new_privs,
                ..SpawnSpec::new(vec!["/bin/tr\0ue".into()])
            };
            assert_eq!(needs_setup(&spec), no_new_privs);
            let error = spawn(&spec).expect_err("NUL");
            assert_eq!(error.error().kind(), io::ErrorKind::InvalidInput);
            assert_eq!(error.reason(), "not_executable");
        }
        let empty = spawn(&SpawnSpec::new(Vec::new())).expect_err("empty");
        assert_eq!(empty.reason(), "not_found");
    }

    /// Which fd replaces the child's 1 and 2: tend's own by default; for a helper, its
    /// capture pipe or (stdout) tend's stderr; `stdout` and `stderr` over either.
    #[test]
    fn stdout_and_stderr_replace_what_a_helper_would_get() {
        fn fd() -> Arc<OwnedFd> {
            Arc::new(io::stderr().as_fd().try_clone_to_owned().expect("dup"))
        }
        fn shown(to: Option<Redirect<'_>>, named: &[(&OwnedFd, &'static str)]) -> &'static str {
            match to {
                None => "tend's",
                Some(Redirect::TendsStderr) => "tend's stderr",
                Some(Redirect::To(fd)) => named
                    .iter()
                    .find(|(candidate, _)| std::ptr::eq(*candidate, fd))
                    .map_or("another", |(_, name)| name),
            }
        }
        let (output, stdout, stderr) = (fd(), fd(), fd());
        let named = [
            (&*output, "output"),
            (&*stdout, "stdout"),
            (&*stderr, "stderr"),
        ];
        let cases = [
            (false, false, false, ("tend's", "tend's")),
            (false, true, false, ("tend's", "tend's")),
            (false, false, true, ("stdout", "stderr")),
            (true, false, false, ("tend's stderr", "tend's")),
            (true, true, false, ("output", "output")),
            (true, true, true, ("stdout", "stderr")),
        ];
        for (helper, with_output, redirected, expected) in cases {
            let spec = SpawnSpec {
                helper,
                output: with_output.then(|| Arc::clone(&output)),
                stdout: redirected.then(|| Arc::clone(&stdout)),
                stderr: redirected.then(|| Arc::clone(&stderr)),
                ..SpawnSpec::new(vec!["true".into()])
            };
            let got = (
                shown(stdout_of(&spec), &named),
                shown(stderr_of(&spec), &named),
            );
            assert_eq!(got, expected, "helper {helper}, output {with_output}");
        }
    }

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
