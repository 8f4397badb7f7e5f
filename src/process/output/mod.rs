//! A service's output with its name before each line (`TEND_SERVICE_<NAME>_OUTPUT=prefix`),
//! as docker compose shows it: `web    | listening on :80`, the name padded to the width
//! the caller gives (the longest prefixed service's name), then ` | `. A line of the
//! service's stdout goes to tend's stdout, one of its stderr to tend's stderr.
//!
//! Each stream is a pipe: the service writes into it (`SpawnSpec::stdout`, `stderr`), and
//! a thread of its own reads it, cuts it into lines (`lines`) and writes each line with
//! one `write` (up to PIPE_BUF, 4 KiB, a write to a pipe is never mixed with another's,
//! so the lines of two services do not interleave; longer lines are written whole as
//! far as the kernel allows). Threads, not tasks: a write to tend's stdout blocks when
//! whoever reads it is slow, and that must stall the copy alone, never the supervisor's
//! loop. The service then blocks on its own output once the pipe is full, as it would
//! have on tend's stdout. The threads start with every signal blocked (tend's signals go
//! to its signalfd), on a small stack, and allocate nothing while they copy: the line
//! buffer is made before they start. In RSS a prefixed service costs some 27 kB (release
//! build; `tests::rss_per_prefixed_service`): per stream, 8 kB of stack and a page of
//! line buffer, plus the thread's bookkeeping. musl's allocator shares one heap; a glibc
//! build is kept on glibc's one arena (see `one_malloc_arena_once`), or each thread would
//! take an arena of some 17 kB more.
//!
//! A thread ends when every writer of its pipe has closed it: the service and all its
//! descendants, and tend's own copies (the spec it was started with). Nothing waits for
//! it: it is detached, and tend's exit (`_exit`) ends it. Lines still in the pipe then are
//! lost, unless tend first calls `flush`, which waits, up to a deadline, for every copy to
//! finish (it can only once the writers are gone).
//!
//! When tend's stdout or stderr has no reader any more (EPIPE), the rest of that stream
//! is read and dropped, so that the service never blocks on it; another write error
//! drops the line. A description someone made non-blocking is waited on (poll) as a
//! blocking write would wait.

mod lines;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use nix::errno::Errno;

use super::spawn::SpawnSpec;
use crate::sys;
use lines::Lines;

/// A copier thread's stack: a few frames and the read buffer. Only the pages it touches
/// count in tend's RSS: two, the top one holding the thread's own data (the libc's).
const STACK: usize = 64 * 1024;

/// How much one read takes from the service's pipe. Small enough to sit on the stack page
/// the thread touches anyway: a page of 4 KiB on the heap cost 4 kB per stream more, and
/// a read per KiB costs little next to the write per line.
const READ_SIZE: usize = 1024;

/// The pipes of one service whose output is prefixed, and their copier threads.
pub struct Prefixed {
    /// The write ends, to become the service's fd 1 and fd 2 (close-on-exec here: the
    /// spawn duplicates them). Drop them once the service is started.
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub copier: Copier,
}

impl Prefixed {
    /// Makes the pipes and starts the copies to tend's own stdout and stderr, each line
    /// prefixed with `name` padded to `width`.
    /// The copies write through duplicates of fds 1 and 2 (the same open files).
    pub fn start(name: &str, width: usize) -> io::Result<Prefixed> {
        let stdout = io::stdout().as_fd().try_clone_to_owned();
        let stdout = stdout.map_err(|e| failed("cannot duplicate tend's stdout (fd 1)", e))?;
        let stderr = io::stderr().as_fd().try_clone_to_owned();
        let stderr = stderr.map_err(|e| failed("cannot duplicate tend's stderr (fd 2)", e))?;
        Prefixed::start_to(name, width, stdout, stderr)
    }

    /// As `start`, with the lines of the service's stdout written to `stdout` and those of
    /// its stderr to `stderr` (each closed when its copy ends). An error says what could
    /// not be made (a pipe, a thread: EMFILE, EAGAIN), not for which service: the caller
    /// names it. Nothing is left behind.
    pub fn start_to(
        name: &str,
        width: usize,
        stdout: OwnedFd,
        stderr: OwnedFd,
    ) -> io::Result<Prefixed> {
        let (out_read, out_write) = pipe()?;
        let (err_read, err_write) = pipe()?;
        let prefix = lines::prefix(name, width);
        one_malloc_arena_once();
        let running = Arc::new(Running::new());
        // On an error the write ends are dropped here, so a thread already started reads
        // the end of its pipe and ends.
        sys::signal::with_all_blocked(|| {
            start_copy(out_read, stdout, &prefix, &running)?;
            start_copy(err_read, stderr, &prefix, &running)
        })
        .map_err(|e| failed("cannot block the signals of its copier threads", e))??;
        Ok(Prefixed {
            stdout: out_write,
            stderr: err_write,
            copier: Copier { running },
        })
    }

    /// Makes the write ends `spec`'s stdout and stderr, and gives back the copier. Drop
    /// the spec once the service is started: while it lives, so does the output.
    pub fn redirect(self, spec: &mut SpawnSpec) -> Copier {
        spec.stdout = Some(Arc::new(self.stdout));
        spec.stderr = Some(Arc::new(self.stderr));
        self.copier
    }
}

/// The two copies of one service's output. Dropping it changes nothing: they run on.
pub struct Copier {
    #[cfg_attr(not(test), allow(dead_code))]
    running: Arc<Running>,
}

impl Copier {
    /// (The run waits for every copier at once, with `flush`.)
    /// Waits until both copies have ended (every writer gone, every line written), or
    /// until `deadline`; true when they have. Blocks the calling thread.
    #[cfg(test)]
    pub fn wait(&self, deadline: Instant) -> bool {
        self.running.wait(deadline)
    }
}

/// Waits until every copy of every service has ended, or until `deadline`; true when
/// they have. For tend's exit, once the services are gone (and the specs that held their
/// pipes): what they wrote last is then written before tend leaves. Blocks the calling
/// thread, which is why it takes a deadline.
pub fn flush(deadline: Instant) -> bool {
    ALL.wait(deadline)
}

/// Every copier thread still running.
static ALL: Running = Running::new();

/// A count of running threads, and a way to wait for it to reach 0.
struct Running {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Running {
    const fn new() -> Running {
        Running {
            count: Mutex::new(0),
            changed: Condvar::new(),
        }
    }

    fn add(&self) {
        *self.lock() += 1;
    }

    fn remove(&self) {
        let mut count = self.lock();
        *count = count.saturating_sub(1);
        self.changed.notify_all();
    }

    fn wait(&self, deadline: Instant) -> bool {
        let mut count = self.lock();
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            count = match self.changed.wait_timeout(count, left) {
                Ok((count, _)) => count,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }

    fn lock(&self) -> MutexGuard<'_, usize> {
        // A poisoned lock only means a panic elsewhere; the count itself is still sound.
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts a copier thread as running in its service's count and in `ALL` until dropped,
/// which its thread does when it ends, however it ends.
struct Counted(Arc<Running>);

impl Counted {
    fn new(running: &Arc<Running>) -> Counted {
        running.add();
        ALL.add();
        Counted(Arc::clone(running))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.remove();
        ALL.remove();
    }
}

/// Keeps the copier threads on glibc's main arena (see `sys::process::one_malloc_arena`):
/// each would otherwise cost an arena of its own, as much again as its stack.
fn one_malloc_arena_once() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        sys::process::one_malloc_arena();
    });
}

/// A pipe, both ends close-on-exec, blocking (the service expects a blocking stdout, and
/// the copier thread may wait).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| failed("cannot make a pipe for its output", e.into()))
}

/// `error` with what was being done when it came.
fn failed(doing: &str, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("{doing}: {error}"))
}

/// Starts the thread that copies `source` to `sink`, each line after `prefix`.
fn start_copy(
    source: OwnedFd,
    sink: OwnedFd,
    prefix: &[u8],
    running: &Arc<Running>,
) -> io::Result<()> {
    let lines = Lines::new(prefix);
    let counted = Counted::new(running);
    std::thread::Builder::new()
        .name("tend-output".into())
        .stack_size(STACK)
        .spawn(move || {
            let _counted = counted;
            copy(File::from(source), Sink::new(sink), lines);
        })
        .map(drop)
        .map_err(|e| failed("cannot start a thread to copy its output", e))
}

/// Reads `source` until every writer is gone, writing each line to `sink`.
fn copy(source: File, mut sink: Sink, mut lines: Lines) {
    let mut buf = [0u8; READ_SIZE];
    let mut write = |line: &[u8]| sink.write(line);
    loop {
        let read = match (&source).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => buf.get(..n).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Nothing else comes from a pipe's read; whatever it is, nothing more will.
            Err(_) => break,
        };
        lines.feed(read, &mut write);
    }
    lines.finish(&mut write);
}

/// Where a stream's lines go (tend's stdout or stderr).
struct Sink {
    fd: OwnedFd,
    /// No reader any more (EPIPE), or no descriptor: that never comes back, so the rest
    /// is dropped unwritten (each write would raise another SIGPIPE for tend to read).
    gone: bool,
}

impl Sink {
    fn new(fd: OwnedFd) -> Sink {
        Sink { fd, gone: false }
    }

    fn write(&mut self, line: &[u8]) {
        if self.gone {
            return;
        }
        if let Err(error) = write_all(self.fd.as_fd(), line) {
            self.gone = matches!(error, Errno::EPIPE | Errno::EBADF);
        }
    }
}

/// Writes the whole of `line`: in one write unless the kernel takes less (a pipe takes a
/// line of up to PIPE_BUF bytes whole).
fn write_all(fd: BorrowedFd<'_>, mut line: &[u8]) -> Result<(), Errno> {
    while !line.is_empty() {
        match nix::unistd::write(fd, line) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => line = line.get(n..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                sys::io::poll_writable(fd, -1);
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
