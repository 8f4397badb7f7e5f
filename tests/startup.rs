//! The startup gate against the real binary: environment checks, dependency waiting with
//! real servers, pre-start/post-stop hooks, and TEND_USER.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use common::{tend, Mode, Running, Scratch, MODES};

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Starts tend with `env` and `args`, stdout captured.
fn start(mode: Mode, scratch: &Scratch, env: &[(&str, &str)], args: &[&str]) -> Running {
    let mut cmd = tend(mode, scratch, args);
    cmd.envs(env.iter().copied()).stdout(Stdio::piped());
    Running::start(cmd, mode)
}

/// Runs to the end; returns (code, stdout, running).
fn run(
    mode: Mode,
    scratch: &Scratch,
    env: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, Running) {
    let mut running = start(mode, scratch, env, args);
    let code = running.wait_exit();
    let mut out = String::new();
    if let Some(mut stdout) = running.child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    (code, out, running)
}

fn index_of(running: &Running, name: &str) -> usize {
    running
        .seen
        .iter()
        .position(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name}:\n{}", running.raw.join("\n")))
}

#[test]
fn dependency_up_after_two_seconds_delays_the_start() {
    for mode in MODES {
        let scratch = Scratch::new("gate-late");
        let port = closed_port();
        let server = thread::spawn(move || {
            thread::sleep(Duration::from_secs(2));
            let listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind");
            let _ = listener.accept();
        });
        let target = format!("tcp://127.0.0.1:{port}");
        let started = Instant::now();
        let mut running = start(mode, &scratch, &[("TEND_WAIT_FOR", &target)], &["true"]);
        running.wait_event("dependency_waiting");
        running.wait_event("dependencies_ready");
        let ready_after = started.elapsed();
        running.wait_event("child_started");
        assert_eq!(running.wait_exit(), 0, "{mode:?}");
        server.join().expect("server");
        assert!(
            ready_after >= Duration::from_secs(2),
            "{mode:?}: ready after {ready_after:?}"
        );
        // Never before the dependency is up; the bound (10x) only catches a hang.
        assert!(
            ready_after < Duration::from_secs(20),
            "{mode:?}: ready after {ready_after:?}"
        );
        let ready = &running.events("dependencies_ready")[0];
        assert!(
            ready["times"].as_str().unwrap_or("").contains(&target),
            "{ready}"
        );
        eprintln!("{mode:?}: dependency up at 2s, child started after {ready_after:?}");
    }
}

#[test]
fn dependency_never_up_exits_69_within_the_timeout() {
    for mode in MODES {
        let scratch = Scratch::new("gate-never");
        let target = format!("tcp://127.0.0.1:{}", closed_port());
        let started = Instant::now();
        let env = [
            ("TEND_WAIT_FOR", target.as_str()),
            ("TEND_WAIT_TIMEOUT", "2s"),
        ];
        let (code, _, running) = run(mode, &scratch, &env, &["touch", "/never"]);
        let took = started.elapsed();
        assert_eq!(code, 69, "{mode:?}: {}", running.raw.join("\n"));
        // 2 s timeout; the bound (10x) catches a hang, not a slow machine.
        assert!(
            took < Duration::from_secs(20),
            "{mode:?}: exit after {took:?}"
        );
        let failed = running.events("dependency_failed");
        assert_eq!(failed[0]["target"], target.as_str());
        assert!(failed[0]["message"]
            .as_str()
            .unwrap_or("")
            .contains(&target));
        assert!(
            failed[0]["error"]
                .as_str()
                .unwrap_or("")
                .contains("refused"),
            "{failed:?}"
        );
        assert!(running.events("child_started").is_empty());
        eprintln!("{mode:?}: never-up dependency, 2s timeout: exit 69 after {took:?}");
    }
}

#[test]
fn optional_dependency_failing_does_not_block_the_start() {
    let scratch = Scratch::new("gate-optional");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let up = format!(
        "tcp://127.0.0.1:{}",
        listener.local_addr().expect("a").port()
    );
    let env = [
        ("TEND_WAIT_FOR", up.as_str()),
        ("TEND_WAIT_OPTIONAL", "unix:///nonexistent/cache.sock"),
        ("TEND_WAIT_TIMEOUT", "1s"),
    ];
    let (code, out, running) = run(Mode::Process, &scratch, &env, &["echo", "started"]);
    assert_eq!(code, 0, "{}", running.raw.join("\n"));
    assert_eq!(out, "started\n");
    let failed = &running.events("dependency_failed")[0];
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["required"], false);
    assert!(index_of(&running, "dependencies_ready") < index_of(&running, "child_started"));
}

#[test]
fn stop_signal_during_the_wait_exits_at_once() {
    for mode in MODES {
        let scratch = Scratch::new("gate-stop");
        let target = format!("tcp://127.0.0.1:{}", closed_port());
        let mut running = start(mode, &scratch, &[("TEND_WAIT_FOR", &target)], &["true"]);
        running.wait_event("dependency_waiting");
        let sent = Instant::now();
        running.signal(libc::SIGTERM);
        let code = running.wait_exit();
        let took = sent.elapsed();
        assert_eq!(code, 143, "{mode:?}: {}", running.raw.join("\n"));
        // "At once" against the 60 s default wait timeout: the bound catches a wait
        // that goes on, not a slow machine.
        assert!(
            took < Duration::from_secs(10),
            "{mode:?}: exit took {took:?}"
        );
        assert!(running.events("child_started").is_empty());
        eprintln!("{mode:?}: SIGTERM during the wait: exit 143 after {took:?}");
    }
}

#[test]
fn bad_probe_is_a_config_error_that_hides_passwords() {
    let scratch = Scratch::new("gate-badprobe");
    let env = [("TEND_WAIT_FOR", "db:5432, http://admin:hunter2@api:port/")];
    let (code, _, running) = run(Mode::Process, &scratch, &env, &["true"]);
    assert_eq!(code, 78);
    let all = running.raw.join("\n");
    assert!(!all.contains("hunter2"), "password leaked: {all}");
    let errors = running.events("config_invalid");
    assert_eq!(errors.len(), 3, "two bad entries and the summary: {all}");
    let first = errors[0]["message"].as_str().unwrap_or("");
    assert!(
        first.contains("\"db:5432\"") && first.contains("tcp://HOST:PORT"),
        "{first}"
    );
}

#[test]
fn failing_hook_rolls_back_and_stops_the_start() {
    for mode in MODES {
        let scratch = Scratch::new("gate-hook");
        let pre = format!(
            "echo hook-output; touch {}; sh -c 'exit 3'; touch {}",
            scratch.path("first").display(),
            scratch.path("never").display()
        );
        let post = format!("touch {}", scratch.path("rolled-back").display());
        let env = [
            ("TEND_PRE_START", pre.as_str()),
            ("TEND_POST_STOP", post.as_str()),
        ];
        let (code, out, running) = run(mode, &scratch, &env, &["touch", "/child-ran"]);
        assert_eq!(code, 71, "{mode:?}: {}", running.raw.join("\n"));
        assert!(scratch.path("first").exists() && scratch.path("rolled-back").exists());
        assert!(
            !scratch.path("never").exists(),
            "hooks after the failing one do not run"
        );
        assert!(running.events("child_started").is_empty());
        assert_eq!(out, "", "hook output goes to stderr, never stdout");
        assert!(running.raw.iter().any(|l| l == "hook-output"));
        let failed = &running.events("hook_failed")[0];
        assert_eq!(failed["command"], "sh -c 'exit 3'");
        assert!(
            failed["reason"].as_str().unwrap_or("").contains("code 3"),
            "{failed}"
        );
    }
}

#[test]
fn hooks_run_before_the_child_and_cleanup_after_it() {
    for mode in MODES {
        let scratch = Scratch::new("gate-hooks-ok");
        let pre = format!("touch {}", scratch.path("pre").display());
        let post = format!("touch {}", scratch.path("post").display());
        let child = format!(
            "test -e {} && ! test -e {}",
            scratch.path("pre").display(),
            scratch.path("post").display()
        );
        let env = [
            ("TEND_PRE_START", pre.as_str()),
            ("TEND_POST_STOP", post.as_str()),
        ];
        let (code, _, running) = run(mode, &scratch, &env, &["sh", "-c", &child]);
        assert_eq!(
            code,
            0,
            "{mode:?}: child saw pre and not post: {}",
            running.raw.join("\n")
        );
        assert!(scratch.path("post").exists(), "{mode:?}");
        let post_started = running
            .seen
            .iter()
            .position(|e| e["event"] == "hook_started" && e["phase"] == "post_stop")
            .expect("post-stop ran");
        assert!(index_of(&running, "child_exited") < post_started);
    }
}

#[test]
fn hook_timeout_kills_it_and_fails() {
    let scratch = Scratch::new("gate-hook-timeout");
    let env = [
        ("TEND_PRE_START", "sleep 300"),
        ("TEND_HOOK_TIMEOUT", "500ms"),
    ];
    let started = Instant::now();
    let (code, _, running) = run(Mode::Process, &scratch, &env, &["true"]);
    assert_eq!(code, 71);
    // Killed at its timeout, not left to sleep 300 s; the bound (20x) catches that, not
    // a slow machine.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let reason = running.events("hook_failed")[0]["reason"].to_string();
    assert!(reason.contains("TEND_HOOK_TIMEOUT"), "{reason}");
}

#[test]
fn stop_signal_during_a_hook_stops_it_and_cleans_up() {
    let scratch = Scratch::new("gate-hook-stop");
    let post = format!("touch {}", scratch.path("post").display());
    let env = [
        ("TEND_PRE_START", "sleep 300"),
        ("TEND_POST_STOP", post.as_str()),
    ];
    let mut running = start(Mode::Process, &scratch, &env, &["true"]);
    running.wait_event("hook_started");
    let sent = Instant::now();
    running.signal(libc::SIGTERM);
    assert_eq!(running.wait_exit(), 143);
    // The hook is stopped, not waited for (300 s); the bound catches a hang only.
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "{:?}",
        sent.elapsed()
    );
    // The event tells the code tend exits with: the stop signal's, not the hook's 71.
    assert_eq!(running.events("hook_failed")[0]["exit_code"], 143);
    assert!(scratch.path("post").exists());
}

#[test]
fn require_env_lists_every_missing_name_and_no_value() {
    let scratch = Scratch::new("gate-env");
    let env = [
        (
            "TEND_REQUIRE_ENV",
            "SET_ONE,MISSING_ONE,EMPTY_ONE,MISSING_TWO",
        ),
        ("SET_ONE", "sup3r-secret-value"),
        ("EMPTY_ONE", ""),
    ];
    let (code, _, running) = run(Mode::Process, &scratch, &env, &["true"]);
    assert_eq!(code, 78);
    let all = running.raw.join("\n");
    assert!(all.contains("MISSING_ONE, EMPTY_ONE, MISSING_TWO"), "{all}");
    assert!(!all.contains("sup3r-secret-value"), "{all}");
    assert!(running.events("child_started").is_empty());
}

#[test]
fn every_environment_failure_is_reported_together_before_any_hook() {
    let scratch = Scratch::new("gate-all");
    let hook = format!("touch {}", scratch.path("hook-ran").display());
    let env = [
        ("TEND_REQUIRE_ENV", "NOT_SET_AT_ALL"),
        ("TEND_MIN_DISK_FREE", "/tmp:1000TB"),
        ("TEND_MIN_MEMORY", "1000TB"),
        ("TEND_USER", "no-such-user"),
        ("TEND_PRE_START", hook.as_str()),
    ];
    let (code, _, running) = run(Mode::Process, &scratch, &env, &["true"]);
    assert_eq!(code, 78);
    assert!(!scratch.path("hook-ran").exists());
    let all = running.raw.join("\n");
    for needle in [
        "NOT_SET_AT_ALL",
        "/tmp: ",
        "expected at least 909.5TiB",
        "TEND_MIN_MEMORY",
        "no-such-user",
    ] {
        assert!(all.contains(needle), "{needle} missing: {all}");
    }
    assert_eq!(
        running
            .events("environment_invalid")
            .last()
            .map(|e| e["count"].clone()),
        Some(4.into())
    );
    let limits = &running.events("resource_limits")[0];
    assert!(limits["cpus_online"].as_u64().unwrap_or(0) >= 1, "{limits}");
    assert_eq!(
        limits["cgroup_version"].as_u64().is_some(),
        std::path::Path::new("/sys/fs/cgroup").exists()
    );
}

#[test]
fn ensure_dirs_creates_and_hands_them_to_the_user() {
    let scratch = Scratch::new("gate-dirs");
    let nested = scratch.path("data/deep/er");
    let logs = scratch.path("logs");
    let list = format!("{},{}", nested.display(), logs.display());
    let env = [("TEND_ENSURE_DIRS", list.as_str()), ("TEND_USER", "nobody")];
    let probe = format!("touch {}/ok", nested.display());
    let (code, _, running) = run(Mode::Process, &scratch, &env, &["sh", "-c", &probe]);
    assert_eq!(
        code,
        0,
        "the child, as nobody, can write there: {}",
        running.raw.join("\n")
    );
    for dir in [&nested, &logs] {
        let meta = std::fs::metadata(dir).expect("created");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "{}",
            dir.display()
        );
    }
}

#[test]
fn ensure_dirs_that_cannot_be_created_fail() {
    let scratch = Scratch::new("gate-dirs-bad");
    let file = scratch.path("a-file");
    std::fs::write(&file, "").expect("file");
    let under_file = format!("{}/sub", file.display());
    let (code, _, running) = run(
        Mode::Process,
        &scratch,
        &[("TEND_ENSURE_DIRS", &under_file)],
        &["true"],
    );
    assert_eq!(code, 78);
    assert!(running.raw.join("\n").contains(&under_file));
}

#[test]
fn min_disk_free_failure_names_the_path_and_sizes() {
    let scratch = Scratch::new("gate-disk");
    let dir = scratch.0.display().to_string();
    let wanted = format!("{dir}:1000TB");
    let (code, _, running) = run(
        Mode::Process,
        &scratch,
        &[("TEND_MIN_DISK_FREE", &wanted)],
        &["true"],
    );
    assert_eq!(code, 78);
    let failure = &running.events("environment_invalid")[0];
    assert_eq!(failure["variable"], "TEND_MIN_DISK_FREE");
    let message = failure["message"].as_str().unwrap_or("");
    assert!(
        message.contains(&dir) && message.contains("free, expected at least"),
        "{message}"
    );
    let ok = format!("{dir}:1MB");
    let (code, _, _) = run(
        Mode::Process,
        &scratch,
        &[("TEND_MIN_DISK_FREE", &ok), ("TEND_MIN_MEMORY", "1MB")],
        &["true"],
    );
    assert_eq!(code, 0);
}

/// The child's own view of its identity, from /proc/self/status and $HOME.
fn identity(mode: Mode, user: &str) -> (i32, String) {
    let scratch = Scratch::new("gate-user");
    let script = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; echo \"HOME=$HOME\"";
    let (code, out, running) = run(
        mode,
        &scratch,
        &[("TEND_USER", user)],
        &["sh", "-c", script],
    );
    assert_eq!(code, 0, "{}", running.raw.join("\n"));
    (code, out.replace('\t', " "))
}

#[test]
fn tend_user_switches_uid_gid_groups_and_home() {
    for mode in MODES {
        let (_, out) = identity(mode, "nobody");
        assert!(
            out.contains("Uid: 65534 65534 65534 65534"),
            "{mode:?}: {out}"
        );
        assert!(
            out.contains("Gid: 65534 65534 65534 65534"),
            "{mode:?}: {out}"
        );
        assert!(out.contains("Groups: 65534 \n"), "{mode:?}: {out}");
        assert!(out.contains("HOME=/nonexistent"), "{mode:?}: {out}");
    }
    let (_, out) = identity(Mode::Process, "4321:99");
    assert!(out.contains("Uid: 4321 4321 4321 4321"), "{out}");
    assert!(out.contains("Gid: 99 99 99 99"), "{out}");
    assert!(
        out.contains("Groups: 99 \n") && out.contains("HOME=/\n"),
        "{out}"
    );
}

#[test]
fn hooks_stay_root_while_the_child_switches() {
    let scratch = Scratch::new("gate-user-hook");
    let env = [
        ("TEND_USER", "nobody"),
        ("TEND_PRE_START", "sh -c 'id -u >&2'"),
    ];
    let (code, out, running) = run(Mode::Process, &scratch, &env, &["id", "-u"]);
    assert_eq!(code, 0);
    assert_eq!(out, "65534\n");
    assert!(
        running.raw.iter().any(|l| l == "0"),
        "hook ran as root: {}",
        running.raw.join("\n")
    );
}

#[test]
fn unknown_user_is_a_config_error() {
    let scratch = Scratch::new("gate-user-unknown");
    let (code, _, running) = run(
        Mode::Process,
        &scratch,
        &[("TEND_USER", "ghost")],
        &["true"],
    );
    assert_eq!(code, 78);
    let error = &running.events("config_invalid")[0];
    assert_eq!(error["variable"], "TEND_USER");
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("\"ghost\""),
        "{error}"
    );
}

/// A hook that leaves a daemon behind and then fails: tend exits 71 without leaving the
/// daemon running. Only as a subreaper: as PID 1 the kernel kills the whole namespace
/// when tend exits (and the pid in the file is the namespace's own).
#[test]
fn a_failed_gate_leaves_no_process_behind() {
    {
        let mode = Mode::Process;
        let scratch = Scratch::new("gate-leftover");
        let pidfile = scratch.path("daemon.pid");
        let pre = format!(
            "sh -c 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > {}'; false",
            pidfile.display()
        );
        let (code, _, running) = run(
            mode,
            &scratch,
            &[("TEND_PRE_START", pre.as_str())],
            &["true"],
        );
        assert_eq!(code, 71, "{mode:?}: {}", running.raw.join("\n"));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let alive = !state.is_empty() && !state.contains(") Z ");
        if alive {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert!(
            !alive,
            "{mode:?}: the hook's daemon {pid} outlived tend: {state}"
        );
    }
}

/// Without TEND_MIN_MEMORY nothing in the gate reads the limits: they are read once the
/// child is on its way (overlapping its exec), and still reported before `child_started`.
/// With it, they are read, and reported, before the checks.
#[test]
fn limits_are_reported_before_the_child_starts_whether_or_not_a_check_needs_them() {
    for mode in MODES {
        for env in [&[][..], &[("TEND_MIN_MEMORY", "1MB")][..]] {
            let scratch = Scratch::new("gate-limits-order");
            let (code, _, running) = run(mode, &scratch, env, &["--", "true"]);
            assert_eq!(code, 0, "{mode:?} {env:?}: {}", running.raw.join("\n"));
            assert_eq!(
                running.events("resource_limits").len(),
                1,
                "{mode:?} {env:?}"
            );
            let limits = index_of(&running, "resource_limits");
            assert!(
                index_of(&running, "startup_initiated") < limits,
                "{mode:?} {env:?}"
            );
            assert!(
                limits < index_of(&running, "child_started"),
                "{mode:?} {env:?}"
            );
        }
    }
}
