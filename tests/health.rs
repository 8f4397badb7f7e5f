//! Health checks and `tend health` against the real binary: a flapping exec check (a
//! file the test creates and removes) and the readiness answers through the lifecycle.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{tend, Mode, Running, Scratch, BIN, MODES};
use serde_json::Value;

/// Starts tend with a fast exec health check on `ok` (present = healthy).
fn start(mode: Mode, scratch: &Scratch, env: &[(&str, &str)]) -> Running {
    let check = format!("exec:test -f {}", scratch.path("ok").display());
    let mut cmd = tend(mode, scratch, &["--", "sleep", "60"]);
    cmd.envs([
        ("TEND_HEALTH_CHECK", check.as_str()),
        ("TEND_HEALTH_INTERVAL", "50ms"),
        ("TEND_LOG_LEVEL", "debug"),
        // Verdicts stay put unless a test asks for remediation.
        ("TEND_REMEDIATION", "none"),
    ]);
    cmd.envs(env.iter().copied());
    Running::start(cmd, mode)
}

/// Runs `tend health [--live]` as a healthcheck would: inside tend's PID namespace when
/// tend is PID 1 there (the status file records pid 1).
fn ask(running: &Running, scratch: &Scratch, live: bool) -> (i32, String) {
    let mut cmd = match running.mode {
        Mode::Process => Command::new(BIN),
        Mode::Pid1 => {
            let mut c = Command::new("nsenter");
            let target = running.tend_pid().to_string();
            c.args(["--target", &target, "--pid", "--mount", BIN]);
            c
        }
    };
    cmd.arg("health");
    if live {
        cmd.arg("--live");
    }
    cmd.env("TEND_STATUS_FILE", scratch.path("status.json"));
    let out = cmd.stderr(Stdio::inherit()).output().expect("tend health");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    (out.status.code().unwrap_or(-1), text)
}

/// Waits for the next matching event and returns its position in the stream (the wait
/// stops at the line that matched, so it is the last one seen).
fn wait_at(running: &mut Running, name: &str, pred: impl Fn(&Value) -> bool) -> usize {
    running.wait_event_where(name, pred);
    running.seen.len() - 1
}

/// Events named `name` between two positions of the stream.
fn count_between(running: &Running, name: &str, from: usize, to: usize) -> usize {
    running.seen[from..to]
        .iter()
        .filter(|e| e["event"] == name)
        .count()
}

fn changed_to(running: &mut Running, to: &'static str) -> usize {
    wait_at(running, "health_state_changed", |e| e["to"] == to)
}

#[test]
fn flapping_check_respects_both_thresholds() {
    for mode in MODES {
        let scratch = Scratch::new("flap");
        // Up at once; the failures below come once it runs (while starting none count).
        std::fs::write(scratch.path("ok"), "").expect("ok");
        let mut t = start(
            mode,
            &scratch,
            &[
                ("TEND_HEALTH_FAILURE_THRESHOLD", "3"),
                ("TEND_HEALTH_SUCCESS_THRESHOLD", "2"),
            ],
        );
        wait_at(&mut t, "startup_completed", |_| true);
        std::fs::remove_file(scratch.path("ok")).expect("rm ok");
        let begin = wait_at(&mut t, "health_check_failed", |_| true);
        let unhealthy = changed_to(&mut t, "unhealthy");
        assert_eq!(
            count_between(&t, "health_check_failed", begin, unhealthy),
            3,
            "{mode:?}: unhealthy on the third failure"
        );
        assert_eq!(t.seen[unhealthy - 1]["consecutive_failures"], 3);
        std::fs::write(scratch.path("ok"), "").expect("ok");
        let first_pass = wait_at(&mut t, "health_check_passed", |_| true);
        let healthy = changed_to(&mut t, "healthy");
        assert_eq!(
            count_between(&t, "health_check_passed", first_pass, healthy),
            2,
            "{mode:?}: healthy on the second pass in a row"
        );
        std::fs::remove_file(scratch.path("ok")).expect("rm ok");
        let first_failure = wait_at(&mut t, "health_check_failed", |_| true);
        let again = changed_to(&mut t, "unhealthy");
        assert_eq!(
            count_between(&t, "health_check_failed", first_failure, again),
            3,
            "{mode:?}"
        );
        let failure = &t.seen[again - 1];
        assert_eq!(failure["level"], "WARN");
        assert!(failure["error"]
            .as_str()
            .unwrap_or("")
            .contains("test exited with code 1"));
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

#[test]
fn start_period_failures_do_not_count() {
    // The start period outlasts `starting` (one pass): later failures within it are not
    // counted either.
    let scratch = Scratch::new("start-period");
    std::fs::write(scratch.path("ok"), "").expect("ok");
    let mut t = start(
        Mode::Process,
        &scratch,
        &[
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
            // Wide enough that the first check falls inside it on a loaded machine too.
            ("TEND_HEALTH_START_PERIOD", "5s"),
        ],
    );
    t.wait_event("startup_completed");
    std::fs::remove_file(scratch.path("ok")).expect("rm ok");
    let first = t.wait_event("health_check_failed");
    assert_eq!(first["counted"], false);
    assert_eq!(first["level"], "DEBUG");
    assert_eq!(first["consecutive_failures"], 0);
    let change = changed_to(&mut t, "unhealthy");
    assert_eq!(t.seen[change - 1]["counted"], true);
    assert_eq!(t.seen[change - 1]["level"], "WARN");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

#[test]
fn remediation_restarts_then_exits_75() {
    for mode in MODES {
        let scratch = Scratch::new("ladder");
        std::fs::write(scratch.path("ok"), "").expect("ok");
        let mut t = start(
            mode,
            &scratch,
            &[
                ("TEND_REMEDIATION", "restart,exit"),
                ("TEND_HEALTH_FAILURE_THRESHOLD", "2"),
                ("TEND_STARTUP_TIMEOUT", "1s"),
            ],
        );
        let first = t.wait_event("child_started")["pid"].clone();
        t.wait_event("startup_completed");
        std::fs::remove_file(scratch.path("ok")).expect("rm ok");
        let begin = t.seen.len();
        let step = t.wait_event("remediation_started");
        assert_eq!(step["step"], "restart", "{mode:?}");
        assert_eq!(
            count_between(&t, "health_check_failed", begin, t.seen.len()),
            2,
            "{mode:?}: the first step after a failure threshold"
        );
        let restart = t.wait_event("restart_initiated");
        assert_eq!(
            (restart["attempt"].as_u64(), &restart["pid"]),
            (Some(1), &first)
        );
        t.wait_event_where("child_exited", |e| e["pid"] == first);
        let second = t.wait_event("child_started")["pid"].clone();
        assert_ne!(first, second, "{mode:?}: a new child");
        // The new child never passes: only the startup timeout ends its start.
        let overdue = t.wait_event("startup_timeout");
        assert_eq!(overdue["step"], "exit", "{mode:?}");
        let step = t.wait_event("remediation_started");
        assert_eq!(step["step"], "exit", "{mode:?}");
        let shutdown = t.wait_event("shutdown_initiated");
        assert_eq!(shutdown["reason"], "unhealthy");
        assert_eq!(t.wait_exit(), 75, "{mode:?}");
        let status: Value = serde_json::from_str(
            &std::fs::read_to_string(scratch.path("status.json")).expect("status"),
        )
        .expect("json");
        assert_eq!(status["restarts"], 1, "{mode:?}");
    }
}

#[test]
fn default_remediation_restarts_and_recovery_is_reported() {
    let scratch = Scratch::new("recover");
    let mut t = start(
        Mode::Process,
        &scratch,
        &[
            ("TEND_REMEDIATION", ""),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
            // Never passing: the startup timeout takes the (default) restart step.
            ("TEND_STARTUP_TIMEOUT", "500ms"),
        ],
    );
    t.wait_event("restart_initiated");
    t.wait_event("child_started");
    std::fs::write(scratch.path("ok"), "").expect("ok");
    t.wait_event("recovery_completed");
    let (code, reason) = ask(&t, &scratch, false);
    assert_eq!(code, 0, "{reason}");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

#[test]
fn a_stop_signal_during_a_restart_shuts_down_without_a_new_child() {
    let scratch = Scratch::new("restart-stop");
    // The child ignores TERM at first, so the restart waits out the shutdown timeout.
    let check = format!("exec:test -f {}", scratch.path("ok").display());
    let mut cmd = tend(
        Mode::Process,
        &scratch,
        &["--", "sh", "-c", "trap '' TERM; sleep 60 & wait"],
    );
    cmd.envs([
        ("TEND_HEALTH_CHECK", check.as_str()),
        ("TEND_HEALTH_INTERVAL", "50ms"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_STARTUP_TIMEOUT", "500ms"),
        ("TEND_SHUTDOWN_TIMEOUT", "2s"),
    ]);
    let mut t = Running::start(cmd, Mode::Process);
    t.wait_event("restart_initiated");
    t.signal(libc::SIGTERM);
    t.wait_exit();
    assert_eq!(t.events("child_started").len(), 1, "{}", t.raw.join("\n"));
    assert_eq!(t.events("shutdown_completed").len(), 1);
}

#[test]
fn startup_timeout_takes_the_next_step() {
    let scratch = Scratch::new("startup-timeout");
    let mut t = start(
        Mode::Process,
        &scratch,
        &[
            ("TEND_REMEDIATION", "exit"),
            ("TEND_STARTUP_TIMEOUT", "300ms"),
            // Failures alone would take far longer to reach a step.
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1000"),
        ],
    );
    let event = t.wait_event("startup_timeout");
    assert_eq!(
        (event["level"].as_str(), event["step"].as_str()),
        (Some("ERROR"), Some("exit"))
    );
    assert_eq!(t.wait_exit(), 75);
    assert!(t.events("startup_completed").is_empty());
    let failed = t.events("health_check_failed");
    assert!(!failed.is_empty(), "the checks ran while starting");
    assert!(failed.iter().all(|e| e["counted"] == false), "{failed:?}");
}

/// The child's pid from the status file, to clean up after tend was killed.
fn child_pid(status: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(status).ok()?;
    let value: Value = serde_json::from_str(&text).ok()?;
    value["child_pid"].as_i64().map(|p| p as i32)
}

#[test]
fn tend_health_through_the_lifecycle_and_after_death() {
    for mode in MODES {
        let scratch = Scratch::new("lifecycle");
        let mut t = start(mode, &scratch, &[("TEND_DRAIN_DELAY", "30s")]);
        t.wait_event("health_check_failed");
        let (code, reason) = ask(&t, &scratch, false);
        assert_eq!(
            (code, reason.trim()),
            (1, "not ready: state starting"),
            "{mode:?}"
        );
        assert_eq!(
            ask(&t, &scratch, true).0,
            0,
            "{mode:?}: alive while starting"
        );

        std::fs::write(scratch.path("ok"), "").expect("ok");
        t.wait_event("startup_completed");
        let (code, reason) = ask(&t, &scratch, false);
        assert_eq!(
            (code, reason.trim()),
            (0, "ready: running and healthy"),
            "{mode:?}"
        );

        std::fs::remove_file(scratch.path("ok")).expect("rm ok");
        changed_to(&mut t, "unhealthy");
        let (code, reason) = ask(&t, &scratch, false);
        assert_eq!(code, 1, "{mode:?}");
        assert!(
            // Three or more: the check goes on while we ask.
            reason.starts_with("not ready: unhealthy after"),
            "{mode:?}: {reason}"
        );
        assert_eq!(
            ask(&t, &scratch, true).0,
            0,
            "{mode:?}: unhealthy is still alive"
        );

        t.signal(libc::SIGTERM);
        t.wait_event("shutdown_initiated");
        let (code, reason) = ask(&t, &scratch, false);
        assert_eq!(
            (code, reason.trim()),
            (1, "not ready: state draining"),
            "{mode:?}"
        );
        assert_eq!(
            ask(&t, &scratch, true).0,
            0,
            "{mode:?}: alive while draining"
        );

        let orphan = child_pid(&scratch.path("status.json"));
        t.signal(libc::SIGKILL);
        if let (Mode::Process, Some(pid)) = (mode, orphan) {
            // The sleep tend left behind holds tend's stderr open, so the end of the
            // output would not come while it lives. Killed after tend, so that tend never
            // learns of its exit and the status file stays as a dead supervisor left it.
            // Safety: a plain kill of a pid we started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        t.wait_exit();
        for live in [false, true] {
            // Asked from outside: in PID-1 mode the namespace is gone with tend.
            let out = Command::new(BIN)
                .arg("health")
                .args(live.then_some("--live"))
                .env("TEND_STATUS_FILE", scratch.path("status.json"))
                .output()
                .expect("tend health");
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{mode:?} live={live}: {text}");
            assert!(text.starts_with("stale status file"), "{mode:?}: {text}");
        }
    }
}

#[test]
fn without_a_health_check_running_is_ready() {
    let scratch = Scratch::new("no-check");
    let mut t = Running::start(
        tend(Mode::Process, &scratch, &["--", "sleep", "60"]),
        Mode::Process,
    );
    t.wait_event("startup_completed");
    let (code, reason) = ask(&t, &scratch, false);
    assert_eq!(code, 0, "{reason}");
    assert!(reason.contains("no health check"), "{reason}");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

#[test]
fn health_exits_1_without_a_status_file_or_with_bad_arguments() {
    let scratch = Scratch::new("no-file");
    for args in [
        &["health"][..],
        &["health", "--live"],
        &["health", "--verbose"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("TEND_STATUS_FILE", scratch.path("absent.json"))
            .output()
            .expect("tend health");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    }
}

#[test]
fn while_dependencies_are_awaited_tend_is_alive_but_not_ready() {
    for mode in MODES {
        let scratch = Scratch::new("gate-live");
        let marker = scratch.path("up");
        let probe = format!("file://{}", marker.display());
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.env("TEND_WAIT_FOR", &probe);
        let mut t = Running::start(cmd, mode);
        t.wait_event("dependency_waiting");
        let (code, reason) = ask(&t, &scratch, true);
        assert_eq!(code, 0, "{mode:?}: live while waiting: {reason}");
        assert!(reason.contains("initializing"), "{reason}");
        let (code, reason) = ask(&t, &scratch, false);
        assert_eq!(code, 1, "{mode:?}: not ready while waiting: {reason}");
        std::fs::write(&marker, "").expect("marker");
        t.wait_event("startup_completed");
        assert_eq!(ask(&t, &scratch, false).0, 0, "{mode:?}");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

/// A child that needs a while to start is waited for (its failures while `starting`
/// neither count nor warn) and is seen as soon as it is up, not one interval later.
#[test]
fn a_slow_start_is_waited_for_and_seen_at_once() {
    for mode in MODES {
        let scratch = Scratch::new("slow-start");
        let ok = scratch.path("ok");
        let check = format!("file://{}", ok.display());
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.envs([
            ("TEND_HEALTH_CHECK", check.as_str()),
            // Far beyond the test's bound: a start seen only at the next normal check fails.
            ("TEND_HEALTH_INTERVAL", "120s"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
            ("TEND_LOG_LEVEL", "debug"),
        ]);
        let mut t = Running::start(cmd, mode);
        // Two failed checks at the start interval (1s by default): the app is slow.
        t.wait_event("health_check_failed");
        t.wait_event("health_check_failed");
        let up = std::time::Instant::now();
        std::fs::write(&ok, "").expect("ok");
        t.wait_event("startup_completed");
        assert!(
            up.elapsed() < std::time::Duration::from_secs(60),
            "{mode:?}: running {:?} after the app was up",
            up.elapsed()
        );
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        assert!(t.events("restart_initiated").is_empty(), "{mode:?}");
        assert_eq!(t.events("child_started").len(), 1, "{mode:?}");
        for failed in t.events("health_check_failed") {
            assert_eq!(
                (&failed["level"], &failed["counted"]),
                (&Value::from("DEBUG"), &Value::from(false)),
                "{mode:?}: {failed}"
            );
        }
        let warnings: Vec<_> = t.raw.iter().filter(|l| l.contains("\"WARN\"")).collect();
        assert!(warnings.is_empty(), "{mode:?}: {warnings:?}");
    }
}

/// One word per state: `state_changed` names the state as the status file does.
#[test]
fn state_changed_uses_the_status_file_words() {
    let scratch = Scratch::new("state-words");
    std::fs::write(scratch.path("ok"), "").expect("ok");
    let mut t = start(Mode::Process, &scratch, &[]);
    let changed = t.wait_event_where("state_changed", |e| e["state"] == "running");
    t.wait_event("startup_completed");
    let status: Value =
        serde_json::from_str(&common::read_when_present(&scratch.path("status.json")))
            .expect("json");
    assert_eq!(status["state"], changed["state"], "{changed}");
    t.signal(libc::SIGTERM);
    t.wait_exit();
    let words: Vec<_> = t
        .events("state_changed")
        .iter()
        .map(|e| e["state"].clone())
        .collect();
    assert!(words.contains(&Value::from("draining")), "{words:?}");
    assert!(
        words
            .iter()
            .all(|w| w.as_str().is_some_and(|w| w == w.to_lowercase())),
        "{words:?}"
    );
}

/// An exec probe's output never reaches tend's stderr raw: dropped when it passes, a
/// redacted excerpt in `health_check_failed` when it fails.
#[test]
fn exec_probe_output_is_captured() {
    for mode in MODES {
        let scratch = Scratch::new("probe-output");
        let ok = scratch.path("ok");
        let script = format!(
            "echo PONG-ON-STDOUT; echo PONG-ON-STDERR >&2; test -f {} || {{ echo 'not up: see http://u:ProbeOutPw@db/'; exit 3; }}",
            ok.display()
        );
        let check = format!("exec:sh -c {}", shell_quote(&script));
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.envs([
            ("TEND_HEALTH_CHECK", check.as_str()),
            ("TEND_HEALTH_INTERVAL", "50ms"),
            ("TEND_HEALTH_START_INTERVAL", "50ms"),
            ("TEND_LOG_LEVEL", "debug"),
            ("TEND_REMEDIATION", "none"),
        ]);
        let mut t = Running::start(cmd, mode);
        let failed = t.wait_event("health_check_failed");
        let error = failed["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains("exited with code 3"), "{mode:?}: {error}");
        assert!(
            error.contains("PONG-ON-STDOUT PONG-ON-STDERR not up: see http://u:***@db/"),
            "{mode:?}: the excerpt, on one line: {error}"
        );
        std::fs::write(&ok, "").expect("ok");
        t.wait_event("startup_completed");
        t.wait_event("health_check_passed");
        t.wait_event("health_check_passed");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        let raw = t.raw.join("\n");
        assert!(!raw.contains("ProbeOutPw"), "{mode:?}: {raw}");
        for line in &t.raw {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "{mode:?}: a line that is not an event: {line:?}"
            );
        }
        let passed = t.events("health_check_passed");
        assert!(
            passed.iter().all(|e| !e.to_string().contains("PONG")),
            "{mode:?}: output dropped on a pass: {passed:?}"
        );
    }
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Past TEND_STARTUP_TIMEOUT without a pass, the start-up grace is over: failures count
/// (and warn) at the normal interval, so that the ladder goes on after its first step.
#[test]
fn after_the_startup_timeout_failures_count() {
    let scratch = Scratch::new("after-startup-timeout");
    let mut t = start(
        Mode::Process,
        &scratch,
        &[
            ("TEND_STARTUP_TIMEOUT", "300ms"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "2"),
        ],
    );
    let overdue = t.wait_event("startup_timeout");
    assert_eq!(overdue["step"], Value::Null, "remediation none: no step");
    let at = t.seen.len();
    let change = changed_to(&mut t, "unhealthy");
    let counted: Vec<_> = t.seen[at..change]
        .iter()
        .filter(|e| e["event"] == "health_check_failed")
        .collect();
    assert_eq!(counted.len(), 2, "{counted:?}");
    assert!(
        counted
            .iter()
            .all(|e| e["counted"] == true && e["level"] == "WARN"),
        "{counted:?}"
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}
