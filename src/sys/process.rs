//! Signalling and waiting for processes, and tend's own exit.

use std::io;

use nix::errno::Errno;

/// kill(2): `sig` (0 only checks) to `pid`, to the group `-pid`, or with -1 to every
/// process the caller may signal. Not nix's `kill`, whose `Signal` has no real-time
/// signals. Async-signal-safe.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: a plain system call on integers; it touches no memory of ours.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One `waitpid(-1, WNOHANG)`: the pid and its raw wait status, `Err(EAGAIN)` when
/// children live but none has changed state, `Err(ECHILD)` when there is none. libc's
/// call rather than nix's, whose decoding fails with EINVAL on a real-time signal after
/// the kernel has already handed over (and forgotten) the status.
pub fn wait_any() -> Result<(i32, i32), Errno> {
    let mut status = 0;
    // SAFETY: the status goes into a local that outlives the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => Err(Errno::last()),
        0 => Err(Errno::EAGAIN),
        pid => Ok((pid, status)),
    }
}

/// Whether the caller has any child, running or zombie. `WNOWAIT` leaves the status for
/// whoever reaps: this collects nothing.
pub fn has_children() -> bool {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::WSTOPPED | libc::WCONTINUED;
    // SAFETY: waitid only writes into the local siginfo_t, which outlives the call.
    (unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) }) == 0
}

/// Ends the process at once with `code`, without libc's exit handlers or flushing.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit only ends the process; nothing of ours runs after it.
    unsafe { libc::_exit(code) }
}

/// How many CPUs this process may run on (sched_getaffinity); None when it cannot tell.
pub fn cpus_allowed() -> Option<usize> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most the size given into the local set.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return None;
    }
    // SAFETY: CPU_COUNT only reads the set it is given, which the kernel filled.
    Some(unsafe { libc::CPU_COUNT(&set) } as usize)
}

/// Makes every thread allocate from glibc's main arena. By default glibc gives each new
/// thread an arena of its own, up to 8 per CPU of the host (not of the container): each
/// reserves 64 MiB and keeps some 17 kB resident, and a thread gets one as soon as it
/// frees anything (std's thread start does). tend's threads are few and allocate little
/// (output copiers, name lookups), so sharing one lock costs nothing. Returns false
/// when glibc refused. musl's allocator has no arenas per thread: nothing to do there.
pub fn one_malloc_arena() -> bool {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes a setting of the allocator; a new value applies to the
    // arenas it makes from then on.
    return unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) == 1 };
    #[cfg(not(target_env = "gnu"))]
    true
}
