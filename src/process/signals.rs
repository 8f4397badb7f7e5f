//! The signal pump: one task that receives every signal tend handles. SIGCHLD drives the
//! reaper; every other signal is sent to whoever owns the lifecycle (startup gate, then
//! the supervisor loop).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures_core::Stream;
use nix::sys::signal::{signal, SigHandler, Signal};
use signal_hook_tokio::Signals;
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

/// Deliveries of each real-time signal not yet forwarded. The kernel queues real-time
/// signals (each one counts), but the signal stream keeps one pending flag per signal and
/// would merge a burst into one; these counters, bumped in the handler itself, do not.
static RT_PENDING: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];

fn is_realtime(sig: i32) -> bool {
    (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig)
}

/// Installs the handlers and starts the pump. Must run before the first child is spawned
/// so that no SIGCHLD or stop signal is missed.
pub fn start(reaper: Arc<Reaper>, has_tty: bool) -> std::io::Result<mpsc::UnboundedReceiver<i32>> {
    if has_tty {
        // Safety: SIG_IGN installs no handler code.
        unsafe {
            let _ = signal(Signal::SIGTTIN, SigHandler::SigIgn);
            let _ = signal(Signal::SIGTTOU, SigHandler::SigIgn);
        }
    }
    for sig in handled_signals(has_tty)
        .into_iter()
        .filter(|&s| is_realtime(s))
    {
        let Some(counter) = RT_PENDING.get(sig as usize) else {
            continue;
        };
        // Safety: the action is one atomic add, which is async-signal-safe. Registered
        // before the stream's own action, so the count is up before the pump wakes.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })?;
        }
    }
    let mut signals = Signals::new(handled_signals(has_tty))?;
    // A mask inherited from whoever started tend would silently swallow those signals.
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(sig) = poll_fn(|cx| Pin::new(&mut signals).poll_next(cx)).await {
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
            } else if let Some(counter) = RT_PENDING.get(sig as usize).filter(|_| is_realtime(sig))
            {
                // Each queued delivery once; 0 when an earlier wake-up already took them.
                for _ in 0..counter.swap(0, Ordering::Relaxed) {
                    let _ = tx.send(sig);
                }
            } else {
                tracing::trace!(signal = %signal_name(sig), "signal received");
                // The receiver is gone only while tend is exiting.
                let _ = tx.send(sig);
            }
        }
    });
    Ok(rx)
}
