//! Configuration as the real binary reads it (issue 12, items 7, 12 and 14): ids the
//! system cannot switch to, names that are not UTF-8, a variable given twice, what
//! `tend check-config` checks and prints, the wording of messages about user data, and
//! the configuration file (TEND_CONFIG, issue 14).

mod common;

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// `cmd` (its program and arguments final) with PATH and then `env`, verbatim.
fn with_raw_env(mut cmd: Command, env: &[&[u8]]) -> Command {
    let path = format!("PATH={}", std::env::var("PATH").unwrap_or_default());
    let mut all: Vec<&[u8]> = vec![path.as_bytes()];
    all.extend_from_slice(env);
    let owned: Vec<Vec<u8>> = all.iter().map(|e| e.to_vec()).collect();
    let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    raw_environment_exec(&mut cmd, &refs);
    cmd
}

/// Replaces `cmd`'s environment with `env` exactly as given, duplicates and all: std's
/// Command keeps one value per name, so the last pre_exec step execs by itself.
fn raw_environment_exec(cmd: &mut Command, env: &[&[u8]]) {
    let program = CString::new(resolve(cmd.get_program())).expect("program");
    let args: Vec<CString> = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| CString::new(a.as_bytes()).expect("arg"))
        .collect();
    let envp: Vec<CString> = env.iter().map(|e| CString::new(*e).expect("env")).collect();
    // Safety: only execve between fork and exec; the strings live in the closure.
    unsafe {
        cmd.pre_exec(move || {
            let argv: Vec<*const libc::c_char> = args
                .iter()
                .map(|a| a.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect();
            let envv: Vec<*const libc::c_char> = envp
                .iter()
                .map(|e| e.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect();
            libc::execve(program.as_ptr(), argv.as_ptr(), envv.as_ptr());
            Err(std::io::Error::last_os_error())
        });
    }
}

/// A program name as execve needs it: a path (unshare is found in PATH).
fn resolve(program: &OsStr) -> Vec<u8> {
    if program.as_bytes().contains(&b'/') {
        return program.as_bytes().to_vec();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .map(|p| p.into_os_string().into_vec())
        .unwrap_or_else(|| program.as_bytes().to_vec())
}

fn config_invalid_text(t: &Running) -> String {
    serde_json::to_string(&t.events("config_invalid")).expect("JSON")
}

#[test]
fn ids_the_system_reads_as_no_change_are_invalid_configuration() {
    for mode in MODES {
        for (user, kind) in [
            ("4294967295", "uid"),
            ("0:4294967295", "gid"),
            ("99999999999", "uid"),
        ] {
            let scratch = Scratch::new("minus-one");
            let marker = scratch.path("ran");
            let touch = format!("touch {}", marker.display());
            let (code, t) = run(
                mode,
                &scratch,
                &["--", "sh", "-c", &touch],
                &[("TEND_USER", user)],
            );
            assert_eq!(code, 78, "{mode:?} {user}: {}", t.raw.join("\n"));
            assert!(!marker.exists(), "{mode:?} {user}: the child must not run");
            let text = config_invalid_text(&t);
            for needle in ["TEND_USER", user, &format!("{kind} from 0 to 4294967294")] {
                assert!(
                    text.contains(needle),
                    "{mode:?}: {needle} missing from {text}"
                );
            }
            assert!(t.events("child_started").is_empty());
        }
    }
}

#[test]
fn a_tend_name_that_is_not_utf8_is_invalid_configuration() {
    for mode in MODES {
        let scratch = Scratch::new("name-utf8");
        let mut cmd = tend(mode, &scratch, &["--", "true"]);
        cmd.env(OsStr::from_bytes(b"TEND_SHUTDOWN_\xffTIMEOUT"), "5s");
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 78, "{mode:?}: {}", t.raw.join("\n"));
        let invalid = t.events("config_invalid");
        assert_eq!(
            invalid[0]["variable"], "TEND_SHUTDOWN_\u{FFFD}TIMEOUT",
            "{mode:?}: named, lossily: {invalid:?}"
        );
        assert!(config_invalid_text(&t).contains("not UTF-8"));
        // Other names that are not UTF-8 are not tend's business.
        let mut cmd = tend(mode, &scratch, &["--", "true"]);
        cmd.env(OsStr::from_bytes(b"OTHER_\xff"), "1");
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 0, "{mode:?}: {}", t.raw.join("\n"));
    }
}

/// getenv(3) finds the first of two; tend and its clients all read that one.
#[test]
fn a_variable_given_twice_is_read_as_its_first_everywhere() {
    for mode in MODES {
        let scratch = Scratch::new("twice");
        // The first is bad: tend must refuse it, not use the good second one.
        let cmd = with_raw_env(
            tend(mode, &scratch, &["--", "true"]),
            &[b"TEND_SHUTDOWN_TIMEOUT=banana", b"TEND_SHUTDOWN_TIMEOUT=5s"],
        );
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 78, "{mode:?}: {}", t.raw.join("\n"));
        assert!(config_invalid_text(&t).contains("banana"));
        let cmd = with_raw_env(
            tend(mode, &scratch, &["--", "true"]),
            &[b"TEND_SHUTDOWN_TIMEOUT=5s", b"TEND_SHUTDOWN_TIMEOUT=banana"],
        );
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 0, "{mode:?}: {}", t.raw.join("\n"));

        // The status file goes where the first says, and `tend health` given the same
        // environment finds it there.
        let first = scratch.path("first.json");
        let second = scratch.path("second.json");
        let env_first = [
            b"TEND_STATUS_FILE=".as_slice(),
            first.as_os_str().as_bytes(),
        ]
        .concat();
        let env_second = [
            b"TEND_STATUS_FILE=".as_slice(),
            second.as_os_str().as_bytes(),
        ]
        .concat();
        let env: [&[u8]; 2] = [&env_first, &env_second];
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.env_remove("TEND_STATUS_FILE");
        let mut t = Running::start(with_raw_env(cmd, &env), mode);
        t.wait_event("startup_completed");
        wait_for("the first status file", || first.exists());
        assert!(!second.exists(), "{mode:?}: the second value was used");
        let health = with_raw_env(client(&t, "health"), &env)
            .stdin(Stdio::null())
            .output()
            .expect("tend health");
        let answer = String::from_utf8_lossy(&health.stdout).into_owned();
        assert_eq!(health.status.code(), Some(0), "{mode:?}: {answer}");
        // So does the control client: `tend stop` finds the socket beside the first.
        let out = with_raw_env(client(&t, "stop"), &env)
            .output()
            .expect("tend stop");
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {said}");
        assert_eq!(t.wait_exit(), 143);
    }
}

/// `tend WORD` as a client of the running `t`: from inside its PID namespace when it is
/// PID 1 there (from outside, its status file names a pid 1 that is not it).
fn client(t: &Running, word: &str) -> Command {
    let mut cmd = match t.mode {
        Mode::Process => Command::new(BIN),
        Mode::Pid1 => {
            let mut c = Command::new("nsenter");
            let target = t.tend_pid().to_string();
            c.args(["--target", &target, "--pid", "--mount", BIN]);
            c
        }
    };
    cmd.arg(word);
    cmd
}

fn check_config(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tend(Mode::Process, scratch, &[]);
    cmd.arg("check-config").args(args).envs(env.iter().copied());
    let out = cmd.output().expect("tend check-config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_every_problem_a_start_would_meet() {
    let scratch = Scratch::new("check-all");
    let file = scratch.path("a-file");
    std::fs::write(&file, "").expect("file");
    let file = file.display().to_string();
    let env = [
        ("TEND_USER", "no-such-user-here"),
        ("TEND_REQUIRE_ENV", "TEND_TEST_UNSET_A,TEND_TEST_UNSET_B"),
        ("TEND_ENSURE_DIRS", file.as_str()),
        ("TEND_MIN_DISK_FREE", "/no/such/place:1MB"),
        ("TEND_SHUTDOWN_TIMEOUT", "banana"),
    ];
    let (code, stdout, stderr) = check_config(&scratch, &[], &env);
    assert_eq!(code, 78, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    for needle in [
        "TEND_USER: no user \"no-such-user-here\" in /etc/passwd",
        "TEND_REQUIRE_ENV",
        "TEND_TEST_UNSET_A, TEND_TEST_UNSET_B",
        "TEND_ENSURE_DIRS",
        "not a directory",
        "TEND_MIN_DISK_FREE",
        "TEND_SHUTDOWN_TIMEOUT=\"banana\"",
        "5 problem(s)",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }
    // Plain text, not JSON events.
    assert!(stderr.lines().all(|l| !l.starts_with('{')), "{stderr}");
    // A start with the same environment agrees.
    let (code, t) = run(Mode::Process, &scratch, &["--", "true"], &env[..3]);
    assert_eq!(code, 78, "{}", t.raw.join("\n"));

    // With --json the problems are events, as a start logs them.
    let (code, stdout, stderr) = check_config(&scratch, &["--json"], &env);
    assert_eq!(code, 78);
    assert!(stdout.is_empty(), "{stdout}");
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let variables: Vec<&str> = events
        .iter()
        .filter_map(|e| e["variable"].as_str())
        .collect();
    assert_eq!(
        variables,
        [
            "TEND_SHUTDOWN_TIMEOUT",
            "TEND_USER",
            "TEND_REQUIRE_ENV",
            "TEND_ENSURE_DIRS",
            "TEND_MIN_DISK_FREE"
        ],
        "{stderr}"
    );
}

#[test]
fn check_config_shows_the_paths_a_start_would_use() {
    let scratch = Scratch::new("check-paths");
    // Configured: as given, the socket beside it.
    let (code, stdout, stderr) = check_config(&scratch, &["--json"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let config: Value = serde_json::from_str(&stdout).expect("JSON");
    let status = scratch.path("status.json");
    assert_eq!(config["status_file"], status.display().to_string());
    assert_eq!(
        config["interfaces"]["control_socket"],
        scratch.path("control.sock").display().to_string()
    );
    // Not configured: the default place, never null.
    let mut cmd = tend(Mode::Process, &scratch, &["check-config", "--json"]);
    cmd.env_remove("TEND_STATUS_FILE");
    let out = cmd.output().expect("check-config");
    let config: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let status = config["status_file"].as_str().expect("a path, not null");
    assert!(status.ends_with("/status.json"), "{status}");
    let socket = config["interfaces"]["control_socket"]
        .as_str()
        .expect("path");
    assert!(socket.ends_with("/control.sock"), "{socket}");
    // Off is off.
    let (_, stdout, _) = check_config(&scratch, &["--json"], &[("TEND_CONTROL_SOCKET", "off")]);
    let config: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(config["interfaces"]["control_socket"], "off");
}

#[test]
fn check_config_prints_plain_text_unless_asked_for_json() {
    let scratch = Scratch::new("check-text");
    let (code, stdout, stderr) = check_config(&scratch, &[], &[("TEND_SHUTDOWN_TIMEOUT", "90")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("configuration valid"), "{stdout}");
    assert!(serde_json::from_str::<Value>(&stdout).is_err(), "{stdout}");
    let line = |key: &str| {
        stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(
        line("shutdown_timeout").as_deref(),
        Some("1m30s"),
        "{stdout}"
    );
    assert_eq!(
        line("status_file"),
        Some(scratch.path("status.json").display().to_string())
    );
    assert!(line("interfaces.control_socket").is_some(), "{stdout}");
    let (code, _, stderr) = check_config(&scratch, &["--yaml"], &[]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("\"--yaml\""), "{stderr}");
}

#[test]
fn health_names_a_bad_argument_in_a_usage_line() {
    let scratch = Scratch::new("health-usage");
    for (args, shown) in [
        (&["health", "--foo"][..], "unknown argument \"--foo\""),
        (
            &["health", "--live", "x"][..],
            "unexpected argument \"x\" after --live",
        ),
    ] {
        let out = tend(Mode::Process, &scratch, args)
            .output()
            .expect("health");
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim_end(),
            format!("tend health: {shown}; usage: tend health [--live | NAME]"),
        );
    }
}

#[test]
fn the_path_hint_is_only_for_bare_names() {
    for mode in MODES {
        let scratch = Scratch::new("path-hint");
        let (code, t) = run(mode, &scratch, &["--", "no-such-program-here"], &[]);
        assert_eq!(code, 127);
        let message = t.events("spawn_failed")[0]["message"].to_string();
        assert!(message.contains("PATH"), "{mode:?}: {message}");
        for named in ["./stauts", "/no/such/dir/program"] {
            let (code, t) = run(mode, &scratch, &["--", named], &[]);
            assert_eq!(code, 127, "{mode:?}");
            let failed = t.events("spawn_failed");
            let all = serde_json::to_string(&failed).expect("JSON");
            assert!(!all.contains("PATH"), "{mode:?} {named}: {all}");
            assert!(!all.contains("did you mean"), "{mode:?} {named}: {all}");
            assert!(
                all.contains(&format!("cannot run \\\"{named}\\\"")),
                "{all}"
            );
        }
        // A bare near-miss still gets its subcommand hint.
        let (_, t) = run(mode, &scratch, &["--", "stauts"], &[]);
        let hints: Vec<_> = t
            .events("spawn_failed")
            .into_iter()
            .filter(|e| !e["hint"].is_null())
            .collect();
        assert_eq!(hints.len(), 1, "{mode:?}");
    }
}

fn no_failure_detected(t: &Running, mode: Mode) {
    let detected = t.events("failure_detected");
    assert!(detected.is_empty(), "{mode:?}: {detected:?}");
}

/// `failure_detected` is for a failure tend acts on; with nothing left to do (no
/// remediation step) the health events tell it, as `child_exited` does for TEND_RESTART=no.
#[test]
fn failures_tend_does_nothing_about_are_not_failure_detected() {
    for mode in MODES {
        let scratch = Scratch::new("no-remedy");
        let marker = scratch.path("healthy");
        std::fs::write(&marker, "").expect("marker");
        let check = format!("exec:test -e {}", marker.display());
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.envs([
            ("TEND_HEALTH_CHECK", check.as_str()),
            ("TEND_HEALTH_INTERVAL", "100ms"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
            ("TEND_REMEDIATION", "none"),
        ]);
        let mut t = Running::start(cmd, mode);
        t.wait_event("startup_completed");
        std::fs::remove_file(&marker).expect("remove marker");
        t.wait_event_where("health_state_changed", |e| e["to"] == "unhealthy");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        no_failure_detected(&t, mode);

        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.envs([
            ("TEND_HEALTH_CHECK", "exec:false"),
            ("TEND_HEALTH_INTERVAL", "100ms"),
            ("TEND_STARTUP_TIMEOUT", "300ms"),
            ("TEND_REMEDIATION", "none"),
        ]);
        let mut t = Running::start(cmd, mode);
        t.wait_event("startup_timeout");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        no_failure_detected(&t, mode);
    }
}

/// A stop tend decides on (`tend stop`, `tend restart`) sends TERM; no TERM was received,
/// and no event says one was.
#[test]
fn a_stop_tend_decides_on_is_not_logged_as_received() {
    for mode in MODES {
        let scratch = Scratch::new("own-stop");
        let mut t = Running::start(tend(mode, &scratch, &["--", "sleep", "60"]), mode);
        t.wait_event("startup_completed");
        wait_for("the control socket", || {
            scratch.path("control.sock").exists()
        });
        let status = scratch.path("status.json");
        let out = client(&t, "restart")
            .env("TEND_STATUS_FILE", &status)
            .output()
            .expect("tend restart");
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {out:?}");
        t.wait_event("restart_initiated");
        let sent = t.wait_event("signal_forwarded");
        assert!(sent["received"].is_null(), "{mode:?}: {sent}");
        assert_eq!(sent["signal"], "TERM");
        t.wait_event("child_started");
        let out = client(&t, "stop")
            .env("TEND_STATUS_FILE", &status)
            .output()
            .expect("tend stop");
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {out:?}");
        let sent = t.wait_event("signal_forwarded");
        assert!(sent["received"].is_null(), "{mode:?}: {sent}");
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        let all = t.raw.join("\n");
        assert!(!all.contains("received TERM"), "{mode:?}: {all}");
        assert!(!all.contains("\"received\":\"TERM\""), "{mode:?}: {all}");
    }
}

/// Durations in messages are written as the variables take them (`1h`, `1500ms`), not in
/// Rust's debug notation (`3600s`, `1.5s`, `0ns`).
#[test]
fn durations_in_messages_read_as_they_are_configured() {
    for mode in MODES {
        let scratch = Scratch::new("durations");
        let (code, t) = run(
            mode,
            &scratch,
            &["--", "sh", "-c", "exit 3"],
            &[
                ("TEND_RESTART", "always"),
                ("TEND_RESTART_MAX_ATTEMPTS", "1"),
                ("TEND_RESTART_DELAY", "10ms"),
            ],
        );
        assert_eq!(code, 3, "{mode:?}");
        let restart = &t.events("restart_initiated")[0]["message"];
        assert!(
            restart.as_str().is_some_and(|m| m.ends_with("in 10ms")),
            "{restart}"
        );
        let gave_up = &t.events("restarts_exhausted")[0]["message"];
        assert_eq!(gave_up, "1 restarts within 1h: giving up", "{mode:?}");
    }
    let scratch = Scratch::new("durations-kill");
    let mut cmd = tend(
        Mode::Process,
        &scratch,
        &[
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo up; while :; do sleep 1; done",
        ],
    );
    cmd.env("TEND_SHUTDOWN_TIMEOUT", "1500ms")
        .stdout(Stdio::piped());
    let mut t = Running::start(cmd, Mode::Process);
    let mut up = String::new();
    let stdout = t.child.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut up).expect("up");
    t.signal(libc::SIGTERM);
    let kill = t.wait_event("force_kill");
    let message = kill["message"].as_str().unwrap_or_default();
    assert!(message.contains("still running after 1500ms"), "{message}");
    t.wait_exit();
}

/// Services (issue 14): `tend check-config` prints them, merged, with the start order.
#[test]
fn check_config_prints_the_services_and_their_start_order() {
    let scratch = Scratch::new("check-services");
    let env = [
        ("TEND_SERVICE_NGINX", "nginx -g 'daemon off;'"),
        ("TEND_SERVICE_NGINX_DEPENDS_ON", "php_fpm,migrate:completed"),
        ("TEND_SERVICE_NGINX_OUTPUT", "prefix"),
        ("TEND_SERVICE_PHP_FPM", "php-fpm -F"),
        ("TEND_SERVICE_MIGRATE", "/app/migrate up"),
        ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
        ("TEND_DEPENDS_ON", "nginx"),
        ("TEND_SHUTDOWN_TIMEOUT", "20s"),
    ];
    let (code, stdout, stderr) = check_config(&scratch, &["--json"], &env);
    assert_eq!(code, 0, "{stderr}");
    let config: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        config["start_order"],
        serde_json::json!([["migrate", "php_fpm"], ["nginx"], ["main"]])
    );
    assert_eq!(
        config["stop_order"],
        serde_json::json!([["main"], ["nginx"], ["migrate", "php_fpm"]])
    );
    let nginx = &config["services"]["nginx"];
    assert_eq!(nginx["command"], "nginx -g 'daemon off;'");
    assert_eq!(
        nginx["depends_on"],
        serde_json::json!(["php_fpm:started", "migrate:completed"])
    );
    assert_eq!(nginx["output"], "prefix");
    assert_eq!(nginx["shutdown_timeout"], "20s", "inherited: {nginx}");
    assert_eq!(config["services"]["migrate"]["oneshot"], true);
    assert_eq!(config["depends_on"], serde_json::json!(["nginx:started"]));

    let (code, stdout, stderr) = check_config(&scratch, &[], &env);
    assert_eq!(code, 0, "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("start_order "))
        .unwrap_or_else(|| panic!("no start_order in\n{stdout}"));
    assert!(
        line.ends_with("[migrate, php_fpm], [nginx], [main]"),
        "{line}"
    );
    assert!(stdout.contains("\nservices.php_fpm.command "), "{stdout}");

    // Without services, none of it.
    let (code, stdout, _) = check_config(&scratch, &["--json"], &[]);
    assert_eq!(code, 0);
    let config: Value = serde_json::from_str(&stdout).expect("JSON");
    for key in ["services", "start_order", "depends_on", "exit_with"] {
        assert!(config.get(key).is_none(), "{key}: {stdout}");
    }
}

#[test]
fn wrong_service_dependencies_are_invalid_configuration() {
    let scratch = Scratch::new("check-graph");
    /// (what is wrong, the environment, what the messages must say)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 5] = [
        (
            "a cycle",
            &[
                ("TEND_SERVICE_WEB", "nginx"),
                ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm"),
                ("TEND_SERVICE_PHP_FPM", "php-fpm"),
                ("TEND_SERVICE_PHP_FPM_DEPENDS_ON", "web"),
            ],
            &[
                "TEND_SERVICE_PHP_FPM_DEPENDS_ON=\"web\"",
                "php_fpm → web → php_fpm",
            ],
        ),
        (
            "an unknown service",
            &[
                ("TEND_SERVICE_WEB", "nginx"),
                ("TEND_SERVICE_WEB_DEPENDS_ON", "db:healthy"),
                ("TEND_SERVICE_DV", "postgres"),
            ],
            &[
                "TEND_SERVICE_WEB_DEPENDS_ON=\"db:healthy\"",
                "\"db\" is none; did you mean dv?",
            ],
        ),
        (
            "healthy without a health check",
            &[
                ("TEND_SERVICE_WEB", "nginx"),
                ("TEND_SERVICE_WEB_DEPENDS_ON", "db:healthy"),
                ("TEND_SERVICE_DB", "postgres"),
            ],
            &[
                "TEND_SERVICE_WEB_DEPENDS_ON",
                "db has none (TEND_SERVICE_DB_HEALTH_CHECK)",
            ],
        ),
        (
            "completed without one-shot",
            &[
                ("TEND_DEPENDS_ON", "migrate:completed"),
                ("TEND_SERVICE_MIGRATE", "migrate up"),
            ],
            &[
                "TEND_DEPENDS_ON=\"migrate:completed\"",
                "migrate is not one (TEND_SERVICE_MIGRATE_ONESHOT=true)",
            ],
        ),
        (
            "a setting that is none",
            &[
                ("TEND_SERVICE_WEB", "nginx"),
                ("TEND_SERVICE_WEB_HEALTHCHECK", "tcp://127.0.0.1:80"),
            ],
            &[
                "TEND_SERVICE_WEB_HEALTHCHECK",
                "did you mean TEND_SERVICE_WEB_HEALTH_CHECK?",
            ],
        ),
    ];
    for (case, env, needles) in cases {
        let (code, stdout, stderr) = check_config(&scratch, &[], env);
        assert_eq!(code, 78, "{case}: {stdout}{stderr}");
        assert!(stdout.is_empty(), "{case}: {stdout}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{case}: {needle} missing from\n{stderr}"
            );
        }
        assert!(stderr.contains("1 problem(s)"), "{case}: {stderr}");
        // A start with the same environment agrees, and starts nothing.
        let marker = scratch.path("ran");
        let touch = format!("touch {}", marker.display());
        let (code, t) = run(Mode::Process, &scratch, &["--", "sh", "-c", &touch], env);
        assert_eq!(code, 78, "{case}: {}", t.raw.join("\n"));
        assert!(!marker.exists(), "{case}: the child must not run");
        let messages: Vec<String> = t
            .events("config_invalid")
            .iter()
            .filter_map(|e| e["message"].as_str().map(String::from))
            .collect();
        assert!(
            messages.iter().any(|m| m.contains(needles[1])),
            "{case}: {messages:?}"
        );
    }
}

/// TEND_CONFIG (issue 14): the same settings as a TOML file, a table per service, under
/// the environment; `tend check-config` prints them merged, with where they came from.
#[test]
fn check_config_merges_the_configuration_file_under_the_environment() {
    let scratch = Scratch::new("config-file");
    let file = scratch.path("tend.toml");
    std::fs::write(
        &file,
        r#"
shutdown_timeout = "20s"
depends_on = ["nginx"]

[services.php_fpm]
command = "php-fpm -F"

[services.migrate]
command = ["/app/migrate", "up"]
oneshot = true

[services.nginx]
command = ["nginx", "-g", "daemon off;"]
depends_on = ["php_fpm", "migrate:completed"]
output = "prefix"
env = { PORT = 8080, GREETING = "a, b" }
"#,
    )
    .expect("write the file");
    let path = file.to_str().expect("UTF-8 path");
    let env = [
        ("TEND_CONFIG", path),
        ("TEND_SERVICE_NGINX_OUTPUT", "inherit"),
        // A service of the environment's, waiting for one of the file's.
        ("TEND_SERVICE_SHIPPER", "vector"),
        ("TEND_SERVICE_SHIPPER_DEPENDS_ON", "nginx"),
    ];
    let (code, stdout, stderr) = check_config(&scratch, &["--json"], &env);
    assert_eq!(code, 0, "{stderr}");
    let config: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        config["start_order"],
        serde_json::json!([["migrate", "php_fpm"], ["nginx"], ["main", "shipper"]])
    );
    let nginx = &config["services"]["nginx"];
    assert_eq!(nginx["command"], "nginx -g 'daemon off;'");
    assert_eq!(nginx["output"], "inherit", "the environment wins: {nginx}");
    assert_eq!(nginx["env"], serde_json::json!(["GREETING", "PORT"]));
    assert_eq!(nginx["shutdown_timeout"], "20s", "inherited from the file");
    assert_eq!(config["services"]["migrate"]["command"], "/app/migrate up");
    assert_eq!(config["depends_on"], serde_json::json!(["nginx:started"]));
    assert_eq!(config["config_file"]["path"], path);
    assert_eq!(
        config["config_file"]["overridden_by_environment"],
        serde_json::json!(["services.nginx.output (TEND_SERVICE_NGINX_OUTPUT)"])
    );

    let (_, stdout, _) = check_config(&scratch, &[], &env);
    assert!(
        stdout.lines().any(|l| l.starts_with("start_order ")
            && l.ends_with("[migrate, php_fpm], [nginx], [main, shipper]")),
        "{stdout}"
    );
    assert!(stdout.contains("\nconfig_file.settings "), "{stdout}");

    // A file of container-wide settings alone: valid, exit 0.
    std::fs::write(&file, "shutdown_timeout = \"7s\"\nlog_format = \"text\"\n").expect("write");
    let (code, stdout, stderr) = check_config(&scratch, &[], &[("TEND_CONFIG", path)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("shutdown_timeout ") && l.ends_with(" 7s")),
        "{stdout}"
    );

    // A start reads it too.
    std::fs::write(&file, "success_exit_codes = [3]\n").expect("write");
    let env = [("TEND_CONFIG", path)];
    let (code, t) = run(Mode::Process, &scratch, &["--", "sh", "-c", "exit 3"], &env);
    assert_eq!(code, 0, "3 is a success by the file: {}", t.raw.join("\n"));
}

/// A bad file is invalid configuration (78) for the check and for a start, each problem
/// named by the file, the line and the key; the child never runs.
#[test]
fn a_bad_configuration_file_names_the_file_and_the_key() {
    let scratch = Scratch::new("config-file-bad");
    let file = scratch.path("tend.toml");
    std::fs::write(
        &file,
        "shutdown_timout = \"5s\"\ndrain_delay = \"soon\"\nwait_for = \"tcp://user:hunter2@db:x\"\n",
    )
    .expect("write");
    let path = file.to_str().expect("UTF-8 path");
    let env = [("TEND_CONFIG", path)];
    let (code, stdout, stderr) = check_config(&scratch, &[], &env);
    assert_eq!(code, 78, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    for needle in [
        format!("{path}:1: shutdown_timout: not a setting; did you mean shutdown_timeout?"),
        format!("{path}:2: drain_delay=\"soon\": expected a duration"),
        format!("{path}:3: wait_for"),
        "3 problem(s)".to_string(),
    ] {
        assert!(stderr.contains(&needle), "{needle} missing from\n{stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let marker = scratch.path("ran");
    let touch = format!("touch {}", marker.display());
    let (code, t) = run(Mode::Process, &scratch, &["--", "sh", "-c", &touch], &env);
    assert_eq!(code, 78, "{}", t.raw.join("\n"));
    assert!(!marker.exists(), "the child must not run");
    let text = config_invalid_text(&t);
    assert!(text.contains(&format!("{path}:2: drain_delay")), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    // The environment's value for the same setting hides the file's bad one.
    std::fs::write(&file, "drain_delay = \"soon\"\n").expect("write");
    let (code, _, stderr) = check_config(
        &scratch,
        &[],
        &[("TEND_CONFIG", path), ("TEND_DRAIN_DELAY", "1s")],
    );
    assert_eq!(code, 0, "{stderr}");
}

/// TEND_CONFIG naming a FIFO, a directory or nothing is refused at once (78): a FIFO is
/// never opened, so no start hangs waiting for a writer.
#[test]
fn a_configuration_file_that_is_no_regular_file_fails_fast() {
    let scratch = Scratch::new("config-file-fifo");
    let fifo = scratch.path("tend.toml");
    let c_path = CString::new(fifo.as_os_str().as_bytes()).expect("path");
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let missing = scratch.path("missing.toml");
    for (path, why) in [
        (fifo.as_path(), "a named pipe"),
        (scratch.0.as_path(), "a directory"),
        (missing.as_path(), "No such file"),
    ] {
        let path = path.to_str().expect("UTF-8 path");
        for args in [&["check-config"][..], &["--", "true"][..]] {
            let mut cmd = tend(Mode::Process, &scratch, args);
            cmd.env("TEND_CONFIG", path)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().expect("spawn tend");
            let code = wait_code(&mut child);
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
                .expect("read stderr");
            assert_eq!(code, 78, "{args:?} {path}: {stderr}");
            assert!(
                stderr.contains("TEND_CONFIG") && stderr.contains(why),
                "{args:?} {path}: {stderr}"
            );
        }
    }
}
