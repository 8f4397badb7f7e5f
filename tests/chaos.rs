//! Chaos: signal storms, orphan storms, misbehaving probes, a full stderr, status file
//! faults and exits at awkward moments. Each test prints its figure with eprintln! (see
//! them with `cargo test --test chaos -- --nocapture`), synchronises on events and files,
//! and is bounded in time by the harness's PATIENCE.

mod common;

use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// A field of /proc/PID/status in KiB (VmRSS, VmHWM).
#[allow(dead_code)] // used by the storm tests below
fn status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn lines_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[allow(dead_code)]
fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); only a reaped pid is gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty()
        && !stat
            .rfind(')')
            .is_some_and(|i| stat[i + 2..].starts_with('Z'))
}

/// Bytes waiting in a pipe.
fn pipe_bytes(fd: i32) -> i32 {
    let mut n: libc::c_int = 0;
    unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    n
}

/// tend's pid as seen from here (under unshare, the namespace's PID 1).
fn tend_pid_of(child: &std::process::Child, mode: Mode) -> i32 {
    if mode == Mode::Process {
        return child.id() as i32;
    }
    let path = format!("/proc/{0}/task/{0}/children", child.id());
    let read = || -> Option<i32> {
        std::fs::read_to_string(&path)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    wait_for("tend under unshare", || read().is_some());
    read().unwrap_or(0)
}

/// Every descendant of `pid`, deepest last.
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let tasks = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten();
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                out.push(child);
                queue.push(child);
            }
        }
    }
    out
}

/// Kills tend and everything below it when a test ends, even by a failed assertion, so
/// that nothing outlives the test and holds its pipes open.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let all = descendants(self.0.id() as i32);
            unsafe { libc::kill(self.0.id() as i32, libc::SIGSTOP) };
            for pid in all {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits (bounded) for a child whose output is not read; kills it on timeout.
fn wait_code(child: &mut std::process::Child) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tend did not exit within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------- a full stderr

/// Nobody reads tend's stderr and the pipe is full: signals must still be forwarded and
/// the force-kill must still come at the timeout.
#[test]
fn a_full_stderr_pipe_stops_neither_signals_nor_the_force_kill() {
    for mode in MODES {
        let scratch = Scratch::new("fullerr");
        let usr1 = scratch.path("usr1");
        let ready = scratch.path("ready");
        let script = format!(
            "trap 'echo USR1 >> {usr1}' USR1; trap '' TERM; \
             head -c 4000000 /dev/zero >&2 & echo up > {ready}; \
             sleep 100000 & p=$!; while :; do wait $p; done",
            usr1 = usr1.display(),
            ready = ready.display()
        );
        let mut cmd = tend(mode, &scratch, &["sh", "-c", &script]);
        cmd.env("TEND_SHUTDOWN_TIMEOUT", "1s")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = Guard(cmd.spawn().expect("spawn tend"));
        let stderr = guard.0.stderr.take().expect("stderr"); // kept open, never read
        read_when_present(&ready);
        let root = guard.0.id() as i32;
        wait_for("a writer blocked on the full stderr pipe", || {
            descendants(root).iter().any(|p| {
                std::fs::read_to_string(format!("/proc/{p}/wchan"))
                    .is_ok_and(|w| w.contains("pipe_write"))
            })
        });
        let filled = pipe_bytes(stderr.as_raw_fd());
        let pid = tend_pid_of(&guard.0, mode);
        for n in 1..=5 {
            unsafe { libc::kill(pid, libc::SIGUSR1) };
            wait_for(&format!("USR1 number {n} forwarded"), || {
                lines_in(&usr1) >= n
            });
        }
        let start = Instant::now();
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let code = wait_code(&mut guard.0);
        let took = start.elapsed();
        eprintln!(
            "[{mode:?}] full stderr ({filled} bytes unread): 5/5 USR1 forwarded, SIGTERM to exit {took:?} \
             (timeout 1s), exit {code}"
        );
        assert_eq!(code, 137, "force-killed child");
        assert!(took < Duration::from_secs(5), "{took:?}");
        drop(stderr);
    }
}
