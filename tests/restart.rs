//! Restart policies (TEND_RESTART*), exec: remediation steps and the lifecycle report,
//! against the real binary. Backoff delays are read off the events' own timestamps
//! (restart_initiated to the next child_started) and checked against the formula.

mod common;

use common::{run, tend, Mode, Running, Scratch, MODES};
use serde_json::Value;

/// Milliseconds since midnight of an event's RFC 3339 timestamp (`…T12:34:56.789Z`).
fn millis(event: &Value) -> i64 {
    let stamp = event["timestamp"].as_str().expect("timestamp");
    let time = &stamp[11..23];
    let h: i64 = time[0..2].parse().expect("hours");
    let m: i64 = time[3..5].parse().expect("minutes");
    let s: i64 = time[6..8].parse().expect("seconds");
    let ms: i64 = time[9..12].parse().expect("millis");
    ((h * 60 + m) * 60 + s) * 1000 + ms
}

/// The gap between two events, across midnight too.
fn gap_ms(from: &Value, to: &Value) -> i64 {
    (millis(to) - millis(from)).rem_euclid(86_400_000)
}

/// A child that counts its runs in `runs` and exits with `code`.
fn counting_child(scratch: &Scratch, code: i32) -> String {
    format!(
        "echo run >> {}; exit {code}",
        scratch.path("runs").display()
    )
}

/// A child whose first run exits 2 at once and whose later runs stay up.
fn fails_once_then_stays_up(scratch: &Scratch) -> String {
    format!(
        "echo run >> {runs}; [ $(wc -l < {runs}) -eq 1 ] && exit 2; exec sleep 60",
        runs = scratch.path("runs").display()
    )
}

fn runs(scratch: &Scratch) -> usize {
    std::fs::read_to_string(scratch.path("runs"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn on_failure_backs_off_by_the_formula_then_gives_up_with_the_childs_code() {
    for mode in MODES {
        let scratch = Scratch::new("on-failure");
        let child = counting_child(&scratch, 3);
        let (code, t) = run(
            mode,
            &scratch,
            &["--", "sh", "-c", &child],
            &[
                ("TEND_RESTART", "on-failure"),
                ("TEND_RESTART_MAX_ATTEMPTS", "3"),
                ("TEND_RESTART_DELAY", "100ms"),
                ("TEND_RESTART_MAX_DELAY", "300ms"),
            ],
        );
        assert_eq!(code, 3, "{mode:?}: the child's code after giving up");
        assert_eq!(runs(&scratch), 4, "{mode:?}: the first run and 3 restarts");
        let restarts = t.events("restart_initiated");
        let expected = [100, 200, 300]; // base × 2^n, capped at 300ms
        assert_eq!(restarts.len(), 3, "{mode:?}");
        let starts = t.events("child_started");
        for (n, restart) in restarts.iter().enumerate() {
            assert_eq!(restart["attempt"], n as u64 + 1, "{mode:?}");
            assert_eq!(restart["reason"], "child_exited", "{mode:?}");
            assert_eq!(restart["delay_ms"], expected[n], "{mode:?}");
            let waited = gap_ms(restart, starts[n + 1]);
            eprintln!(
                "{mode:?}: restart {} delay {}ms, waited {waited}ms",
                n + 1,
                expected[n]
            );
            // Never early; late only by the machine's scheduling delay, which a load of
            // 30 on two cores stretches to seconds. The formula is checked exactly by
            // delay_ms above; this checks that the timer is not early, and not hung.
            assert!(
                waited >= expected[n] - 2 && waited < expected[n] + 10_000,
                "{mode:?}: restart {} waited {waited}ms for a delay of {}ms",
                n + 1,
                expected[n]
            );
        }
        assert_eq!(t.events("failure_detected").len(), 4, "{mode:?}: each exit");
        let gave_up = t.events("restarts_exhausted");
        assert_eq!(gave_up.len(), 1, "{mode:?}");
        assert_eq!(gave_up[0]["attempts"], 3);
        let done = t.events("shutdown_completed");
        assert_eq!(done.len(), 1, "{mode:?}");
        assert_eq!(done[0]["reason"], "restarts_exhausted");
    }
}

#[test]
fn on_failure_does_not_restart_a_clean_exit_but_always_does() {
    let scratch = Scratch::new("clean-exit");
    let child = counting_child(&scratch, 0);
    let (code, t) = run(
        Mode::Process,
        &scratch,
        &["--", "sh", "-c", &child],
        &[("TEND_RESTART", "on-failure")],
    );
    assert_eq!((code, runs(&scratch)), (0, 1));
    assert!(t.events("restart_initiated").is_empty());
    assert!(
        t.events("failure_detected").is_empty(),
        "exit 0 is no failure"
    );

    for policy in ["always", "unless-stopped"] {
        let scratch = Scratch::new("always");
        let child = counting_child(&scratch, 0);
        let (code, t) = run(
            Mode::Process,
            &scratch,
            &["--", "sh", "-c", &child],
            &[
                ("TEND_RESTART", policy),
                ("TEND_RESTART_MAX_ATTEMPTS", "2"),
                ("TEND_RESTART_DELAY", "10ms"),
            ],
        );
        assert_eq!((code, runs(&scratch)), (0, 3), "{policy}");
        assert_eq!(t.events("restart_initiated").len(), 2, "{policy}");
    }
}

#[test]
fn the_default_policy_is_no() {
    let scratch = Scratch::new("no-restart");
    let child = counting_child(&scratch, 4);
    let (code, t) = run(Mode::Process, &scratch, &["--", "sh", "-c", &child], &[]);
    assert_eq!((code, runs(&scratch)), (4, 1));
    assert!(t.events("restart_initiated").is_empty());
    // tend does nothing about the exit but end with it: no `failure_detected`, the exit
    // is told as what it is.
    assert!(
        t.events("failure_detected").is_empty(),
        "{:?}",
        t.events("failure_detected")
    );
    assert_eq!(t.events("child_exited")[0]["exit_code"], 4);
    let done = t.events("shutdown_completed");
    assert_eq!(
        (&done[0]["reason"], &done[0]["exit_code"]),
        (&"child_exited".into(), &4.into())
    );
}

/// With one restart allowed per 600ms window, a child that fails at once uses it up, but
/// a child that lived longer than the window before failing starts a fresh count.
#[test]
fn the_restart_count_resets_after_a_quiet_window() {
    let scratch = Scratch::new("window");
    // Runs 1 and 3 fail at once; run 2 lives 5.1 s first. The window is wide so that
    // "at once" holds on a loaded machine too (a shell may take a second to start).
    let child = format!(
        "echo run >> {runs}; n=$(wc -l < {runs}); [ $n -eq 2 ] && sleep 5.1; exit 1",
        runs = scratch.path("runs").display()
    );
    let (code, t) = run(
        Mode::Process,
        &scratch,
        &["--", "sh", "-c", &child],
        &[
            ("TEND_RESTART", "on-failure"),
            ("TEND_RESTART_MAX_ATTEMPTS", "1"),
            ("TEND_RESTART_DELAY", "50ms"),
            ("TEND_RESTART_WINDOW", "5s"),
        ],
    );
    assert_eq!(code, 1);
    // Run 1 fails: attempt 1. Run 2 fails 5.1 s later, past the window: attempt 1 again.
    // Run 3 fails at once: a second restart within the window is one too many.
    assert_eq!(runs(&scratch), 3);
    let attempts: Vec<_> = t
        .events("restart_initiated")
        .iter()
        .map(|e| (e["attempt"].as_u64(), e["delay_ms"].as_u64()))
        .collect();
    assert_eq!(attempts, [(Some(1), Some(50)), (Some(1), Some(50))]);
    assert_eq!(t.events("restarts_exhausted").len(), 1);
}

#[test]
fn a_stop_signal_during_the_backoff_ends_it_at_once() {
    for mode in MODES {
        let scratch = Scratch::new("backoff-stop");
        let child = counting_child(&scratch, 5);
        let mut cmd = tend(mode, &scratch, &["--", "sh", "-c", &child]);
        // Far longer than the harness's patience: waiting it out cannot pass.
        cmd.envs([("TEND_RESTART", "always"), ("TEND_RESTART_DELAY", "300s")]);
        let mut t = Running::start(cmd, mode);
        let restart = t.wait_event("restart_initiated");
        assert_eq!(restart["delay_ms"], 300_000);
        let status = common::read_when_present(&scratch.path("status.json"));
        assert!(status.contains("\"restarting\""), "{mode:?}: {status}");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 5, "{mode:?}: the last child's code");
        assert_eq!(runs(&scratch), 1, "{mode:?}: no new child");
        let done = t.events("shutdown_completed");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0]["reason"], "signal_TERM");
        let waited = gap_ms(&restart, done[0]);
        eprintln!("{mode:?}: stopped {waited}ms into a 300s backoff");
        assert!(waited < 30_000, "{mode:?}: {waited}ms");
    }
}

/// The ladder exec → restart → exit, each once, in order, one failure threshold apart.
#[test]
fn remediation_steps_run_in_order() {
    for mode in MODES {
        let scratch = Scratch::new("ladder-exec");
        let flushed = scratch.path("flushed");
        let check = format!("exec:test -f {}", scratch.path("ok").display());
        let step = format!("exec:touch {}", flushed.display());
        let ladder = format!("{step},restart,exit");
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.envs([
            ("TEND_HEALTH_CHECK", check.as_str()),
            ("TEND_HEALTH_INTERVAL", "50ms"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "2"),
            // Never passing: each start ends at the startup timeout, which takes a step.
            ("TEND_STARTUP_TIMEOUT", "300ms"),
            ("TEND_REMEDIATION", ladder.as_str()),
            ("TEND_RESTART_DELAY", "10ms"),
        ]);
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 75, "{mode:?}");
        let steps: Vec<_> = t
            .events("remediation_started")
            .iter()
            .map(|e| e["step"].as_str().unwrap_or("?").to_string())
            .collect();
        assert_eq!(steps, ["exec", "restart", "exit"], "{mode:?}");
        assert!(flushed.exists(), "{mode:?}: the exec step ran");
        let failure = t.events("failure_detected");
        let reasons: Vec<_> = failure.iter().map(|f| f["reason"].clone()).collect();
        // exec at the first start's timeout, restart after a threshold of counted
        // failures, exit at the second start's timeout.
        assert_eq!(
            reasons,
            ["startup_timeout", "unhealthy", "startup_timeout"],
            "{mode:?}"
        );
        assert_eq!(t.events("restart_initiated")[0]["reason"], "unhealthy");
        assert_eq!(t.events("shutdown_completed")[0]["reason"], "unhealthy");
    }
}

#[test]
fn a_failing_remediation_command_is_reported_and_the_ladder_goes_on() {
    let scratch = Scratch::new("ladder-fail");
    let check = format!("exec:test -f {}", scratch.path("ok").display());
    let mut cmd = tend(Mode::Process, &scratch, &["--", "sleep", "60"]);
    cmd.envs([
        ("TEND_HEALTH_CHECK", check.as_str()),
        ("TEND_HEALTH_INTERVAL", "50ms"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_STARTUP_TIMEOUT", "300ms"),
        ("TEND_REMEDIATION", "exec:false,exit"),
    ]);
    let mut t = Running::start(cmd, Mode::Process);
    let failed = t.wait_event("remediation_failed");
    assert_eq!(failed["step"], "exec");
    assert_eq!(t.wait_exit(), 75);
}

#[test]
fn recovery_after_a_restart_is_reported_once() {
    let scratch = Scratch::new("recovery");
    let child = fails_once_then_stays_up(&scratch);
    let mut cmd = tend(Mode::Process, &scratch, &["--", "sh", "-c", &child]);
    cmd.envs([
        ("TEND_RESTART", "on-failure"),
        ("TEND_RESTART_DELAY", "10ms"),
    ]);
    let mut t = Running::start(cmd, Mode::Process);
    t.wait_event("failure_detected");
    let recovered = t.wait_event("recovery_completed");
    assert_eq!(recovered["restarts"], 1);
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
    assert_eq!(t.events("recovery_completed").len(), 1);
}

#[test]
fn the_report_is_written_after_a_forced_shutdown() {
    for mode in MODES {
        let scratch = Scratch::new("report");
        let report = scratch.path("out/report.json");
        let ready = scratch.path("ready");
        let child = format!(
            "trap '' TERM; echo > {}; while :; do sleep 1; done",
            ready.display()
        );
        let mut cmd = tend(mode, &scratch, &["--", "sh", "-c", &child]);
        cmd.env("TEND_SHUTDOWN_TIMEOUT", "1s")
            .env("TEND_REPORT_FILE", &report);
        let mut t = Running::start(cmd, mode);
        common::read_when_present(&ready);
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 137, "{mode:?}");
        assert_eq!(t.events("report_written").len(), 1, "{mode:?}");
        let text = std::fs::read_to_string(&report).expect("report");
        let report: Value = serde_json::from_str(&text).expect("report json");
        assert_eq!(report["exit_code"], 137, "{mode:?}");
        assert_eq!(report["exit_cause"], "signal_TERM");
        assert_eq!(report["child_last_exit"]["signal"], 9);
        assert_eq!(report["restarts"], 0);
        let shutdown = report["durations_ms"]["shutdown"]
            .as_u64()
            .expect("shutdown");
        // The 1 s timeout, then the kill: never shorter; the upper bound (10x) catches a
        // hang.
        assert!((1000..10_000).contains(&shutdown), "{mode:?}: {shutdown}ms");
        assert!(report["durations_ms"]["startup"].as_u64().is_some());
        let timeline: Vec<&str> = report["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        for event in [
            "startup_initiated",
            "child_started",
            "shutdown_initiated",
            "force_kill",
            "shutdown_completed",
        ] {
            assert!(
                timeline.contains(&event),
                "{mode:?}: {event} in {timeline:?}"
            );
        }
    }
}

#[test]
fn the_report_tells_a_failed_startup_gate() {
    let scratch = Scratch::new("report-gate");
    let report = scratch.path("report.json");
    let report_s = report.to_string_lossy().into_owned();
    let (code, _) = run(
        Mode::Process,
        &scratch,
        &["--", "true"],
        &[
            ("TEND_REQUIRE_ENV", "TEND_TEST_NEVER_SET"),
            ("TEND_REPORT_FILE", report_s.as_str()),
        ],
    );
    assert_eq!(code, 78);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["exit_cause"], "startup_gate_failed");
    assert_eq!(report["exit_code"], 78);
}

/// `tend status` tells what issue 4 asks of it: state, health, child pid, uptime,
/// restarts, last exit, last check and consecutive failures.
#[test]
fn tend_status_prints_the_whole_snapshot_with_uptime() {
    let scratch = Scratch::new("status-cmd");
    let child = fails_once_then_stays_up(&scratch);
    let mut cmd = tend(Mode::Process, &scratch, &["--", "sh", "-c", &child]);
    cmd.envs([
        ("TEND_RESTART", "on-failure"),
        ("TEND_RESTART_DELAY", "10ms"),
        ("TEND_HEALTH_CHECK", "exec:true"),
        ("TEND_HEALTH_INTERVAL", "50ms"),
    ]);
    let mut t = Running::start(cmd, Mode::Process);
    t.wait_event("recovery_completed");
    let second = t.events("child_started")[1]["pid"].clone();
    let out = std::process::Command::new(common::BIN)
        .arg("status")
        .env("TEND_STATUS_FILE", scratch.path("status.json"))
        .output()
        .expect("tend status");
    assert!(out.status.success());
    let status: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(status["state"], "running");
    assert_eq!(status["health"], "healthy");
    assert_eq!(status["child_pid"], second);
    assert_eq!(status["restarts"], 1);
    assert_eq!(status["last_exit"]["exit_code"], 2);
    assert_eq!(status["consecutive_failures"], 0);
    assert!(status["last_check_at"].is_string(), "{status}");
    let uptime = status["uptime_seconds"].as_f64().expect("uptime_seconds");
    assert!((0.0..60.0).contains(&uptime), "{uptime}");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

/// `tend status` on a file it cannot trust: unparseable (garbage, empty, a directory)
/// exits 1 naming the file and what is wrong, printing nothing on stdout; left by a tend
/// that was SIGKILLed, the document is printed with `"stale": true` and no uptime, and
/// `tend status` exits 1; a `stopped` file after a normal exit is shown as it is, exit 0.
#[test]
fn tend_status_refuses_garbage_and_flags_a_stale_file() {
    let status_of = |path: &std::path::Path| {
        let out = std::process::Command::new(common::BIN)
            .arg("status")
            .env("TEND_STATUS_FILE", path)
            .output()
            .expect("tend status");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), stdout, stderr)
    };
    let scratch = Scratch::new("status-bad");
    let (garbage, empty, dir) = (
        scratch.path("garbage.json"),
        scratch.path("empty.json"),
        scratch.path("dir.json"),
    );
    std::fs::write(&garbage, "garbage{").expect("write");
    std::fs::write(&empty, "").expect("write");
    std::fs::create_dir(&dir).expect("mkdir");
    for (path, hint) in [
        (&garbage, "is not a status snapshot"),
        (&empty, "is empty"),
        (&dir, "is a directory"),
    ] {
        let (code, stdout, stderr) = status_of(path);
        eprintln!("{}: exit {code:?}, {}", path.display(), stderr.trim());
        assert_eq!(code, Some(1), "{}: {stdout}{stderr}", path.display());
        assert_eq!(stdout, "", "{}", path.display());
        assert!(
            stderr.contains(&path.display().to_string()) && stderr.contains(hint),
            "{}: {stderr}",
            path.display()
        );
    }

    let mut t = Running::start(
        tend(Mode::Process, &scratch, &["--", "sleep", "100000"]),
        Mode::Process,
    );
    let child = t.wait_event("child_started")["pid"].as_i64().expect("pid") as i32;
    t.signal(libc::SIGKILL);
    // The orphan holds tend's stderr open: it goes too, before tend's end is awaited.
    unsafe { libc::kill(child, libc::SIGKILL) };
    assert_eq!(t.wait_exit(), 137);
    let (code, stdout, stderr) = status_of(&scratch.path("status.json"));
    eprintln!("after SIGKILL: exit {code:?}, {}", stderr.trim());
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("the document, still");
    assert_eq!(status["stale"], true, "{status}");
    assert_eq!(status["state"], "running");
    assert!(status.get("uptime_seconds").is_none(), "{status}");
    assert!(
        stderr.contains("stale") && stderr.contains("is gone"),
        "{stderr}"
    );

    let (code, _) = run(Mode::Process, &scratch, &["true"], &[]);
    assert_eq!(code, 0);
    let (code, stdout, stderr) = status_of(&scratch.path("status.json"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(status["state"], "stopped");
    assert!(status.get("stale").is_none(), "{status}");
}
