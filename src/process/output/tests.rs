//! Real services, spawned through the reaper with their output prefixed, on both spawn
//! paths; what tend would write is captured through pipes given as its stdout and stderr.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::*;
use crate::process::Reaper;

/// Generous: a loaded machine must not fail a correct test, and a hang must still end.
const PATIENCE: Duration = Duration::from_secs(20);

fn soon() -> Instant {
    Instant::now() + PATIENCE
}

/// The two spawn paths: posix_spawn, and fork (taken for no_new_privs, which changes
/// nothing else the tests look at).
const PATHS: [(&str, bool); 2] = [("posix_spawn", false), ("fork", true)];

/// A service's output, prefixed, and the read ends of the pipes that stand for tend's
/// stdout and stderr.
struct Captured {
    prefixed: Prefixed,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn capture(name: &str, width: usize) -> Captured {
    let (stdout, out_sink) = pipe().expect("pipe");
    let (stderr, err_sink) = pipe().expect("pipe");
    let prefixed = Prefixed::start_to(name, width, out_sink, err_sink).expect("start");
    Captured {
        prefixed,
        stdout,
        stderr,
    }
}

fn spec(argv: &[&str], fork: bool) -> SpawnSpec {
    SpawnSpec {
        no_new_privs: fork,
        ..SpawnSpec::new(argv.iter().map(Into::into).collect())
    }
}

/// Starts `argv` through a reaper with its output prefixed (the spec dropped once it has
/// started, as the supervisor will), and returns its pid with the copier and what stands
/// for tend's stdout and stderr.
fn start(argv: &[&str], fork: bool, name: &str) -> (i32, Copier, OwnedFd, OwnedFd) {
    let captured = capture(name, name.len());
    let mut spec = spec(argv, fork);
    let copier = captured.prefixed.redirect(&mut spec);
    let pid = Reaper::new().spawn(&spec).expect("spawn").pid;
    (pid, copier, captured.stdout, captured.stderr)
}

/// Waits for this pid alone: `waitpid(-1)` would take other tests' children.
fn exit_of(pid: i32) -> WaitStatus {
    waitpid(Pid::from_raw(pid), None).expect("waitpid")
}

fn read_all(fd: OwnedFd) -> String {
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).expect("read");
    text
}

#[test]
fn each_line_reaches_the_stream_it_was_written_to_with_the_name() {
    for (path, fork) in PATHS {
        let captured = capture("sh", 5);
        let mut spec = spec(&["sh", "-c", "echo a; echo b >&2; printf c"], fork);
        let copier = captured.prefixed.redirect(&mut spec);
        let pid = Reaper::new().spawn(&spec).expect("spawn").pid;
        assert_eq!(exit_of(pid), WaitStatus::Exited(Pid::from_raw(pid), 0));
        let short = Instant::now() + Duration::from_millis(100);
        assert!(
            !copier.wait(short),
            "{path}: the spec still holds the pipes"
        );
        drop(spec);
        assert!(copier.wait(soon()), "{path}: every writer is gone");
        assert_eq!(
            read_all(captured.stdout),
            "sh    | a\nsh    | c\n",
            "{path}"
        );
        assert_eq!(read_all(captured.stderr), "sh    | b\n", "{path}");
    }
}

/// The copy ends with the last writer, not with the service: a descendant that still
/// writes after the service's exit is copied too.
#[test]
fn the_copy_lasts_as_long_as_a_descendant_writes() {
    let script = "echo first; (sleep 0.3; echo late >&2) &";
    let (pid, copier, stdout, stderr) = start(&["sh", "-c", script], false, "bg");
    assert_eq!(exit_of(pid), WaitStatus::Exited(Pid::from_raw(pid), 0));
    assert!(copier.wait(soon()));
    assert_eq!(read_all(stdout), "bg | first\n");
    assert_eq!(read_all(stderr), "bg | late\n");
}

/// What `ls /proc/self/fd` and the signal lines of /proc/self/status say of a child whose
/// stdout and stderr are pipes: fds 0, 1, 2 only (and ls's own 3, the directory it
/// lists), nothing blocked or ignored, on both paths. Spawned from a thread that blocks
/// USR1, in a test process that ignores PIPE (the harness does).
#[test]
fn a_redirected_child_gets_a_clean_slate_on_both_paths() {
    std::thread::spawn(|| {
        sys::signal::block_on_this_thread(&[libc::SIGUSR1]).expect("block");
        for (path, fork) in PATHS {
            let ls = ["ls", "/proc/self/fd"];
            let (pid, copier, stdout, stderr) = start(&ls, fork, "c");
            exit_of(pid);
            assert!(copier.wait(soon()));
            assert_eq!(read_all(stdout), "c | 0\nc | 1\nc | 2\nc | 3\n", "{path}");
            assert_eq!(read_all(stderr), "", "{path}");

            let grep = [
                "grep",
                "-E",
                "^(Sig(Blk|Ign)|NoNewPrivs)",
                "/proc/self/status",
            ];
            let (pid, copier, stdout, _) = start(&grep, fork, "c");
            exit_of(pid);
            assert!(copier.wait(soon()));
            let expected = format!(
                "c | SigBlk:\t0000000000000000\nc | SigIgn:\t0000000000000000\n\
                 c | NoNewPrivs:\t{}\n",
                u8::from(fork)
            );
            assert_eq!(read_all(stdout), expected, "{path}");
        }
    })
    .join()
    .expect("thread");
}

/// Fills a pipe, so that the next write to it waits (or, made non-blocking, fails with
/// EAGAIN) until someone reads.
fn fill(fd: &OwnedFd, nonblocking: bool) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).expect("O_NONBLOCK");
    let block = [b'.'; 4096];
    while nix::unistd::write(fd, &block).is_ok() {}
    if !nonblocking {
        fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(OFlag::empty())).expect("blocking");
    }
}

/// tend's stdout full (nobody reads it): the copier waits, and so does the service once
/// its own pipe is full, but whoever started it goes on at once. Once the reader comes
/// back every line arrives, in order. Both with a blocking stdout and with a description
/// made non-blocking (the copier then polls).
#[test]
fn a_full_destination_stalls_the_copy_never_the_caller() {
    const LINES: usize = 20_000;
    for nonblocking in [false, true] {
        let (stdout, sink) = pipe().expect("pipe");
        fill(&sink, nonblocking);
        let (_stderr, err_sink) = pipe().expect("pipe");
        let began = Instant::now();
        let prefixed = Prefixed::start_to("w", 1, sink, err_sink).expect("start");
        let mut spec = spec(&["seq", &LINES.to_string()], false);
        let copier = prefixed.redirect(&mut spec);
        let pid = Reaper::new().spawn(&spec).expect("spawn").pid;
        drop(spec);
        let took = began.elapsed();
        assert!(took < Duration::from_secs(2), "started in {took:?}");

        let stalled = Instant::now() + Duration::from_millis(300);
        assert!(!copier.wait(stalled), "the copy waits for room");
        let running = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        assert_eq!(running, Ok(WaitStatus::StillAlive), "seq waits too");

        let text = read_all(stdout);
        assert_eq!(exit_of(pid), WaitStatus::Exited(Pid::from_raw(pid), 0));
        assert!(copier.wait(soon()));
        let lines: Vec<&str> = text.trim_start_matches('.').lines().collect();
        assert_eq!(lines.len(), LINES, "nonblocking: {nonblocking}");
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line[4..], (i + 1).to_string());
        }
    }
}

/// tend's stdout without a reader: the service is not blocked nor killed by it (its own
/// pipe is still read), and the copy ends with it.
#[test]
fn a_destination_without_reader_drops_the_lines() {
    let (stdout, sink) = pipe().expect("pipe");
    drop(stdout);
    let (_stderr, err_sink) = pipe().expect("pipe");
    let prefixed = Prefixed::start_to("gone", 4, sink, err_sink).expect("start");
    let mut spec = spec(&["seq", "100000"], false);
    let copier = prefixed.redirect(&mut spec);
    let pid = Reaper::new().spawn(&spec).expect("spawn").pid;
    drop(spec);
    assert_eq!(exit_of(pid), WaitStatus::Exited(Pid::from_raw(pid), 0));
    assert!(copier.wait(soon()));
}

#[test]
fn flush_waits_for_every_copy_up_to_the_deadline() {
    let captured = capture("f", 1);
    let past = Instant::now();
    assert!(!flush(past), "a copy is running");
    drop(captured.prefixed.stdout);
    drop(captured.prefixed.stderr);
    assert!(captured.prefixed.copier.wait(soon()));
}

/// The copier threads block every signal: one meant for tend goes to its signalfd, and
/// none at its default action can end tend through them.
#[test]
fn copier_threads_block_every_signal() {
    let captured = capture("s", 1);
    let deadline = soon();
    // A thread names itself once it runs (std's thread start): until then it shows its
    // creator's name.
    let mut masks = copier_masks();
    while masks.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        masks = copier_masks();
    }
    assert!(masks.len() >= 2, "two threads per service: {masks:?}");
    for blocked in masks {
        for sig in [
            libc::SIGTERM,
            libc::SIGPIPE,
            libc::SIGUSR1,
            libc::SIGINT,
            40,
        ] {
            assert_ne!(blocked & (1 << (sig - 1)), 0, "signal {sig}: {blocked:x}");
        }
    }
    drop(captured);
}

/// The signal masks of this process's copier threads (those of other tests included).
fn copier_masks() -> Vec<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("tasks");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .filter(|status| status.starts_with("Name:\ttend-output\n"))
        .map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:\t"))
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .expect("SigBlk")
        })
        .collect()
}

/// What one prefixed service costs in RSS: its two threads blocked in read after a line
/// each (their stacks; the kernel's part is not in RSS), its buffers. One service is
/// started first, so that the code pages it touches are not counted. Run with
/// `--ignored --nocapture` (in release for the figures of tend's build).
#[test]
#[ignore]
fn rss_per_prefixed_service() {
    fn rss_kb() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
            .expect("VmRSS")
    }
    fn started(count: usize) -> Vec<Prefixed> {
        let devnull = || File::create("/dev/null").expect("/dev/null").into();
        let services: Vec<Prefixed> = (0..count)
            .map(|i| Prefixed::start_to(&format!("s{i}"), 4, devnull(), devnull()).expect("start"))
            .collect();
        for service in &services {
            for fd in [&service.stdout, &service.stderr] {
                nix::unistd::write(fd, b"a line, as a service writes one\n").expect("write");
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        services
    }
    const SERVICES: usize = 100;
    let warm = started(1);
    let before = rss_kb();
    let services = started(SERVICES);
    let after = rss_kb();
    println!(
        "{SERVICES} prefixed services: VmRSS {before} -> {after} kB, {:.1} kB each",
        (after - before) as f64 / SERVICES as f64
    );
    drop((warm, services));
}

/// The real destinations, tend's fd 1 and 2 (copies of them): nothing written, the copy
/// ends as soon as the pipes' write ends are closed.
#[test]
fn start_copies_to_tends_own_streams() {
    let prefixed = Prefixed::start("t", 1).expect("start");
    let copier = prefixed.copier;
    drop((prefixed.stdout, prefixed.stderr));
    assert!(copier.wait(soon()));
}
