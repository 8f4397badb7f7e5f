//! The control socket against the real binary: `tend restart` and `tend stop` from the
//! command line, the socket's mode and owner, other users refused, silent and bad
//! clients, stale and foreign files at the socket's path, and the socket turned off.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{tend, wait_for, Mode, Running, Scratch, BIN, MODES, PATIENCE};
use serde_json::Value;

const NOBODY: &str = "65534";

fn euid() -> u32 {
    unsafe { libc::geteuid() }
}

/// What a client run printed and returned.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `tend ARGS` as a client with the same status file as the tend under test (and
/// `env` on top), optionally as another user through setpriv.
fn client(scratch: &Scratch, args: &[&str], env: &[(&str, &str)], as_uid: Option<&str>) -> Outcome {
    let mut cmd = match as_uid {
        None => Command::new(BIN),
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                BIN,
            ]);
            c
        }
    };
    cmd.args(args);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEND_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TEND_STATUS_FILE", scratch.path("status.json"));
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null());
    let out = cmd.output().expect("run the tend client");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Starts tend on `script` (run by sh) with debug events, waits until the socket listens
/// and the child runs; returns the socket's path and the child's pid.
fn start(
    mode: Mode,
    scratch: &Scratch,
    script: &str,
    env: &[(&str, &str)],
) -> (Running, PathBuf, i64) {
    let mut cmd = tend(mode, scratch, &["--", "sh", "-c", script]);
    cmd.env("TEND_LOG_LEVEL", "debug");
    cmd.envs(env.iter().copied());
    let mut running = Running::start(cmd, mode);
    let listening = running.wait_event("control_listening");
    let path = PathBuf::from(listening["path"].as_str().expect("path"));
    let started = running.wait_event("child_started");
    (running, path, started["pid"].as_i64().expect("pid"))
}

/// A child that records its pid, and each SIGTERM it gets, in `log`.
fn recording_child(log: &Path) -> String {
    format!(
        "trap 'echo term $$ >> {0}; exit 0' TERM; echo start $$ >> {0}; \
         while :; do sleep 0.05; done",
        log.display()
    )
}

/// Waits until the recording child `pid` has written its start line, that is until its
/// TERM trap is set: a TERM that comes earlier kills the shell with 143 and no line.
fn wait_trap_set(log: &Path, pid: i64) {
    let line = format!("start {pid}\n");
    wait_for(&format!("child {pid}'s start line"), || {
        std::fs::read_to_string(log).is_ok_and(|l| l.contains(&line))
    });
}

fn status_file(scratch: &Scratch) -> Value {
    std::fs::read_to_string(scratch.path("status.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

#[test]
fn restart_stops_the_child_with_sigterm_and_starts_a_new_one() {
    for mode in MODES {
        let scratch = Scratch::new("restart");
        let log = scratch.path("log");
        let (mut t, socket, old) = start(mode, &scratch, &recording_child(&log), &[]);
        assert_eq!(
            socket,
            scratch.path("control.sock"),
            "beside the status file"
        );
        wait_trap_set(&log, old);

        let out = client(&scratch, &["restart"], &[], None);
        assert_eq!(out.code, 0, "{mode:?}: {}", out.stderr);
        assert!(out.stdout.contains("restart requested"), "{}", out.stdout);

        let request = t.wait_event_where("control_request", |e| e["request"] == "restart");
        assert_eq!(request["accepted"], true);
        assert_eq!(request["uid"], euid());
        let initiated = t.wait_event("restart_initiated");
        assert_eq!(initiated["reason"], "requested");
        assert_eq!(initiated["pid"], old);
        let new = t.wait_event("child_started")["pid"].as_i64().expect("pid");
        assert_ne!(new, old, "{mode:?}: a new child");
        // The old child got the stop signal (and exited on it) before the new one began.
        let wanted = format!("start {old}\nterm {old}\nstart {new}\n");
        wait_for("the new child's start line", || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.starts_with(&wanted))
        });
        wait_for("status restarts 1", || {
            let s = status_file(&scratch);
            s["restarts"] == 1 && s["child_pid"] == new && s["state"] == "running"
        });
        // The same snapshot over the socket.
        let out = client(&scratch, &["status", "--socket"], &[], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let snapshot: Value = serde_json::from_str(out.stdout.trim()).expect("JSON");
        assert_eq!(snapshot["restarts"], 1);
        assert_eq!(snapshot["child_pid"], new);

        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 0, "{mode:?}: the new child exits 0 on TERM");
        assert_eq!(t.events("restart_initiated").len(), 1);
    }
}

#[test]
fn stop_runs_the_shutdown_sequence_and_removes_the_socket() {
    for mode in MODES {
        let scratch = Scratch::new("stop");
        // A path of one's own, in a directory tend creates.
        let socket = scratch.path("run/ctl.sock");
        let socket_env = socket.to_str().expect("UTF-8").to_owned();
        let env = [("TEND_CONTROL_SOCKET", socket_env.as_str())];
        let (mut t, listening, _) = start(mode, &scratch, "exec sleep 60", &env);
        assert_eq!(listening, socket);

        let out = client(&scratch, &["stop"], &env, None);
        assert_eq!(out.code, 0, "{mode:?}: {}", out.stderr);
        assert!(out.stdout.contains("stop requested"), "{}", out.stdout);
        // No TERM was received: the log says where the stop came from.
        let initiated = t.wait_event("shutdown_initiated");
        assert_eq!(initiated["reason"], "requested", "{initiated}");
        assert!(initiated["signal"].is_null(), "{initiated}");
        assert!(
            initiated["message"]
                .as_str()
                .is_some_and(|m| m.contains("control socket") && !m.contains("received")),
            "{initiated}"
        );
        assert_eq!(t.wait_exit(), 143, "{mode:?}: sleep dies of the TERM");
        assert_eq!(t.events("shutdown_completed").len(), 1);
        assert_eq!(t.events("shutdown_completed")[0]["exit_code"], 143);
        assert_eq!(
            t.events("shutdown_completed")[0]["reason"],
            "stop_requested"
        );
        assert!(!socket.exists(), "{mode:?}: the socket is removed at exit");
        // Nobody listens any more: a clear error naming the path.
        let out = client(&scratch, &["stop"], &env, None);
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains(&socket_env), "{}", out.stderr);
    }
}

#[test]
fn socket_is_private_and_other_users_are_refused() {
    let scratch = Scratch::new("private");
    let log = scratch.path("log");
    let (mut t, socket, old) = start(Mode::Process, &scratch, &recording_child(&log), &[]);
    wait_trap_set(&log, old);
    let meta = std::fs::symlink_metadata(&socket).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o7777, 0o600, "mode {:o}", meta.mode());
    assert_eq!(meta.uid(), euid(), "owned by tend's user");

    // The file's mode stops another user at connect().
    let out = client(&scratch, &["restart"], &[], Some(NOBODY));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("permission denied"), "{}", out.stderr);
    assert!(out.stderr.contains("control.sock"), "{}", out.stderr);

    // With the mode opened up, the peer credentials still refuse it.
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let out = client(&scratch, &["restart"], &[], Some(NOBODY));
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("refused") && out.stderr.contains("uid 65534"),
        "{}",
        out.stderr
    );
    let refusal = t.wait_event("control_request");
    assert_eq!(refusal["accepted"], false, "{refusal}");
    assert_eq!(refusal["uid"], 65534);
    assert!(refusal["pid"].as_i64().unwrap_or(0) > 0, "{refusal}");
    let out = client(&scratch, &["stop"], &[], Some(NOBODY));
    assert_eq!(out.code, 1);

    // A request that is accepted afterwards is the first and only restart: the refused
    // ones sent nothing to the supervisor (the channel keeps the order).
    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let new = t.wait_event("child_started")["pid"].as_i64().expect("pid");
    wait_for("status restarts 1", || {
        status_file(&scratch)["restarts"] == 1
    });
    wait_trap_set(&log, new);
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 0);
    let restarts = t.events("restart_initiated");
    assert_eq!(restarts.len(), 1, "only the accepted restart");
    assert_eq!(restarts[0]["pid"], old);
    let refused = t
        .events("control_request")
        .iter()
        .filter(|e| e["accepted"] == false)
        .count();
    assert_eq!(refused, 2, "one refusal per refused client");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        format!("start {old}\nterm {old}\nstart {new}\nterm {new}\n")
    );
}

#[test]
fn root_may_control_a_tend_that_runs_as_another_user() {
    let scratch = Scratch::new("nobody");
    std::os::unix::fs::chown(&scratch.0, Some(65534), Some(65534)).expect("chown");
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        BIN,
        "--",
        "sleep",
        "60",
    ]);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TEND_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TEND_STATUS_FILE", scratch.path("status.json"))
        .env("TEND_LOG_LEVEL", "debug")
        .stdin(Stdio::null());
    let mut t = Running::start(cmd, Mode::Process);
    let socket = PathBuf::from(
        t.wait_event("control_listening")["path"]
            .as_str()
            .expect("path"),
    );
    t.wait_event("child_started");
    let meta = std::fs::symlink_metadata(&socket).expect("socket");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o600));

    let out = client(&scratch, &["stop"], &[], None);
    assert_eq!(out.code, 0, "root is accepted: {}", out.stderr);
    assert_eq!(
        t.wait_event("control_request")["uid"],
        0,
        "the request came from root"
    );
    assert_eq!(t.wait_exit(), 143);
}

#[test]
fn a_silent_client_does_not_block_others_and_is_dropped_in_time() {
    let scratch = Scratch::new("silent");
    let (mut t, socket, _) = start(Mode::Process, &scratch, "exec sleep 60", &[]);
    let mut silent = UnixStream::connect(&socket).expect("connect");

    let out = client(&scratch, &["status", "--socket"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    t.wait_event_where("restart_initiated", |e| e["reason"] == "requested");
    t.wait_event("child_started");

    // Those were answered while the silent connection was still open...
    silent.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let pending = silent.read(&mut byte);
    assert!(
        matches!(&pending, Err(e) if e.kind() == ErrorKind::WouldBlock),
        "the silent connection should still be open: {pending:?}"
    );
    // ...and it is closed, unanswered, after the read timeout.
    silent.set_nonblocking(false).expect("blocking");
    silent.set_read_timeout(Some(PATIENCE)).expect("timeout");
    // read_to_end retries a read that a signal interrupts (EINTR), as a lone read does not.
    let mut rest = Vec::new();
    assert_eq!(silent.read_to_end(&mut rest).expect("EOF"), 0);
    let dropped = t.wait_event_where("control_request", |e| e["reason"] == "timeout");
    assert_eq!(dropped["accepted"], false);

    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

/// Sends raw bytes and returns tend's answer.
fn raw(socket: &Path, bytes: &[u8]) -> Value {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("answer");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    serde_json::from_str(&text).expect("JSON answer")
}

#[test]
fn bad_requests_get_a_one_line_error_and_change_nothing() {
    let scratch = Scratch::new("bad");
    let (mut t, socket, _) = start(Mode::Process, &scratch, "exec sleep 60", &[]);
    let answer = raw(&socket, b"reboot\n");
    assert_eq!(answer["accepted"], false);
    let error = answer["error"].as_str().expect("error");
    assert!(
        error.contains("reboot") && error.contains("restart, stop or status"),
        "{error}"
    );
    let answer = raw(&socket, &[b'x'; 5000]);
    assert_eq!(answer["accepted"], false);
    assert!(answer["error"]
        .as_str()
        .expect("error")
        .contains("4096 bytes"));
    let answer = raw(&socket, b"status\r\n");
    assert_eq!(answer["accepted"], true);
    assert_eq!(answer["status"]["state"], "running");

    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
    assert!(t.events("restart_initiated").is_empty());
    assert_eq!(t.events("shutdown_completed").len(), 1);
}

#[test]
fn a_stale_socket_from_a_dead_tend_is_replaced() {
    let scratch = Scratch::new("stale");
    let (mut dead, socket, child) = start(Mode::Process, &scratch, "exec sleep 60", &[]);
    // SIGKILL leaves no time to remove the socket; the orphaned child goes too.
    dead.signal(libc::SIGKILL);
    unsafe { libc::kill(child as i32, libc::SIGKILL) };
    assert_eq!(dead.wait_exit(), 137);
    let meta = std::fs::symlink_metadata(&socket).expect("the dead tend's socket");
    assert!(meta.file_type().is_socket());
    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nothing listens"), "{}", out.stderr);

    let (mut t, again, _) = start(Mode::Process, &scratch, "exec sleep 60", &[]);
    assert_eq!(again, socket);
    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    t.wait_event_where("restart_initiated", |e| e["reason"] == "requested");
    t.signal(libc::SIGTERM);
    t.wait_exit();
}

#[test]
fn foreign_files_at_the_socket_path_are_left_alone() {
    let scratch = Scratch::new("foreign");
    let socket = scratch.path("control.sock");
    let target = scratch.path("target");
    std::fs::write(&target, "keep me\n").expect("target");
    for case in ["regular file", "symbolic link", "live socket"] {
        let _ = std::fs::remove_file(&socket);
        let mut _listener = None;
        match case {
            "regular file" => std::fs::write(&socket, "precious\n").expect("file"),
            "symbolic link" => std::os::unix::fs::symlink(&target, &socket).expect("link"),
            _ => _listener = Some(UnixListener::bind(&socket).expect("bind")),
        }
        let before = std::fs::symlink_metadata(&socket).expect("there").ino();
        let mut cmd = tend(Mode::Process, &scratch, &["--", "sleep", "60"]);
        cmd.env("TEND_LOG_LEVEL", "debug");
        let mut t = Running::start(cmd, Mode::Process);
        let failed = t.wait_event("control_failed");
        assert_eq!(failed["path"], socket.to_str().expect("UTF-8"), "{case}");
        assert_eq!(failed["level"], "WARN");
        t.wait_event("child_started");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{case}: tend supervised as usual");
        assert!(t.events("control_listening").is_empty(), "{case}");
        assert_eq!(t.events("control_failed").len(), 1, "{case}: reported once");
        let after = std::fs::symlink_metadata(&socket).expect("still there");
        assert_eq!(after.ino(), before, "{case}: untouched");
        match case {
            "regular file" => assert_eq!(
                std::fs::read_to_string(&socket).expect("file"),
                "precious\n"
            ),
            "symbolic link" => {
                assert!(after.file_type().is_symlink());
                assert_eq!(std::fs::read_to_string(&target).expect("t"), "keep me\n");
            }
            _ => assert!(after.file_type().is_socket()),
        }
    }
}

#[test]
fn turned_off_creates_nothing_and_the_client_says_so() {
    let scratch = Scratch::new("off");
    let mut cmd = tend(Mode::Process, &scratch, &["--", "sleep", "60"]);
    cmd.env("TEND_LOG_LEVEL", "debug")
        .env("TEND_CONTROL_SOCKET", "off");
    let mut t = Running::start(cmd, Mode::Process);
    t.wait_event("child_started");
    // control::start runs before the child is spawned: anything would be there by now.
    assert!(!scratch.path("control.sock").exists());
    assert!(t.events("control_listening").is_empty());
    assert!(t.events("control_failed").is_empty());

    let out = client(&scratch, &["stop"], &[("TEND_CONTROL_SOCKET", "off")], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("turned off (TEND_CONTROL_SOCKET=off)"),
        "{}",
        out.stderr
    );
    let out = client(&scratch, &["stop"], &[], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no control socket at")
            && out
                .stderr
                .contains(scratch.path("control.sock").to_str().expect("UTF-8")),
        "{}",
        out.stderr
    );
    assert!(matches!(t.child.try_wait(), Ok(None)), "tend still runs");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

#[test]
fn usage_errors_and_typos() {
    let scratch = Scratch::new("usage");
    let out = client(&scratch, &["restart", "--now"], &[], None);
    assert_eq!(out.code, 64, "{}", out.stderr);
    let out = client(&scratch, &["stop", "--force"], &[], None);
    assert_eq!(out.code, 64, "{}", out.stderr);
    let out = client(&scratch, &["restrat"], &[], None);
    assert_eq!(out.code, 127);
    assert!(out.stderr.contains("tend restart"), "{}", out.stderr);
}

/// TEND_STATUS_FILE and TEND_CONTROL_SOCKET are read by every client command as tend
/// reads them: trimmed (a stray space in a compose file), and empty as the default.
#[test]
fn clients_read_the_path_variables_as_tend_does() {
    for mode in MODES {
        let scratch = Scratch::new("padded");
        let padded = format!("{} ", scratch.path("status.json").display());
        let env = [("TEND_STATUS_FILE", padded.as_str())];
        let (mut running, socket, _) = start(mode, &scratch, "sleep 100000 & wait", &env);
        assert_eq!(socket, scratch.path("control.sock"), "{mode:?}");
        // From outside its PID namespace a PID-1 tend's status file looks stale (its pid
        // is 1): `tend health` and `tend status` are asked of the ordinary process only.
        if mode == Mode::Process {
            wait_for("state running", || {
                client(&scratch, &["health"], &env, None).code == 0
            });
            let status = client(&scratch, &["status"], &env, None);
            assert_eq!(status.code, 0, "tend status: {}", status.stderr);
            let snapshot: Value = serde_json::from_str(&status.stdout).expect("status JSON");
            assert_eq!(snapshot["state"], "running");
        }
        let padded_socket = format!(" {}\t", socket.display());
        for (args, extra) in [
            (&["status", "--socket"][..], None),
            (&["status", "--socket"][..], Some(padded_socket.as_str())),
            (&["stop"][..], Some(padded_socket.as_str())),
        ] {
            let mut env = env.to_vec();
            env.extend(extra.map(|s| ("TEND_CONTROL_SOCKET", s)));
            let out = client(&scratch, args, &env, None);
            assert_eq!(out.code, 0, "{mode:?} tend {args:?}: {}", out.stderr);
        }
        assert_eq!(running.wait_exit(), 143, "{mode:?}: stopped by `tend stop`");
    }
    // Empty: the default place, for tend and each client alike (in a mount namespace
    // with a tmpfs of its own on /run, where the default place is /run/tend).
    let script = format!(
        r#"mount -t tmpfs none /run || exit 99
        {BIN} -- sleep 100000 >/dev/null 2>&1 &
        tend=$!; trap 'kill -9 $tend 2>/dev/null' EXIT
        n=0; until {BIN} health >/dev/null; do n=$((n+1)); [ $n -lt 2000 ] || exit 98; sleep 0.01; done
        {BIN} status >/dev/null; echo "status $?"
        {BIN} status --socket >/dev/null; echo "status --socket $?"
        {BIN} stop >/dev/null; r=$?; echo "stop $r"
        [ $r = 0 ] && {{ wait $tend; echo "tend $?"; }}"#
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("TEND_STATUS_FILE", "")
        .env("TEND_CONTROL_SOCKET", " ")
        .stdin(Stdio::null())
        .output()
        .expect("unshare");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "with empty variables:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["status 0", "status --socket 0", "stop 0", "tend 143"]
    );
}

/// Like `recording_child`, but on the TERM it exits only once `release` exists: the
/// restart's stop phase lasts until the test ends it.
fn slow_stopping_child(log: &Path, release: &Path) -> String {
    format!(
        "trap 'echo term $$ >> {0}; while [ ! -e {1} ]; do sleep 0.02; done; exit 0' TERM; \
         echo start $$ >> {0}; while :; do sleep 0.05; done",
        log.display(),
        release.display()
    )
}

#[test]
fn concurrent_restarts_restart_once_and_refuse_the_others() {
    for mode in MODES {
        let scratch = Scratch::new("concurrent");
        let (log, release) = (scratch.path("log"), scratch.path("release"));
        let env = [("TEND_SHUTDOWN_TIMEOUT", "60s")];
        let script = slow_stopping_child(&log, &release);
        let (mut t, socket, old) = start(mode, &scratch, &script, &env);
        wait_trap_set(&log, old);

        // Eight clients at once (the protocol `tend restart` speaks; the command itself is
        // refused in the next test): all connect, then all send, then all read. The old child
        // does not stop until `release`, so every request is judged while the first
        // accepted restart is under way.
        let mut streams: Vec<UnixStream> = (0..8)
            .map(|_| UnixStream::connect(&socket).expect("connect"))
            .collect();
        for stream in &mut streams {
            stream.write_all(b"restart\n").expect("send");
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        let answers: Vec<Value> = streams
            .iter_mut()
            .map(|stream| {
                stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
                let mut text = String::new();
                stream.read_to_string(&mut text).expect("answer");
                serde_json::from_str(&text).expect("JSON answer")
            })
            .collect();
        let (accepted, refused): (Vec<_>, Vec<_>) =
            answers.iter().partition(|a| a["accepted"] == true);
        assert_eq!(accepted.len(), 1, "{mode:?}: one accepted: {answers:?}");
        let message = accepted[0]["message"].as_str().expect("message");
        assert!(
            message.contains(&format!("child pid {old}")),
            "the answer names the child it restarts: {message}"
        );
        for answer in &refused {
            let error = answer["error"].as_str().expect("error");
            assert!(
                error.contains("a restart is already under way")
                    && error.contains("not carried out"),
                "{mode:?}: {error}"
            );
        }
        // One event per client, consistent with the answers.
        for _ in 0..8 {
            t.wait_event_where("control_request", |e| e["request"] == "restart");
        }
        let requests = t.events("control_request");
        let yes = requests.iter().filter(|e| e["accepted"] == true).count();
        let no: Vec<_> = requests.iter().filter(|e| e["accepted"] == false).collect();
        assert_eq!((yes, no.len()), (1, 7), "{mode:?}: {requests:?}");
        assert!(no.iter().all(|e| e["reason"] == "state"), "{no:?}");

        std::fs::write(&release, "").expect("release");
        let new = t.wait_event("child_started")["pid"].as_i64().expect("pid");
        wait_trap_set(&log, new);
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 0, "{mode:?}");
        let restarts = t.events("restart_initiated");
        assert_eq!(restarts.len(), 1, "{mode:?}: one restart: {restarts:?}");
        assert_eq!(restarts[0]["pid"], old);
        assert_eq!(
            t.events("child_started").len(),
            2,
            "{mode:?}: one new child"
        );
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            format!("start {old}\nterm {old}\nstart {new}\nterm {new}\n")
        );
    }
}

#[test]
fn during_a_restarts_stop_a_restart_is_refused_and_a_stop_ends_tend() {
    let scratch = Scratch::new("stopphase");
    let (log, release) = (scratch.path("log"), scratch.path("release"));
    let env = [("TEND_SHUTDOWN_TIMEOUT", "60s")];
    let script = slow_stopping_child(&log, &release);
    let (mut t, _, old) = start(Mode::Process, &scratch, &script, &env);
    wait_trap_set(&log, old);

    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    t.wait_event("restart_initiated");
    wait_for("the old child's term line", || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains(&format!("term {old}")))
    });

    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("a restart is already under way"),
        "{}",
        out.stderr
    );
    let refusal = t.wait_event_where("control_request", |e| e["accepted"] == false);
    assert_eq!(refusal["reason"], "state");
    // A stop is accepted and ends tend once the old child has stopped: no new child.
    let out = client(&scratch, &["stop"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("stop requested"), "{}", out.stdout);

    std::fs::write(&release, "").expect("release");
    assert_eq!(
        t.wait_exit(),
        0,
        "the old child's code (its TERM trap exits 0)"
    );
    assert_eq!(t.events("child_started").len(), 1, "no new child started");
    assert_eq!(t.events("restart_initiated").len(), 1);
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        format!("start {old}\nterm {old}\n")
    );
}

#[test]
fn during_a_restart_delay_a_restart_is_refused_and_a_stop_ends_tend() {
    let scratch = Scratch::new("delay");
    let env = [
        ("TEND_RESTART", "always"),
        ("TEND_RESTART_DELAY", "60s"),
        ("TEND_RESTART_MAX_DELAY", "60s"),
    ];
    let (mut t, _, old) = start(Mode::Process, &scratch, "exit 3", &env);
    let initiated = t.wait_event("restart_initiated");
    assert_eq!(initiated["reason"], "child_exited");
    assert_eq!(initiated["pid"], old);

    let out = client(&scratch, &["restart"], &[], None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("a restart is already under way"),
        "{}",
        out.stderr
    );
    let refusal = t.wait_event("control_request");
    assert_eq!(
        (&refusal["accepted"], &refusal["reason"]),
        (&false.into(), &"state".into())
    );
    let out = client(&scratch, &["stop"], &[], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(t.wait_exit(), 3, "the last child's code");
    assert_eq!(
        t.events("child_started").len(),
        1,
        "the delay was not waited out"
    );
    let requests = t.events("control_request");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1]["accepted"], true);
}

/// `tend stop` asks tend to end everything in its namespace, and as PID 1 tend TERMs the
/// processes left there, a `docker exec`'d client included: the client ignores TERM, so
/// that it still reads and prints its answer. A listener that never answers holds it in
/// its request while the test sends TERM.
#[test]
fn the_stop_client_outlives_the_term_its_own_request_causes() {
    let scratch = Scratch::new("stop-client-term");
    let path = scratch.path("control.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    let mut client = Command::new(BIN)
        .arg("stop")
        .env("TEND_CONTROL_SOCKET", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tend stop");
    let (mut conn, _) = listener.accept().expect("the client connects");
    let mut line = [0u8; 5];
    conn.read_exact(&mut line).expect("the request");
    assert_eq!(&line, b"stop\n");
    // Safety: a signal to our own child, not yet waited for.
    assert_eq!(unsafe { libc::kill(client.id() as i32, libc::SIGTERM) }, 0);
    conn.write_all(b"{\"accepted\":true,\"request\":\"stop\"}\n")
        .expect("the answer");
    drop(conn);
    let status = client.wait().expect("wait");
    let mut said = String::new();
    if let Some(mut err) = client.stderr.take() {
        let _ = err.read_to_string(&mut said);
    }
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "killed by TERM: {said}");
}
