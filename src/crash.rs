//! The panic hook: an init must never leave a container half-alive. On a panic tend logs
//! it, kills what it started, and exits 70 (EX_SOFTWARE).

use std::sync::atomic::{AtomicI32, Ordering};

use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::process::sweep::{Scope, Sweep};

static CHILD_PID: AtomicI32 = AtomicI32::new(0);

/// Remembers the current child so the hook can kill its process group.
pub fn set_child(pid: i32) {
    CHILD_PID.store(pid, Ordering::Relaxed);
}

pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        emit!(
            error,
            Event::InternalError,
            reason = "panic",
            "internal error, killing all processes: {info}"
        );
        let pid = CHILD_PID.load(Ordering::Relaxed);
        if pid > 0 {
            // Errors are irrelevant on the way out.
            let _ = crate::sys::process::kill(-pid, libc::SIGKILL);
            let _ = crate::sys::process::kill(pid, libc::SIGKILL);
        }
        Sweep::new(Scope::detect()).kill();
        crate::control::remove_socket();
        std::process::exit(ExitCode::Software as i32);
    }));
}
