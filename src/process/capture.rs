//! A helper's output, captured through a pipe instead of reaching tend's stderr (exec
//! probes): the first `LIMIT` bytes are kept, the rest is read and dropped so that a
//! chatty probe never blocks on a full pipe, and no read ever blocks the supervisor.

use std::io;
use std::os::fd::OwnedFd;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// What is kept of a helper's stdout and stderr.
pub const LIMIT: usize = 4096;

/// After the helper's exit, what is already in the pipe is read up to this much more;
/// a daemon it left writing cannot keep tend reading.
const DRAIN_LIMIT: usize = 64 * 1024;

/// The read side of a helper's output pipe.
pub struct Capture {
    pipe: pipe::Receiver,
    kept: Vec<u8>,
    /// Bytes seen in all, kept or not.
    pub total: usize,
    open: bool,
}

/// A new pipe: the read side, and the write end to hand to the helper (both
/// close-on-exec; the spawn duplicates the write end onto the helper's stdout and stderr).
pub fn pipe() -> io::Result<(Capture, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let pipe = pipe::Receiver::from_owned_fd(read)?;
    let capture = Capture {
        pipe,
        kept: Vec::new(),
        total: 0,
        open: true,
    };
    Ok((capture, write))
}

impl Capture {
    /// Whether more output may come (some writer still holds the pipe).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Reads the next piece of output, waiting for it. Cancel-safe (a pipe read is).
    pub async fn read_some(&mut self) {
        let mut buf = [0u8; 4096];
        match self.pipe.read(&mut buf).await {
            Ok(0) | Err(_) => self.open = false,
            Ok(n) => self.keep(&buf[..n]),
        }
    }

    /// Reads what is already in the pipe without waiting, bounded (after the exit).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        let mut read = 0;
        while self.open && read < DRAIN_LIMIT {
            match self.pipe.try_read(&mut buf) {
                Ok(0) => self.open = false,
                Ok(n) => {
                    read += n;
                    self.keep(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.total = self.total.saturating_add(bytes.len());
        let room = LIMIT.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The kept output, for an excerpt.
    pub fn kept(&self) -> &[u8] {
        &self.kept
    }
}
