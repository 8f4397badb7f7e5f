//! tend's own stderr, written so that it can never stop the supervisor.
//!
//! The supervisor is one thread. If whoever reads tend's stderr stops reading (a stuck
//! log shipper, a `docker logs` pipe nobody drains), a blocking write to the full pipe
//! would freeze that thread: no signal forwarded, no force-kill at the timeout, no
//! reaping. So every log line is written without blocking; a line that does not fit is
//! dropped and counted, and the next line that fits is preceded by a `log_lines_dropped`
//! notice with the count.
//!
//! O_NONBLOCK cannot simply be set on fd 2: the child shares that open file description
//! and would start getting EAGAIN on its own writes. So tend writes through a description
//! of its own, made non-blocking, or with a call that cannot block, by what fd 2 is:
//! - a pipe or FIFO, and a terminal: a private description opened through
//!   `/proc/self/fd/2` (a terminal also by its name, with O_NOCTTY so that tend never
//!   takes it as its controlling terminal), with O_NONBLOCK. A terminal blocks a writer
//!   when its output is stopped (XOFF, `tcflow(TCOOFF)`, Ctrl-S) or nobody reads the
//!   other side of a pty; on a non-blocking description the kernel answers EAGAIN
//!   instead, also while the child is stuck in a write that holds the terminal's write
//!   lock (taken with a try-lock for a non-blocking writer). A terminal that cannot be
//!   reopened gets no line from tend: a lost line beats a frozen supervisor.
//! - a socket: `send` with MSG_DONTWAIT, non-blocking for that call alone.
//! - a regular file or /dev/null: fd 2 as is. Reopening a file would lose its append
//!   position, and neither waits for a reader.
//!
//! This rather than a writer thread with a bounded queue: no thread, no queue to drain
//! (tend leaves with `_exit`, and its last lines must be out by then), and each case above
//! cannot block by the kernel's own rules.

use std::fs::OpenOptions;
use std::io;
use std::io::IsTerminal;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// How long a line already partly written may wait for room to be finished (lines above
/// PIPE_BUF bytes can be written in parts); past it the rest is dropped.
const FINISH: Duration = Duration::from_millis(20);

pub struct Stderr {
    target: Target,
    json: bool,
    dropped: AtomicU64,
    /// A line was cut short: the next write starts on a fresh line.
    torn: AtomicBool,
}

enum Target {
    /// A private non-blocking description of the pipe or terminal on fd 2.
    Private(OwnedFd),
    /// A socket on fd 2: each `send` is non-blocking on its own.
    Socket,
    /// A file, /dev/null, or a pipe that could not be reopened (it has no reader, so a
    /// write fails at once): fd 2 as is.
    Plain,
    /// A terminal that could not be reopened: every line is dropped and counted.
    Nowhere,
}

impl Stderr {
    pub fn open(json: bool) -> Stderr {
        let tty = io::stderr().is_terminal();
        let target = match file_type(libc::STDERR_FILENO) {
            _ if tty => reopen_terminal().map_or(Target::Nowhere, Target::Private),
            Some(libc::S_IFIFO) => {
                reopen(Path::new("/proc/self/fd/2")).map_or(Target::Plain, Target::Private)
            }
            Some(libc::S_IFSOCK) => Target::Socket,
            _ => Target::Plain,
        };
        Stderr {
            target,
            json,
            dropped: AtomicU64::new(0),
            torn: AtomicBool::new(false),
        }
    }

    /// Writes one whole line (the formatter hands over one event per call).
    fn write_line(&self, line: &[u8]) {
        let dropped = self.dropped.load(Ordering::Relaxed);
        if self.torn.swap(false, Ordering::Relaxed) && !self.write_all(b"\n") {
            self.torn.store(true, Ordering::Relaxed);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if dropped > 0 {
            if !self.write_all(self.notice(dropped).as_bytes()) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.dropped.fetch_sub(dropped, Ordering::Relaxed);
        }
        if !self.write_all(line) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn notice(&self, count: u64) -> String {
        let now = super::rfc3339_millis(SystemTime::now());
        let message =
            format!("{count} lines of tend's log were dropped: stderr was full or stopped");
        if self.json {
            format!(
                "{{\"timestamp\":\"{now}\",\"level\":\"WARN\",\"event\":\"{}\",\
                 \"message\":\"{message}\",\"count\":{count}}}\n",
                super::Event::LogLinesDropped.name()
            )
        } else {
            format!(
                "{now}  WARN event=\"{}\" count={count} {message}\n",
                super::Event::LogLinesDropped.name()
            )
        }
    }

    /// True when all of `buf` was written; false when nothing or only a part could be.
    fn write_all(&self, mut buf: &[u8]) -> bool {
        // Set once part of the line went out: the rest may wait FINISH for room.
        let mut finish_by: Option<Instant> = None;
        while !buf.is_empty() {
            match self.write_once(buf) {
                Ok(0) => return self.cut(finish_by.is_some()),
                Ok(n) => {
                    buf = &buf[n..];
                    finish_by.get_or_insert_with(|| Instant::now() + FINISH);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match (&self.target, finish_by) {
                        (Target::Private(fd), Some(end)) if wait_writable(fd.as_fd(), end) => {}
                        _ => return self.cut(finish_by.is_some()),
                    }
                }
                Err(_) => return self.cut(finish_by.is_some()),
            }
        }
        true
    }

    /// Gives up on a line; when part of it went out, the next write starts a fresh line.
    fn cut(&self, started: bool) -> bool {
        if started {
            self.torn.store(true, Ordering::Relaxed);
        }
        false
    }

    fn write_once(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.target {
            Target::Private(fd) => Ok(nix::unistd::write(fd, buf)?),
            Target::Socket => crate::sys::io::send_nowait(io::stderr().as_fd(), buf),
            Target::Plain => Ok(nix::unistd::write(io::stderr(), buf)?),
            Target::Nowhere => Ok(0),
        }
    }
}

/// A private write-only, non-blocking description of the file at `path`.
fn reopen(path: &Path) -> Option<OwnedFd> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()
        .map(OwnedFd::from)
}

/// The terminal on fd 2, opened anew: through /proc, else by its name (found by
/// ttyname, and checked to be the same device).
fn reopen_terminal() -> Option<OwnedFd> {
    reopen(Path::new("/proc/self/fd/2")).or_else(|| {
        let name = terminal_name()?;
        let fd = reopen(&name)?;
        (device(fd.as_raw_fd())? == device(libc::STDERR_FILENO)?).then_some(fd)
    })
}

fn terminal_name() -> Option<std::path::PathBuf> {
    nix::unistd::ttyname(io::stderr()).ok()
}

fn device(fd: i32) -> Option<libc::dev_t> {
    nix::sys::stat::fstat(fd).ok().map(|stat| stat.st_rdev)
}

/// Waits until `fd` takes more bytes or `end` passes.
fn wait_writable(fd: BorrowedFd<'_>, end: Instant) -> bool {
    let left = end.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    crate::sys::io::poll_writable(fd, ms)
}

fn file_type(fd: i32) -> Option<libc::mode_t> {
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|stat| stat.st_mode & libc::S_IFMT)
}

static OUT: OnceLock<Stderr> = OnceLock::new();

/// Opens tend's stderr for `write` (once; later calls keep the first).
pub fn install(json: bool) {
    let _ = OUT.get_or_init(|| Stderr::open(json));
}

/// Writes one whole log line without blocking; what cannot be written is counted and
/// reported later, never retried on the blocking stderr.
pub fn write(line: &[u8]) {
    match OUT.get() {
        Some(out) => out.write_line(line),
        None => {
            let _ = io::Write::write_all(&mut io::stderr(), line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Close-on-exec, as every fd tend makes: tests that run in parallel spawn children
    /// and count their fds (`process::output`).
    fn pipe() -> (OwnedFd, OwnedFd) {
        use nix::fcntl::OFlag;
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).expect("pipe")
    }

    fn read_all(fd: &OwnedFd) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n @ 1..) = nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_full_pipe_drops_lines_and_counts_them() {
        let (reader, writer) = pipe();
        let stderr = Stderr {
            target: Target::Private(writer),
            json: true,
            dropped: AtomicU64::new(0),
            torn: AtomicBool::new(false),
        };
        let line = format!("{}\n", "x".repeat(1000));
        let start = Instant::now();
        for _ in 0..1000 {
            stderr.write_line(line.as_bytes());
        }
        assert!(start.elapsed() < Duration::from_secs(2), "never blocks");
        let dropped = stderr.dropped.load(Ordering::Relaxed);
        assert!(dropped > 0, "a 64 KiB pipe cannot take 1 MB");
        let first = read_all(&reader);
        assert!(
            first.lines().all(|l| l == &line[..1000]),
            "whole lines only"
        );
        stderr.write_line(b"after\n");
        let second = read_all(&reader);
        let notice = second.lines().next().expect("notice");
        let json: serde_json::Value = serde_json::from_str(notice).expect("json");
        assert_eq!(json["event"], "log_lines_dropped");
        assert_eq!(json["count"], dropped);
        assert_eq!(second.lines().nth(1), Some("after"));
        assert_eq!(stderr.dropped.load(Ordering::Relaxed), 0);
    }
}
