//! The few I/O calls that neither std nor nix (with the features tend builds it with)
//! wraps.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL: never blocks, never raises SIGPIPE.
pub fn send_nowait(socket: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: reads at most `buf.len()` bytes from the valid buffer.
    let n = unsafe {
        libc::send(
            socket.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Waits up to `ms` milliseconds until `fd` takes more bytes.
pub fn poll_writable(fd: BorrowedFd<'_>, ms: libc::c_int) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, which outlives the call.
    unsafe { libc::poll(&mut poll, 1, ms) == 1 && poll.revents & libc::POLLOUT != 0 }
}

/// The pid and uid of the process at the other end of `stream` (SO_PEERCRED, as
/// recorded when it called listen or connect).
pub fn peer_credentials(stream: &UnixStream) -> io::Result<(i32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: the buffer is a ucred and `len` its size; the kernel writes at most that.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((cred.pid, cred.uid))
}

/// Fills `buf` from the kernel's generator without waiting for entropy (GRND_NONBLOCK,
/// for early boot); false when it could not (a seccomp filter, too early).
pub fn random(buf: &mut [u8]) -> bool {
    // SAFETY: getrandom writes at most `buf.len()` bytes into the valid buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    usize::try_from(n) == Ok(buf.len())
}
