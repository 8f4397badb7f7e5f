//! File descriptors: owning what a system call returned, close-on-exec for whatever tend
//! inherited, and registration with tokio's reactor.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::NixPath;
use tokio::io::unix::AsyncFd;

/// nix's `openat`, with the new descriptor owned.
pub fn openat<P: ?Sized + NixPath>(
    dir: Option<RawFd>,
    path: &P,
    flags: OFlag,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(dir, path, flags, mode)?;
    // SAFETY: `fd` was just returned by a successful openat and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Marks every fd above 2 close-on-exec. Closing them outright would also close the pipe
/// through which std reports exec errors on the fork path (ENOENT → 127), so
/// close-on-exec it is. Async-signal-safe (it runs between fork and exec).
pub fn close_on_exec_above_stdio() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: a plain system call on integers; it changes only descriptor flags.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, CLOSE_RANGE_CLOEXEC) } == 0 {
        return;
    }
    // Kernels before 5.11: walk up to the fd limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the local struct, which outlives the call.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur.min(1 << 20) as i32
    } else {
        1024
    };
    for fd in 3..max {
        // SAFETY: F_SETFD on any number is harmless: EBADF where nothing is open.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Registers `fd` with tokio's reactor (which must be running).
pub fn async_fd(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
    // for the AsyncFd's whole life, and an OwnedFd always answers the same raw fd.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}
