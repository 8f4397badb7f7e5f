//! Signals sent by others, the leftovers' grace, tend's own working directory, and a
//! stopped terminal on stderr (issue 12, items 6, 11 and 17).

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::Instant;

use common::*;

/// PIPE and the fault signals, sent with `kill` by another process, reach the child as
/// any other signal does, and tend lives on (tini and dumb-init forward them).
#[test]
fn pipe_and_fault_signals_sent_by_another_process_are_forwarded() {
    let signals = [
        ("PIPE", libc::SIGPIPE),
        ("ABRT", libc::SIGABRT),
        ("SEGV", libc::SIGSEGV),
        ("BUS", libc::SIGBUS),
    ];
    for mode in MODES {
        let dir = Scratch::new("sent");
        let log = dir.path("got");
        let script = format!(
            "for s in PIPE ABRT SEGV BUS; do trap \"echo $s >> {0}\" $s; done; \
             echo ready >> {0}; while :; do sleep 0.05; done",
            log.display()
        );
        let mut t = Running::start(tend(mode, &dir, &["--", "sh", "-c", &script]), mode);
        t.wait_event("child_started");
        read_when_present(&log);
        for (name, sig) in signals {
            t.signal(sig);
            t.wait_event_where("signal_forwarded", |e| e["signal"] == name);
            wait_for(&format!("{name} in the child ({mode:?})"), || {
                std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains(name)
            });
        }
        assert_eq!(
            unsafe { libc::kill(t.tend_pid(), 0) },
            0,
            "{mode:?}: tend alive"
        );
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

/// tend's own writes to a stderr nobody reads raise PIPE in tend: that one is not the
/// child's business, and does not kill tend either.
#[test]
fn a_pipe_raised_by_tends_own_writes_is_not_forwarded() {
    for mode in MODES {
        let dir = Scratch::new("ownpipe");
        let log = dir.path("got");
        let script = format!(
            "trap \"echo PIPE >> {0}\" PIPE; trap \"echo USR1 >> {0}\" USR1; \
             echo ready >> {0}; while :; do sleep 0.05; done",
            log.display()
        );
        let mut cmd = tend(mode, &dir, &["--", "sh", "-c", &script]);
        // Every line it can: a line about a PIPE of its own would raise the next one.
        cmd.env("TEND_LOG_LEVEL", "trace");
        // A pipe whose reader is gone: every line tend writes raises PIPE in tend.
        let (reader, writer) = pipe();
        drop(reader);
        cmd.stderr(Stdio::from(writer));
        let mut child = cmd.spawn().expect("spawn tend");
        read_when_present(&log);
        let tend_pid = tend_pid_of(&child, mode);
        let usr1s = || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches("USR1")
                .count()
        };
        // Each forward logs a line, which raises PIPE; the next USR1 comes after it, and
        // the third proves that the child ran the traps of everything before the second.
        for n in 1..=3 {
            assert_eq!(unsafe { libc::kill(tend_pid, libc::SIGUSR1) }, 0);
            wait_for(&format!("USR1 number {n} ({mode:?})"), || usr1s() >= n);
        }
        let got = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            !got.contains("PIPE"),
            "{mode:?}: tend's own PIPE reached the child: {got}"
        );
        assert_eq!(unsafe { libc::kill(tend_pid, libc::SIGTERM) }, 0);
        assert_eq!(wait_code(&mut child), 143, "{mode:?}");
    }
}

/// A process left behind that ignores TERM, once the child exited by itself, gets the
/// leftover grace (3 s by default), not the 30 s shutdown timeout.
#[test]
fn a_leftover_that_ignores_term_gets_the_short_grace() {
    for (mode, grace, expected_ms) in [
        (Mode::Process, None, 3000),
        (Mode::Pid1, None, 3000),
        (Mode::Process, Some("1s"), 1000),
    ] {
        let dir = Scratch::new("grace");
        let ready = dir.path("ready");
        let script = format!(
            "setsid sh -c \"trap '' TERM; echo > {0}; sleep 100; sleep 100\" & \
             while [ ! -e {0} ]; do sleep 0.01; done; exit 3",
            ready.display()
        );
        let mut cmd = tend(mode, &dir, &["--", "sh", "-c", &script]);
        if let Some(grace) = grace {
            cmd.env("TEND_LEFTOVER_GRACE", grace);
        }
        let mut t = Running::start(cmd, mode);
        let exited = t.wait_event("child_exited");
        let remaining = t.wait_event("processes_remaining");
        assert_eq!(remaining["grace_ms"], expected_ms, "{mode:?} {grace:?}");
        t.wait_event_where("force_kill", |e| e["reason"] == "remaining_processes");
        let done = t.wait_event("shutdown_completed");
        assert_eq!(t.wait_exit(), 3, "{mode:?}");
        let took = ms_between(&exited, &done);
        assert!(
            took >= expected_ms - 100 && took < expected_ms + 10_000,
            "{mode:?} {grace:?}: leftovers cleaned in {took} ms"
        );
    }
}

/// tend leaves its starting directory for `/` once the child runs, so that it pins no
/// mount; the child, a restarted child and an exec probe still start in that directory.
#[test]
fn tend_moves_to_the_root_and_what_it_starts_keeps_the_workdir() {
    for mode in MODES {
        let dir = Scratch::new("cwd");
        std::fs::write(dir.path("marker"), "here\n").expect("marker");
        // The first run exits so that the second is a restart.
        let script = "pwd >> cwds; [ $(wc -l < cwds) -ge 2 ] || exit 1; \
                      while :; do sleep 0.05; done";
        let mut cmd = tend(mode, &dir, &["--", "sh", "-c", script]);
        cmd.current_dir(&dir.0);
        cmd.env("TEND_RESTART", "on-failure");
        cmd.env("TEND_RESTART_DELAY", "10ms");
        // Relative: passes only when the probe runs in tend's starting directory.
        cmd.env("TEND_HEALTH_CHECK", "exec:cat marker");
        cmd.env("TEND_HEALTH_INTERVAL", "50ms");
        let mut t = Running::start(cmd, mode);
        t.wait_event("child_started");
        let tend_pid = t.tend_pid();
        wait_for(&format!("tend's cwd is / ({mode:?})"), || {
            std::fs::read_link(format!("/proc/{tend_pid}/cwd"))
                .is_ok_and(|cwd| cwd == std::path::Path::new("/"))
        });
        t.wait_event("restart_initiated");
        t.wait_event("startup_completed");
        let cwds = std::fs::read_to_string(dir.path("cwds")).expect("cwds");
        let expected = format!("{0}\n{0}\n", dir.0.display());
        assert_eq!(cwds, expected, "{mode:?}: the child's directory, twice");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

/// A terminal on stderr whose output is stopped (XOFF) must not stop tend: the child
/// starts, SIGTERM and the force-kill come in time, and the lines that could not be
/// written are counted once the terminal takes output again.
#[test]
fn a_stopped_terminal_on_stderr_never_blocks_supervision() {
    for mode in MODES {
        for resume in [false, true] {
            stopped_terminal(mode, resume);
        }
    }
}

fn stopped_terminal(mode: Mode, resume: bool) {
    let dir = Scratch::new("tty");
    let ready = dir.path("ready");
    let (master, slave) = openpty();
    // Safety: tcflow on a terminal fd we own.
    assert_eq!(unsafe { libc::tcflow(slave.as_raw_fd(), libc::TCOOFF) }, 0);
    let script = format!(
        "trap '' TERM; echo > {0}; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut cmd = tend(mode, &dir, &["--", "sh", "-c", &script]);
    cmd.env("TEND_SHUTDOWN_TIMEOUT", "1s");
    cmd.stdout(Stdio::null());
    cmd.stderr(Stdio::from(slave.try_clone().expect("dup")));
    let mut child = cmd.spawn().expect("spawn tend");
    // The command holds its copy of the terminal: the master reads to the end only once
    // tend and its child are gone.
    drop(cmd);
    read_when_present(&ready);
    let tend_pid = tend_pid_of(&child, mode);
    // Unless resumed, never read: tend's output stays stopped to the end.
    let mut unread = Some(master);
    let output = resume.then(|| {
        // Safety: as above.
        assert_eq!(unsafe { libc::tcflow(slave.as_raw_fd(), libc::TCOON) }, 0);
        let master = unread.take().expect("master");
        std::thread::spawn(move || read_until_hangup(master))
    });
    drop(slave);
    let asked = Instant::now();
    assert_eq!(unsafe { libc::kill(tend_pid, libc::SIGTERM) }, 0);
    assert_eq!(
        wait_code(&mut child),
        137,
        "{mode:?} resume={resume}: force-killed"
    );
    println!(
        "{mode:?} resume={resume}: exited {:?} after SIGTERM",
        asked.elapsed()
    );
    drop(unread);
    if let Some(output) = output {
        let text = output.join().expect("reader");
        assert!(
            text.contains("\"event\":\"log_lines_dropped\""),
            "{mode:?}: the dropped lines are counted: {text}"
        );
        assert!(text.contains("\"event\":\"force_kill\""), "{text}");
    }
}

fn ms_between(a: &serde_json::Value, b: &serde_json::Value) -> i64 {
    fn ms(v: &serde_json::Value) -> i64 {
        let t = v["timestamp"].as_str().expect("timestamp");
        let (h, m, s) = (&t[11..13], &t[14..16], &t[17..23]);
        let secs: f64 = s.parse().expect("seconds");
        (h.parse::<i64>().expect("h") * 3600 + m.parse::<i64>().expect("m") * 60) * 1000
            + (secs * 1000.0).round() as i64
    }
    ms(b) - ms(a)
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // Safety: a valid array of two fds, owned by the OwnedFds below alone.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // Safety: openpty fills two fds, owned by the OwnedFds below alone.
    unsafe {
        assert_eq!(
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null()
            ),
            0
        );
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

/// Everything the terminal shows until its last writer is gone (EIO on the master).
fn read_until_hangup(master: OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // Safety: a valid buffer.
        let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
