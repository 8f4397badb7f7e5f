//! The signal pump: one task that receives every signal tend handles. SIGCHLD drives the
//! reaper; every other signal is sent to whoever owns the lifecycle (startup gate, then
//! the supervisor loop).
//!
//! tend blocks the signals it handles and reads them from a signalfd, as catatonit does
//! (tini uses sigtimedwait, the same idea): no handler runs, so nothing needs to be
//! async-signal-safe, a real-time signal queued N times is read N times, and a PID 1 gets
//! every signal even though their dispositions stay at default. Children never inherit
//! the mask: every spawn path gives them an empty one.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::Reaper;
use crate::config::values::{is_fault_signal, signal_name};
use crate::emit;
use crate::events::Event;

/// The signals tend catches. Left out: those that cannot be caught (KILL, STOP), the
/// faults (a crash must stay a crash), PIPE (raised by tend's own writes to a closed
/// stderr; forwarding it would kill the child for tend's trouble), and with a terminal
/// TTIN/TTOU, which tend ignores so that it can never be stopped by its own terminal.
pub fn handled_signals(has_tty: bool) -> Vec<i32> {
    (1..=libc::SIGRTMAX())
        .filter(|&sig| !(32..libc::SIGRTMIN()).contains(&sig))
        .filter(|&sig| sig != libc::SIGKILL && sig != libc::SIGSTOP && sig != libc::SIGPIPE)
        .filter(|&sig| !is_fault_signal(sig))
        .filter(|&sig| !(has_tty && (sig == libc::SIGTTIN || sig == libc::SIGTTOU)))
        .collect()
}

/// How many signals one read takes off the signalfd (128 bytes each).
const BATCH: usize = 32;

/// Blocks the handled signals and starts the pump. Must run before the first child is
/// spawned so that no SIGCHLD or stop signal is missed.
pub fn start(reaper: Arc<Reaper>, has_tty: bool) -> io::Result<mpsc::UnboundedReceiver<i32>> {
    let fd = block(&handled_signals(has_tty), has_tty)?;
    // Safety: the AsyncFd owns the OwnedFd, so the descriptor stays open and the same
    // for the AsyncFd's whole life.
    let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(pump(fd, reaper, tx));
    Ok(rx)
}

/// Makes `handled` the exact signal mask of tend and returns a signalfd that reads them.
fn block(handled: &[i32], has_tty: bool) -> io::Result<OwnedFd> {
    // Safety: plain system calls on tend's own process, on a zeroed, then initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &sig in handled {
            libc::sigaddset(&mut set, sig);
        }
        // The mask first, so that a signal arriving from here on waits for the signalfd.
        // SETMASK, not BLOCK: a mask inherited from whoever started tend would silently
        // swallow the signals it does not handle, faults included.
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
        // SIGCHLD ignored would make the kernel reap children behind the reaper's back.
        // The other handled signals may stay as inherited, even ignored: blocked, they are
        // queued for the signalfd all the same, and every child starts with every
        // disposition at default (see `spawn`). One system call instead of sixty.
        super::spawn::set_default(libc::SIGCHLD);
        if has_tty {
            libc::signal(libc::SIGTTIN, libc::SIG_IGN);
            libc::signal(libc::SIGTTOU, libc::SIG_IGN);
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Reads the signalfd until tend exits, in batches.
async fn pump(fd: AsyncFd<OwnedFd>, reaper: Arc<Reaper>, tx: mpsc::UnboundedSender<i32>) {
    // Safety: signalfd_siginfo is plain data; all zeroes is a valid value.
    let mut batch: [libc::signalfd_siginfo; BATCH] = unsafe { std::mem::zeroed() };
    loop {
        let Ok(mut ready) = fd.readable().await else {
            return;
        };
        let read = ready.try_io(|fd| read_batch(fd.get_ref(), &mut batch));
        let count = match read {
            Ok(Ok(count)) => count,
            Err(_would_block) => continue,
            Ok(Err(error)) if error.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(error)) => {
                emit!(error, Event::InternalError, error = %error,
                    "cannot read signals: {error}; signals are no longer forwarded");
                return;
            }
        };
        for info in &batch[..count] {
            deliver(info.ssi_signo as i32, &reaper, &tx);
        }
    }
}

fn read_batch(fd: &OwnedFd, batch: &mut [libc::signalfd_siginfo; BATCH]) -> io::Result<usize> {
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // Safety: reads at most the batch's own size into it.
    let n = unsafe { libc::read(fd.as_raw_fd(), batch.as_mut_ptr().cast(), size * BATCH) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // The kernel returns whole records only.
    Ok(n as usize / size)
}

fn deliver(sig: i32, reaper: &Reaper, tx: &mpsc::UnboundedSender<i32>) {
    if sig == libc::SIGCHLD {
        for (pid, exit) in reaper.reap() {
            emit!(
                debug,
                Event::OrphanReaped,
                pid,
                exit_code = exit.code(),
                "reaped orphan {pid}"
            );
        }
    } else {
        tracing::trace!(signal = %signal_name(sig), "signal received");
        // The receiver is gone only while tend is exiting.
        let _ = tx.send(sig);
    }
}

/// Every disposition at default and an empty mask, for `tend wait`, which execs the
/// command in its own place: exec keeps the mask and ignored dispositions, and the
/// command must start with neither (tend blocks what it handles and may have inherited
/// some of it ignored).
pub fn clean_for_exec() {
    // Safety: sets dispositions to default and the mask to empty, in tend's own process,
    // right before exec.
    unsafe { super::spawn::reset_signals() };
}
