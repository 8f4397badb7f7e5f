//! Test harness: runs the real tend binary as an ordinary process or as PID 1 of a new PID
//! namespace, reads its JSON events from stderr as they come, and synchronises on them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_tend");
/// Generous bound for things that should take milliseconds: a loaded CI machine must not
/// make a correct test fail, and a hang must still end the test.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A scratch directory removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tend-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How tend is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An ordinary process (tend registers as child subreaper).
    Process,
    /// PID 1 of a fresh PID namespace with its own /proc.
    Pid1,
}

pub const MODES: [Mode; 2] = [Mode::Process, Mode::Pid1];

/// The two ways tend starts a child (src/process/spawn.rs), with the settings that pick
/// each: posix_spawn (a vfork) when nothing is needed between fork and exec, else fork,
/// set up, exec; no_new_privs (a prctl in the child) is such a need, and changes nothing
/// else a test of the child's clean slate looks at. Its `NoNewPrivs` line in
/// /proc/self/status tells which path the child came through.
pub const SPAWN_PATHS: [SpawnPath; 2] = [
    SpawnPath {
        name: "posix_spawn",
        env: &[],
        no_new_privs: "NoNewPrivs:\t0",
    },
    SpawnPath {
        name: "fork",
        env: &[("TEND_NO_NEW_PRIVS", "true")],
        no_new_privs: "NoNewPrivs:\t1",
    },
];

#[derive(Clone, Copy, Debug)]
pub struct SpawnPath {
    pub name: &'static str,
    /// TEND_* settings that send the child down this path.
    pub env: &'static [(&'static str, &'static str)],
    /// The child's line in /proc/self/status on this path.
    pub no_new_privs: &'static str,
}

/// The tend under test and what runs it: this build's binary, or another architecture's
/// (`TEST_TEND_BIN`) under an emulator (`TEST_TEND_RUNNER`, e.g. `qemu-aarch64-static`),
/// as `scripts/supply-chain.sh aarch64` runs the behaviour tests.
fn tend_argv() -> Vec<String> {
    let bin = std::env::var("TEST_TEND_BIN").unwrap_or_else(|_| BIN.to_owned());
    match std::env::var("TEST_TEND_RUNNER") {
        Ok(runner) if !runner.is_empty() => vec![runner, bin],
        _ => vec![bin],
    }
}

/// A `Command` for tend with a private status file and a clean TEND_* environment.
pub fn tend(mode: Mode, scratch: &Scratch, args: &[&str]) -> Command {
    let argv = tend_argv();
    let mut cmd = match mode {
        Mode::Process => Command::new(&argv[0]),
        Mode::Pid1 => {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", &argv[0]]);
            c
        }
    };
    cmd.args(&argv[1..]).args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEND_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TEND_STATUS_FILE", scratch.path("status.json"));
    cmd.stdin(Stdio::null());
    start_like_a_container_runtime(&mut cmd);
    cmd
}

/// `tend ARGS` as a client of the tend whose status file is in `scratch`, with a clean
/// TEND_* environment: what it printed and returned.
#[allow(dead_code)] // not every test binary uses it
pub fn client_output(scratch: &Scratch, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEND_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TEND_STATUS_FILE", scratch.path("status.json"));
    cmd.stdin(Stdio::null());
    cmd.output().expect("run the tend client")
}

/// Makes `cmd` start with every signal at default, as a container runtime starts tend.
/// std's Command uses glibc's posix_spawn, which would start tend with 32 and 33 ignored;
/// tend then takes its careful fork path for every child, and the common path (its own
/// posix_spawn) would go untested. A pre_exec step makes std fork instead, and resets
/// the two with the raw system call (glibc's wrapper refuses them).
pub fn start_like_a_container_runtime(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // Safety: only async-signal-safe system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let default: [usize; 4] = [libc::SIG_DFL, 0, 0, 0];
            for sig in [32, 33] {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    std::ptr::null_mut::<usize>(),
                    8usize,
                );
            }
            Ok(())
        });
    }
}

/// The pid of the tend that `child` started (itself, or unshare's child in PID-1 mode).
pub fn tend_pid_of(child: &Child, mode: Mode) -> i32 {
    match mode {
        Mode::Process => child.id() as i32,
        Mode::Pid1 => {
            let deadline = Instant::now() + PATIENCE;
            loop {
                let path = format!("/proc/{0}/task/{0}/children", child.id());
                if let Some(pid) = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.split_whitespace().next().map(str::to_owned))
                    .and_then(|s| s.parse().ok())
                {
                    return pid;
                }
                assert!(
                    Instant::now() < deadline,
                    "tend never started under unshare"
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// A running tend with its event stream.
pub struct Running {
    pub child: Child,
    pub mode: Mode,
    lines: Receiver<String>,
    pub seen: Vec<Value>,
    pub raw: Vec<String>,
}

impl Running {
    pub fn start(mut cmd: Command, mode: Mode) -> Self {
        cmd.stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn tend");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running::with_lines(child, mode, rx)
    }

    /// Like `start`, with tend's stderr on the regular file `log`, which never fills:
    /// for tests that count events by the thousand, which a pipe would lose to tend's
    /// dropping of lines that do not fit (log_lines_dropped).
    pub fn start_logging_to(mut cmd: Command, mode: Mode, log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        cmd.stderr(file);
        let child = cmd.spawn().expect("spawn tend");
        let pid = child.id();
        let mut reader = BufReader::new(std::fs::File::open(log).expect("log file"));
        let (tx, rx) = channel();
        thread::spawn(move || {
            let mut line = String::new();
            let mut exited = false;
            loop {
                match reader.read_line(&mut line) {
                    // The end, once tend has exited and everything it wrote was read.
                    Ok(0) if exited => break,
                    // At the end of the file for now: tend has not written more yet.
                    Ok(0) => {
                        exited = !is_running(pid);
                        if !exited {
                            thread::sleep(Duration::from_millis(2));
                        }
                    }
                    Ok(_) if line.ends_with('\n') => {
                        if tx.send(line.trim_end().to_string()).is_err() {
                            break;
                        }
                        line.clear();
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Running::with_lines(child, mode, rx)
    }

    fn with_lines(child: Child, mode: Mode, lines: Receiver<String>) -> Self {
        Running {
            child,
            mode,
            lines,
            seen: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// The pid to signal: tend itself (in PID-1 mode, its pid as the host sees it).
    pub fn tend_pid(&self) -> i32 {
        tend_pid_of(&self.child, self.mode)
    }

    pub fn signal(&self, sig: i32) {
        let pid = self.tend_pid();
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
    }

    fn next_line(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.raw.push(line.clone());
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    self.seen.push(value);
                }
                Some(line)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for the first event named `name` after those already seen.
    pub fn wait_event(&mut self, name: &str) -> Value {
        self.wait_event_where(name, |_| true)
    }

    pub fn wait_event_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let start = self.seen.len();
        let deadline = Instant::now() + PATIENCE;
        let mut checked = start;
        loop {
            while checked < self.seen.len() {
                let event = &self.seen[checked];
                checked += 1;
                if event["event"] == name && pred(event) {
                    return event.clone();
                }
            }
            if self.next_line(deadline).is_none() {
                panic!(
                    "no {name} event within {PATIENCE:?}; output so far:\n{}",
                    self.raw.join("\n")
                );
            }
        }
    }

    /// Waits for tend to exit; returns its code and reads the rest of its output.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        while self.next_line(deadline).is_some() {}
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                use std::os::unix::process::ExitStatusExt;
                return status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tend did not exit; output:\n{}", self.raw.join("\n"));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every event with this name seen so far.
    pub fn events(&self, name: &str) -> Vec<&Value> {
        self.seen.iter().filter(|e| e["event"] == name).collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // Killing unshare would leave its namespace running: kill its PID 1, which
            // takes every process of the namespace with it.
            if self.mode == Mode::Pid1 {
                let path = format!("/proc/{0}/task/{0}/children", self.child.id());
                let pid1 = std::fs::read_to_string(path).unwrap_or_default();
                if let Some(pid) = pid1
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<i32>().ok())
                {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs tend to completion and returns (exit code, events, raw stderr lines).
pub fn run(mode: Mode, scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> (i32, Running) {
    let mut cmd = tend(mode, scratch, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut running = Running::start(cmd, mode);
    let code = running.wait_exit();
    (code, running)
}

/// Polls `cond` until true or PATIENCE runs out (for conditions no event announces, such
/// as a file appearing that the child writes).
pub fn wait_for(what: &str, cond: impl Fn() -> bool) {
    wait_for_within(what, PATIENCE, cond);
}

/// `wait_for` with a patience of its own, for work that is slow by nature on a loaded
/// machine (megabytes through a pipe): still only a bound that catches a hang.
#[allow(dead_code)] // not every test binary uses it
pub fn wait_for_within(what: &str, patience: Duration, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + patience;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Reads a file the child writes once it is ready (a pid, a marker).
pub fn read_when_present(path: &Path) -> String {
    wait_for(&format!("{}", path.display()), || {
        std::fs::read_to_string(path)
            .map(|s| s.ends_with('\n'))
            .unwrap_or(false)
    });
    std::fs::read_to_string(path).expect("read")
}

/// Zombie processes among `pids` (state Z in /proc/PID/stat).
pub fn zombies_in_namespace_of(pid: i32) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/root/proc")) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{pid}/root/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rfind(')').map(|i| s[i + 2..].starts_with('Z')))
                .unwrap_or(false)
        })
        .count()
}

/// Whether `pid` is still running (a zombie has exited).
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            Some(
                stat[stat.rfind(')')? + 1..]
                    .trim_start()
                    .starts_with(|c| c != 'Z'),
            )
        })
        .unwrap_or(false)
}

/// The exit code of a child whose output is not read (128 + N when signal N killed it),
/// waited for at most PATIENCE: past it the child is killed and the test fails (a hang).
pub fn wait_code(child: &mut std::process::Child) -> i32 {
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
        std::thread::sleep(Duration::from_millis(2));
    }
}
