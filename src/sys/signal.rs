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

/// A signal set holding `signals` (1 to 64). Its bits are set directly: glibc's
/// `sigaddset` refuses 32 and 33 and musl's 32 to 34, and a set tend hands the kernel
/// must hold what tend asked for, whatever libc it is linked with.
fn set_of(signals: &[i32]) -> libc::sigset_t {
    let mut bits = 0u64;
    for &sig in signals {
        if (1..=64).contains(&sig) {
            bits |= 1 << (sig - 1);
        }
    }
    from_bits(bits)
}

/// A `sigset_t` whose first word is `bits` (signal n is bit n - 1), the rest empty.
fn from_bits(bits: u64) -> libc::sigset_t {
    // A long is 64 bits and the set starts with one (see the guard in `sys`).
    const _: () = assert!(
        std::mem::size_of::<libc::c_ulong>() == 8
            && std::mem::size_of::<libc::sigset_t>() >= 8
            && std::mem::align_of::<libc::sigset_t>() >= 8
    );
    // SAFETY: sigset_t is plain data (all zeroes is the empty set), an array of unsigned
    // longs on Linux, checked above to start with an aligned 64-bit word.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        *(&mut set as *mut libc::sigset_t).cast::<u64>() = bits;
        set
    }
}

/// The signals glibc and musl keep for their threads, which tend never catches: their
/// wrappers will not block them (glibc) or hide them from an old mask (musl), and a
/// thread of theirs may need them. musl keeps 34 too, which tend catches (see `posix_spawn`).
pub const LIBC_RESERVED: [i32; 2] = [32, 33];

/// Runs `call` and then gives the calling thread back the mask it had before, as the
/// kernel held it: for libc calls that restore a mask of their own making.
pub fn keeping_thread_mask<T>(call: impl FnOnce() -> T) -> io::Result<T> {
    let mut before = set_of(&[]);
    thread_mask(libc::SIG_BLOCK, &set_of(&[]), Some(&mut before))?;
    let result = call();
    // With SIG_SETMASK and a set the kernel gave, it cannot fail.
    let _ = thread_mask(libc::SIG_SETMASK, &before, None);
    Ok(result)
}

/// Every signal, 1 to 64, reserved ones included: the set of signals posix_spawn resets
/// to default (see `posix_spawn`).
pub fn every_signal() -> libc::sigset_t {
    from_bits(u64::MAX)
}

/// rt_sigprocmask(2) on the calling thread, as the kernel does it. Not libc's: glibc's
/// drops 32 and 33 from what it blocks, and musl's hides 32 to 34 from the old mask it
/// returns, so that restoring it would unblock 34, which tend reads from its signalfd.
fn thread_mask(
    how: libc::c_int,
    set: &libc::sigset_t,
    old: Option<&mut libc::sigset_t>,
) -> io::Result<()> {
    let old = old.map_or(std::ptr::null_mut(), |old| old as *mut libc::sigset_t);
    // SAFETY: `set` is valid for reads and `old` null or valid for writes of the 8 bytes
    // the kernel's mask takes (a sigset_t is at least that); both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            set as *const libc::sigset_t,
            old,
            8usize,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `signals` the exact signal mask of the calling thread (of tend, on its only
/// thread): SETMASK, so that nothing inherited stays blocked.
pub fn set_mask(signals: &[i32]) -> io::Result<()> {
    thread_mask(libc::SIG_SETMASK, &set_of(signals), None)
}

/// Runs `start` with every signal blocked on the calling thread, then restores the
/// thread's mask. A thread started in `start` begins with every signal blocked (a thread
/// inherits its creator's mask), so that no signal meant for tend's signalfd, nor a
/// signal at its default action, is ever delivered to it, not even before its first
/// instruction. Signals that come meanwhile stay pending for the caller.
pub fn with_all_blocked<T>(start: impl FnOnce() -> T) -> io::Result<T> {
    let mut old = set_of(&[]);
    thread_mask(libc::SIG_SETMASK, &full_set(), Some(&mut old))?;
    let started = start();
    // Restores the mask read above: with SIG_SETMASK and a valid set it cannot fail.
    let _ = thread_mask(libc::SIG_SETMASK, &old, None);
    Ok(started)
}

/// Every signal but `LIBC_RESERVED` (as the libcs' own full sets; the kernel ignores KILL
/// and STOP in a mask). 34 is in it: with musl, whose sigfillset leaves 34 out too, a
/// thread that left it unblocked would take a 34 meant for tend's signalfd, and die of it.
fn full_set() -> libc::sigset_t {
    let all: Vec<i32> = (1..=64)
        .filter(|sig| !LIBC_RESERVED.contains(sig))
        .collect();
    set_of(&all)
}

/// Blocks `signals` on the calling thread only (tests that must not disturb the others).
#[cfg(test)]
pub fn block_on_this_thread(signals: &[i32]) -> io::Result<()> {
    thread_mask(libc::SIG_BLOCK, &set_of(signals), None)
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
    let _ = thread_mask(libc::SIG_SETMASK, &set_of(&[]), None);
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
