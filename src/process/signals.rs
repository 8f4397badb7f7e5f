//! Signals, from two signalfds. SIGCHLD goes to the reaper, from a task of its own (the
//! pump), whatever else tend is doing; every other handled signal is read straight from
//! its own signalfd by whoever owns the lifecycle (the startup gate, then the supervisor
//! loop) through `Signals::recv`, with no task or channel in between: a forwarded
//! signal's latency is what an init is judged by.
//!
//! tend blocks the signals it handles and reads them from signalfds, as catatonit does
//! (tini uses sigtimedwait, the same idea): no handler runs, so nothing needs to be
//! async-signal-safe, a real-time signal queued N times is read N times, and a PID 1 gets
//! every signal even though their dispositions stay at default. Children never inherit
//! the mask: every spawn path gives them an empty one.

use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use tokio::io::unix::AsyncFd;

use super::Reaper;
use crate::emit;
use crate::events::Event;
use crate::signals::{is_fault_signal, signal_name};
use crate::sys;

/// The signals tend catches. Left out: the libcs' own 32 and 33 (`LIBC_RESERVED`; musl's
/// 34 is caught: musl signals its threads with it only for set*id calls, which tend makes
/// in a forked child alone), those that cannot be caught (KILL,
/// STOP), and with a terminal TTIN/TTOU, which tend ignores so that it can never be
/// stopped by its own terminal.
///
/// PIPE and the faults (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS) are caught too, but only
/// passed on when another process sent them (see `sent_by_another`), as tini and dumb-init
/// forward them. Blocking the faults cannot hide a real fault in tend: the kernel forces a
/// synchronous fault through (`force_sig_fault` unblocks it and resets it to default, as
/// PID 1 too), and glibc's `abort` unblocks SIGABRT before it raises it. A signal handler
/// that tells the two apart and re-raises would do the same with code that must be
/// async-signal-safe; the signalfd needs none.
pub fn handled_signals(has_tty: bool) -> Vec<i32> {
    (1..=64)
        .filter(|sig| !sys::signal::LIBC_RESERVED.contains(sig))
        .filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP)
        .filter(|&sig| !(has_tty && (sig == libc::SIGTTIN || sig == libc::SIGTTOU)))
        .collect()
}

/// Whether a signal read from the signalfd is passed on (forwarded, or acted on). Every
/// one is, but PIPE and the faults only when another process sent them with `kill`,
/// `sigqueue` or `tgkill`: tend's own write to a closed pipe or socket raises PIPE as
/// SI_USER from tend's own pid (the kernel's `send_sig(SIGPIPE, current, 0)`), and
/// forwarding it would kill the child for tend's trouble. A sender outside tend's PID
/// namespace shows as pid 0 (`docker kill`), which is not tend's.
pub fn sent_by_another(sig: i32, code: i32, sender: u32, me: u32) -> bool {
    if sig != libc::SIGPIPE && !is_fault_signal(sig) {
        return true;
    }
    matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL) && sender != me
}

/// How many signals one read takes off the signalfd (128 bytes each).
const BATCH: usize = 32;

/// Blocks the handled signals, starts the pump for SIGCHLD and returns the others. Must
/// run before the first child is spawned so that no SIGCHLD or stop signal is missed.
pub fn start(reaper: Arc<Reaper>, has_tty: bool) -> io::Result<Signals> {
    let handled = handled_signals(has_tty);
    block(&handled, has_tty)?;
    let others: Vec<i32> = handled
        .into_iter()
        .filter(|&sig| sig != libc::SIGCHLD)
        .collect();
    let children = signalfd(&[libc::SIGCHLD])?;
    let signals = Signals {
        fd: signalfd(&others)?,
        queued: VecDeque::new(),
        failed: false,
    };
    tokio::spawn(pump(children, reaper));
    Ok(signals)
}

/// Makes `handled` the exact signal mask of tend.
fn block(handled: &[i32], has_tty: bool) -> io::Result<()> {
    // SETMASK, not BLOCK: a mask inherited from whoever started tend would silently
    // swallow the signals it does not handle, faults included.
    sys::signal::set_mask(handled)?;
    // SIGCHLD ignored would make the kernel reap children behind the reaper's back.
    // The other handled signals may stay as inherited, even ignored: blocked, they are
    // queued for the signalfd all the same, and every child starts with every
    // disposition at default (see `spawn`). One system call instead of sixty.
    sys::signal::set_default(libc::SIGCHLD);
    if has_tty {
        sys::signal::ignore(libc::SIGTTIN);
        sys::signal::ignore(libc::SIGTTOU);
    }
    Ok(())
}

/// A signalfd that reads `signals` (which must be blocked), on tokio's reactor.
fn signalfd(signals: &[i32]) -> io::Result<AsyncFd<OwnedFd>> {
    sys::fd::async_fd(sys::signal::signalfd(signals)?)
}

/// The handled signals other than SIGCHLD, for the lifecycle's owner.
pub struct Signals {
    fd: AsyncFd<OwnedFd>,
    /// Read from the signalfd but not handed out yet (a read takes up to BATCH).
    queued: VecDeque<i32>,
    /// The signalfd could not be read: reported once, and no signal comes any more.
    failed: bool,
}

impl Signals {
    /// The next signal. Cancel-safe: a signal read from the descriptor is queued before
    /// this returns, with no await in between. None once the descriptor failed.
    pub async fn recv(&mut self) -> Option<i32> {
        loop {
            if let Some(sig) = self.queued.pop_front() {
                tracing::trace!(signal = %signal_name(sig), "signal received");
                return Some(sig);
            }
            if self.failed {
                return None;
            }
            let Ok(mut ready) = self.fd.readable().await else {
                self.failed = true;
                continue;
            };
            let mut batch = [sys::signal::NO_SIGINFO; BATCH];
            match ready.try_io(|fd| sys::signal::read_signals(fd.get_ref(), &mut batch)) {
                Ok(Ok(count)) => self.queue(&batch[..count]),
                Err(_would_block) => {}
                Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(error)) => {
                    emit!(error, Event::InternalError, error = %error,
                        "cannot read signals: {error}; signals are no longer forwarded");
                    self.failed = true;
                }
            }
        }
    }
}

impl Signals {
    /// The first signal that `is_stop` accepts; the others are dropped. Never, once the
    /// descriptor failed.
    pub async fn first(&mut self, is_stop: impl Fn(i32) -> bool) -> i32 {
        loop {
            match self.recv().await {
                Some(sig) if is_stop(sig) => return sig,
                Some(_) => {}
                None => std::future::pending().await,
            }
        }
    }

    /// Queues the signals to pass on; a PIPE or fault that tend raised itself is dropped
    /// without a word: logging it would write to the stderr that raised it, and raise
    /// the next one, for ever.
    fn queue(&mut self, infos: &[libc::signalfd_siginfo]) {
        let me = std::process::id();
        let passed = infos
            .iter()
            .filter(|info| sent_by_another(info.ssi_signo as i32, info.ssi_code, info.ssi_pid, me))
            .map(|info| info.ssi_signo as i32);
        self.queued.extend(passed);
    }
}

/// Reaps whenever SIGCHLD comes, until tend exits.
async fn pump(fd: AsyncFd<OwnedFd>, reaper: Arc<Reaper>) {
    let mut batch = [sys::signal::NO_SIGINFO; 1];
    loop {
        let Ok(mut ready) = fd.readable().await else {
            return;
        };
        match ready.try_io(|fd| sys::signal::read_signals(fd.get_ref(), &mut batch)) {
            Ok(Ok(_)) => reap(&reaper),
            Err(_would_block) => {}
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => {}
            Ok(Err(error)) => {
                emit!(error, Event::InternalError, error = %error,
                    "cannot read SIGCHLD: {error}; exits are no longer collected");
                return;
            }
        }
    }
}

/// Collects every exit there is to collect; orphans are only counted and logged. For the
/// pump, and for whoever else reaps (the sweep), so that every orphan is logged alike.
pub fn reap(reaper: &Reaper) {
    for (pid, exit) in reaper.reap() {
        emit!(
            debug,
            Event::OrphanReaped,
            pid,
            exit_code = exit.code(),
            "reaped orphan {pid}"
        );
    }
}

/// Every disposition at default and an empty mask, for `tend wait`, which execs the
/// command in its own place: exec keeps the mask and ignored dispositions, and the
/// command must start with neither (tend blocks what it handles and may have inherited
/// some of it ignored).
pub fn clean_for_exec() {
    sys::signal::reset_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_and_faults_pass_only_when_another_process_sent_them() {
        let me = 42;
        for sig in [libc::SIGPIPE, libc::SIGABRT, libc::SIGSEGV, libc::SIGBUS] {
            assert!(sent_by_another(sig, libc::SI_USER, 7, me));
            assert!(sent_by_another(sig, libc::SI_QUEUE, 7, me));
            assert!(sent_by_another(sig, libc::SI_TKILL, 7, me));
            // From outside tend's PID namespace (docker kill).
            assert!(sent_by_another(sig, libc::SI_USER, 0, me));
            assert!(!sent_by_another(sig, libc::SI_USER, me, me), "tend's own");
            assert!(
                !sent_by_another(sig, libc::SI_KERNEL, 0, me),
                "the kernel's"
            );
            assert!(!sent_by_another(sig, 1, 7, me), "a fault's own code");
        }
        for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP] {
            assert!(sent_by_another(sig, libc::SI_USER, me, me));
            assert!(sent_by_another(sig, libc::SI_KERNEL, 0, me));
        }
        assert!(handled_signals(false).contains(&libc::SIGPIPE));
        assert!(handled_signals(false).contains(&libc::SIGABRT));
    }

    /// The rule above rests on what the kernel says of a PIPE raised by a write: SI_USER
    /// from the writer's own pid. Checked here rather than assumed.
    #[test]
    fn a_pipe_raised_by_a_write_is_tends_own() {
        std::thread::spawn(|| {
            sys::signal::block_on_this_thread(&[libc::SIGPIPE]).expect("block");
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe");
            drop(read);
            assert_eq!(
                nix::unistd::write(&write, b"x"),
                Err(nix::errno::Errno::EPIPE)
            );
            drop(write);
            let fd = sys::signal::signalfd(&[libc::SIGPIPE]).expect("signalfd");
            let mut batch = [sys::signal::NO_SIGINFO; 1];
            assert_eq!(sys::signal::read_signals(&fd, &mut batch).expect("read"), 1);
            let info = batch[0];
            assert_eq!(info.ssi_signo as i32, libc::SIGPIPE);
            assert_eq!(info.ssi_code, libc::SI_USER);
            assert_eq!(info.ssi_pid, std::process::id());
            assert!(!sent_by_another(
                libc::SIGPIPE,
                info.ssi_code,
                info.ssi_pid,
                std::process::id()
            ));
        })
        .join()
        .expect("thread");
    }
}
