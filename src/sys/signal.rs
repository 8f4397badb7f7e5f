//! Signal masks, dispositions and signalfds. Signals are plain numbers here, not nix's
//! `Signal`: that enum has no real-time signals, and tend handles and forwards them all.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The kernel's `struct sigaction` for rt_sigaction(2): asm-generic's layout with
/// `sa_restorer`, as on x86_64 and aarch64 (flags an unsigned long, a 64-bit mask).
/// Other architectures lay it out differently (mips puts the flags first, alpha and sparc
/// have their own; 32-bit ones have 4-byte longs): see the guard in `sys`.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

const _: () = assert!(std::mem::size_of::<KernelSigaction>() == 32);

/// What the kernel writes per signal read from a signalfd: whole records of 128 bytes.
const _: () = assert!(std::mem::size_of::<libc::signalfd_siginfo>() == 128);

/// An empty record to read a signalfd into.
// SAFETY: signalfd_siginfo is plain integers; all zeroes is a valid value.
pub const NO_SIGINFO: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };

/// A signal set holding `signals`.
fn set_of(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before any use, and
    // sigaddset only sets bits in it (refusing numbers out of range).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in signals {
            libc::sigaddset(&mut set, sig);
        }
        set
    }
}

/// Makes `signals` the exact signal mask of the calling thread (of tend, on its only
/// thread): SETMASK, so that nothing inherited stays blocked.
pub fn set_mask(signals: &[i32]) -> io::Result<()> {
    let set = set_of(signals);
    // SAFETY: a valid, initialised set; no old mask is asked for.
    if unsafe { libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `start` with every signal blocked on the calling thread, then restores the
/// thread's mask. A thread started in `start` begins with every signal blocked (a thread
/// inherits its creator's mask), so that no signal meant for tend's signalfd, nor a
/// signal at its default action, is ever delivered to it, not even before its first
/// instruction. Signals that come meanwhile stay pending for the caller.
pub fn with_all_blocked<T>(start: impl FnOnce() -> T) -> io::Result<T> {
    let all = full_set();
    let mut old = set_of(&[]);
    // SAFETY: valid, initialised sets, which outlive the call.
    match unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) } {
        0 => {}
        errno => return Err(io::Error::from_raw_os_error(errno)),
    }
    let started = start();
    // SAFETY: restores the mask read above; with SIG_SETMASK and a valid set it cannot fail.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    Ok(started)
}

/// Every signal (glibc leaves out the two it reserves, 32 and 33; the kernel ignores
/// KILL and STOP in a mask).
fn full_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset initialises it before any use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        set
    }
}

/// Blocks `signals` on the calling thread only (tests that must not disturb the others).
#[cfg(test)]
pub fn block_on_this_thread(signals: &[i32]) -> io::Result<()> {
    let set = set_of(signals);
    // SAFETY: a valid, initialised set; no old mask is asked for.
    match unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// Makes the process ignore `sig`. Async-signal-safe.
pub fn ignore(sig: i32) {
    // SAFETY: SIG_IGN installs no code to run; the previous disposition is not needed.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// Sets `sig` to its default action. The raw system call (async-signal-safe), because
/// glibc's wrapper refuses the two real-time signals it reserves (32, 33), and an ignored
/// 32 inherited from tend's parent would still leak.
pub fn set_default(sig: i32) {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: the struct is the kernel's own layout (checked above and by the guard in
    // `sys`) and outlives the call; the size passed is that of the kernel's 64-bit mask;
    // SIG_DFL installs no code to run. The old action is not asked for.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &default as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
}

/// Default dispositions for every signal and an empty mask: ignored dispositions survive
/// exec, and a child that inherits `SIGTTOU` ignored or `SIGTERM` blocked misbehaves.
/// Async-signal-safe (it runs between fork and exec).
pub fn reset_all() {
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_default(sig);
        }
    }
    let empty = set_of(&[]);
    // SAFETY: a valid, initialised set; no old mask is asked for.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) };
}

/// A non-blocking, close-on-exec signalfd that reads `signals` (which must be blocked).
pub fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    let set = set_of(signals);
    // SAFETY: a valid, initialised set; -1 asks for a new descriptor.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by a successful signalfd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads as many signals as `batch` holds from a signalfd; returns how many came.
pub fn read_signals(fd: &OwnedFd, batch: &mut [libc::signalfd_siginfo]) -> io::Result<usize> {
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: reads at most the batch's own size into its memory, which is plain data.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            batch.as_mut_ptr().cast(),
            std::mem::size_of_val(batch),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel returns whole records only.
    Ok(n as usize / size)
}
