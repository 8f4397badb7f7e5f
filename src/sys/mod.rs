//! Every `unsafe` call of tend, behind safe functions: each unsafe block says why it is
//! sound (`// SAFETY:`), and the rest of the program calls only what is exported here,
//! or nix's and std's own safe wrappers where they fit.
//!
//! Some of it rests on layouts that are not the same everywhere; the guard below refuses
//! to build where they have not been checked. This module uses nothing else of tend's.
//!
//! - `signal`: masks, dispositions (the raw `rt_sigaction`), signalfd.
//! - `process`: kill, the non-blocking waits, `_exit`, CPU affinity.
//! - `exec`: tend's environment, and execve over a prepared PATH search.
//! - `fork`: the fork path of spawning (what the child does between fork and exec).
//! - `posix_spawn`: the vfork path of spawning.
//! - `fd`: owning what a system call returned, close-on-exec, tokio's registration.
//! - `io`: the calls std and nix (with tend's features) do not wrap.

pub mod exec;
pub mod fd;
pub mod fork;
pub mod io;
pub mod posix_spawn;
pub mod process;
pub mod signal;

// What the code here assumes of the target, each checked for x86_64 and aarch64 Linux
// with musl (the static binary scripts/build-static.sh and scripts/release.sh build) and
// with glibc (cargo's host build, which the tests run):
// - the kernel's `struct sigaction` as `signal::KernelSigaction` lays it out (asm-generic
//   with `sa_restorer`; mips, alpha, sparc and the 32-bit ones differ);
// - `sigset_t` an array of 64-bit words, signals 1 to 64 in the first (`signal`);
// - `struct signalfd_siginfo` 128 bytes, read whole from a signalfd (`signal`);
// - the libc's reserved signals (glibc 32 and 33, musl 32 to 34): its sigaddset and
//   sigfillset leave them out, its posix_spawn resets them only when their bits are set
//   in the default set, and musl's pthread_sigmask hides them from the old mask it
//   returns (`signal`, `posix_spawn`); `environ`; ttyname_r; glibc's mallopt (`process`).
#[cfg(not(all(
    target_os = "linux",
    any(target_env = "musl", target_env = "gnu"),
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
compile_error!(
    "tend is checked on x86_64 and aarch64 Linux with musl and glibc only. For another \
     target, check against its kernel uapi and libc, then add it here: the kernel's struct \
     sigaction (src/sys/signal.rs, KernelSigaction), sigset_t as 64-bit words with signals \
     1-64 in the first (src/sys/signal.rs), struct signalfd_siginfo (src/sys/signal.rs), \
     and what the libc does with the signals it reserves (src/sys/signal.rs, \
     src/sys/posix_spawn.rs)."
);
