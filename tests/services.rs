//! Services (issue 14), with real processes, as an ordinary process and as PID 1: the
//! start order and its parallelism, a one-shot gate, a failed dependency, the reverse
//! stop order, per-service restarts, a service that ignores TERM killed at its own
//! timeout while the others stop gracefully, and a run of services without a main
//! command. The order is read off the event stream, which one thread writes in order.

mod common;

use std::process::Stdio;

use common::{
    client_output, read_when_present, run, tend, wait_for, Mode, Running, Scratch, MODES,
};
use serde_json::Value;

/// The position of the first event named `name` for `service` (None: the main command).
fn position(t: &Running, name: &str, service: Option<&str>) -> usize {
    let wanted = |e: &&Value| match service {
        Some(s) => e["service"] == s,
        None => e.get("service").is_none(),
    };
    t.seen
        .iter()
        .position(|e| e["event"] == name && wanted(&e))
        .unwrap_or_else(|| panic!("no {name} for {service:?}:\n{}", t.raw.join("\n")))
}

fn start(mode: Mode, scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = tend(mode, scratch, args);
    cmd.envs(env.iter().copied());
    Running::start(cmd, mode)
}

/// Independent services start together; a one-shot waits for what it depends on; the
/// main command waits for the one-shot to complete. Main's exit stops the rest.
#[test]
fn services_start_in_dependency_order_and_in_parallel() {
    for mode in MODES {
        let scratch = Scratch::new("svc-order");
        let env = [
            ("TEND_SERVICE_DB", "sleep 60"),
            ("TEND_SERVICE_CACHE", "sleep 60"),
            ("TEND_SERVICE_MIGRATE", "sh -c 'sleep 0.2'"),
            ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
            ("TEND_SERVICE_MIGRATE_DEPENDS_ON", "db"),
            ("TEND_DEPENDS_ON", "migrate:completed,cache"),
        ];
        let (code, t) = run(mode, &scratch, &["--", "sh", "-c", "exit 7"], &env);
        assert_eq!(code, 7, "{mode:?}: main's code:\n{}", t.raw.join("\n"));
        let db = position(&t, "child_started", Some("db"));
        let cache = position(&t, "child_started", Some("cache"));
        let migrate = position(&t, "child_started", Some("migrate"));
        let migrated = position(&t, "child_exited", Some("migrate"));
        let main = position(&t, "child_started", None);
        // db and cache in the first wave: both started before anything else happened.
        assert!(db.max(cache) < migrate, "{mode:?}: {}", t.raw.join("\n"));
        assert!(
            migrated < main,
            "{mode:?}: main before the one-shot completed"
        );
        let main_exit = position(&t, "child_exited", None);
        for service in ["db", "cache"] {
            let stop = position(&t, "shutdown_initiated", Some(service));
            assert!(
                stop > main_exit,
                "{mode:?}: {service} stopped before main exited"
            );
        }
    }
}

/// A one-shot that fails keeps what depends on it from starting (`service_blocked`, naming
/// the failure at the root: main waits for app, which waits for migrate); the main
/// command, blocked, never runs and tend exits 69.
#[test]
fn a_failed_dependency_keeps_its_dependents_and_main_from_starting() {
    for mode in MODES {
        let scratch = Scratch::new("svc-blocked");
        let marker = scratch.path("main-ran");
        let touch = format!("touch {}", marker.display());
        let env = [
            ("TEND_SERVICE_MIGRATE", "sh -c 'exit 3'"),
            ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
            ("TEND_SERVICE_APP", "sleep 60"),
            ("TEND_SERVICE_APP_DEPENDS_ON", "migrate:completed"),
            ("TEND_SERVICE_LOG", "sleep 60"),
            ("TEND_DEPENDS_ON", "app"),
        ];
        let (code, t) = run(mode, &scratch, &["--", "sh", "-c", &touch], &env);
        assert_eq!(code, 69, "{mode:?}:\n{}", t.raw.join("\n"));
        assert!(!marker.exists(), "{mode:?}: the main command must not run");
        let app = t.events("service_blocked");
        assert!(
            app.iter()
                .any(|e| e["service"] == "app" && e["blocked_by"] == "migrate"),
            "{mode:?}: {app:?}"
        );
        assert!(
            app.iter()
                .any(|e| e.get("service").is_none() && e["blocked_by"] == "migrate"),
            "{mode:?}: main's block is told: {app:?}"
        );
        // The independent service ran, and was stopped.
        position(&t, "child_started", Some("log"));
        position(&t, "child_exited", Some("log"));
        assert!(t
            .events("child_started")
            .iter()
            .all(|e| e["service"] != "app"));
    }
}

/// On SIGTERM the main command stops first, then what it depends on, then what that
/// depends on: a service stops only once its dependents have exited.
#[test]
fn services_stop_in_reverse_dependency_order() {
    for mode in MODES {
        let scratch = Scratch::new("svc-stop-order");
        let env = [
            ("TEND_SERVICE_DB", "sleep 60"),
            ("TEND_SERVICE_API", "sleep 60"),
            ("TEND_SERVICE_API_DEPENDS_ON", "db"),
            ("TEND_DEPENDS_ON", "api"),
        ];
        let mut t = start(mode, &scratch, &["--", "sleep", "60"], &env);
        t.wait_event_where("child_started", |e| e.get("service").is_none());
        t.signal(libc::SIGTERM);
        let code = t.wait_exit();
        assert_eq!(
            code,
            143,
            "{mode:?}: main's code (TERM):\n{}",
            t.raw.join("\n")
        );
        let main = position(&t, "child_exited", None);
        let api_stop = position(&t, "shutdown_initiated", Some("api"));
        let api = position(&t, "child_exited", Some("api"));
        let db_stop = position(&t, "shutdown_initiated", Some("db"));
        assert!(main < api_stop, "{mode:?}: {}", t.raw.join("\n"));
        assert!(api < db_stop, "{mode:?}: {}", t.raw.join("\n"));
        position(&t, "child_exited", Some("db"));
        let done = position(&t, "shutdown_completed", None);
        assert!(done > db_stop);
    }
}

/// A failing service restarts under its own policy and backoff, gives up at its own
/// limit, and never disturbs the main command, which the status shows beside it.
#[test]
fn a_service_restarts_on_its_own_policy_without_disturbing_main() {
    for mode in MODES {
        let scratch = Scratch::new("svc-restart");
        let env = [
            ("TEND_SERVICE_FLAKY", "sh -c 'exit 2'"),
            ("TEND_SERVICE_FLAKY_RESTART", "on-failure"),
            ("TEND_SERVICE_FLAKY_RESTART_DELAY", "50ms"),
            ("TEND_SERVICE_FLAKY_RESTART_MAX_ATTEMPTS", "2"),
        ];
        let mut t = start(mode, &scratch, &["--", "sleep", "60"], &env);
        t.wait_event_where("restarts_exhausted", |e| e["service"] == "flaky");
        let restarts = t.events("restart_initiated");
        assert_eq!(restarts.len(), 2, "{mode:?}: {restarts:?}");
        assert!(restarts.iter().all(|e| e["service"] == "flaky"));
        let status_path = scratch.path("status.json");
        wait_for("the status shows flaky failed", || {
            let text = std::fs::read_to_string(&status_path).unwrap_or_default();
            text.contains(r#""reason":"restarts exhausted""#)
        });
        let status: Value = serde_json::from_str(&read_when_present(&status_path)).expect("JSON");
        assert_eq!(status["state"], "running", "main undisturbed: {status}");
        let flaky = &status["services"][0];
        assert_eq!(flaky["name"], "flaky");
        assert_eq!(flaky["state"], "failed");
        assert_eq!(flaky["restarts"], 2);
        assert_eq!(flaky["last_exit"]["exit_code"], 2);
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

/// A service that ignores TERM gets SIGKILL at its own TEND_SERVICE_<NAME>_SHUTDOWN_TIMEOUT
/// while another one stops gracefully on its TERM.
#[test]
fn a_service_ignoring_term_is_killed_at_its_own_timeout() {
    for mode in MODES {
        let scratch = Scratch::new("svc-stubborn");
        let ready = scratch.path("ready");
        let stubborn = format!(
            "sh -c 'trap \"\" TERM; touch {}; while :; do sleep 0.1; done'",
            ready.display()
        );
        let env = [
            ("TEND_SERVICE_STUBBORN", stubborn.as_str()),
            ("TEND_SERVICE_STUBBORN_SHUTDOWN_TIMEOUT", "1s"),
            ("TEND_SERVICE_POLITE", "sleep 60"),
            ("TEND_SERVICE_POLITE_STOP_SIGNAL", "INT"),
        ];
        let mut t = start(mode, &scratch, &["--"], &env);
        wait_for("the stubborn service trapped TERM", || ready.exists());
        t.wait_event_where("child_started", |e| e["service"] == "polite");
        t.signal(libc::SIGTERM);
        let kill = t.wait_event_where("force_kill", |e| e["service"] == "stubborn");
        assert_eq!(kill["timeout_ms"], 1000, "{mode:?}: {kill}");
        let code = t.wait_exit();
        assert_eq!(
            code,
            0,
            "{mode:?}: no main command, stopped by TERM:\n{}",
            t.raw.join("\n")
        );
        let polite = t
            .events("signal_forwarded")
            .into_iter()
            .find(|e| e["service"] == "polite")
            .cloned()
            .expect("polite was signalled");
        assert_eq!(polite["signal"], "INT", "its own stop signal: {polite}");
        assert!(t
            .events("force_kill")
            .iter()
            .all(|e| e["service"] != "polite"));
    }
}

/// Without a main command the services alone run; tend ends when every one has ended,
/// with the first failed one's code (0 when none failed).
#[test]
fn services_alone_end_when_every_one_has_ended() {
    for mode in MODES {
        let scratch = Scratch::new("svc-alone");
        let ok = [
            ("TEND_SERVICE_ONE", "true"),
            ("TEND_SERVICE_TWO", "sh -c 'sleep 0.1'"),
            ("TEND_SERVICE_TWO_DEPENDS_ON", "one:completed"),
            ("TEND_SERVICE_ONE_ONESHOT", "true"),
        ];
        let (code, t) = run(mode, &scratch, &["--"], &ok);
        assert_eq!(code, 0, "{mode:?}:\n{}", t.raw.join("\n"));
        assert!(
            position(&t, "child_exited", Some("one")) < position(&t, "child_started", Some("two"))
        );
        let failing = [
            ("TEND_SERVICE_ONE", "sh -c 'exit 5'"),
            ("TEND_SERVICE_TWO", "true"),
        ];
        let (code, t) = run(mode, &scratch, &["--"], &failing);
        assert_eq!(code, 5, "{mode:?}:\n{}", t.raw.join("\n"));
    }
}

/// `tend --` with nothing after it and no service is a usage error, as before.
#[test]
fn nothing_to_run_is_a_usage_error() {
    let scratch = Scratch::new("svc-nothing");
    let (code, t) = run(Mode::Process, &scratch, &["--"], &[]);
    assert_eq!(code, 64, "{}", t.raw.join("\n"));
    assert!(t.raw.join("\n").contains("no command after `--`"));
}

/// `tend ARGS` as a client of the tend whose status file is in `scratch`: (code, stdout).
fn client(scratch: &Scratch, args: &[&str]) -> (i32, String) {
    let out = client_output(scratch, args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// `tend stop db` stops api (which depends on it) first, then db, and answers when both
/// have ended; `tend start api` starts db again first; `tend restart db` stops and starts
/// both; the main command runs on throughout.
#[test]
fn services_are_stopped_started_and_restarted_on_request() {
    for mode in MODES {
        let scratch = Scratch::new("svc-control");
        let env = [
            ("TEND_SERVICE_DB", "sleep 60"),
            ("TEND_SERVICE_API", "sleep 60"),
            ("TEND_SERVICE_API_DEPENDS_ON", "db"),
        ];
        let mut t = start(mode, &scratch, &["--", "sleep", "60"], &env);
        t.wait_event_where("child_started", |e| e.get("service").is_none());
        let socket = scratch.path("control.sock");
        wait_for("the control socket", || socket.exists());

        let (code, out) = client(&scratch, &["stop", "db"]);
        assert_eq!(code, 0, "{mode:?}: {out}");
        assert!(
            out.contains("db: stopped (and their dependents: api)"),
            "{out}"
        );
        t.wait_event_where("child_exited", |e| e["service"] == "db");
        let api = position(&t, "child_exited", Some("api"));
        let db = position(&t, "shutdown_initiated", Some("db"));
        assert!(api < db, "{mode:?}: api ends before db is told to stop");
        let status: Value =
            serde_json::from_str(&read_when_present(&scratch.path("status.json"))).expect("JSON");
        assert_eq!(status["state"], "running", "main runs on");
        assert!(status["services"]
            .as_array()
            .expect("services")
            .iter()
            .all(|s| s["state"] == "stopped"));

        let (code, out) = client(&scratch, &["start", "api"]);
        assert_eq!(code, 0, "{mode:?}: {out}");
        assert!(out.contains("api: running"), "{out}");
        t.wait_event_where("child_started", |e| e["service"] == "api");
        let db_starts = t
            .events("child_started")
            .iter()
            .filter(|e| e["service"] == "db")
            .count();
        assert_eq!(db_starts, 2, "{mode:?}: db was started again for api");

        let (code, out) = client(&scratch, &["restart", "db"]);
        assert_eq!(code, 0, "{mode:?}: {out}");
        assert!(
            out.contains("db: running") && out.contains("api: running"),
            "{out}"
        );

        let (code, out) = client(&scratch, &["start", "nope"]);
        assert_ne!(code, 0, "{mode:?}: an unknown service: {out}");

        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
    }
}

/// Services declared in the configuration file (TEND_CONFIG) run as those of the
/// environment, and the environment's value of a setting wins over the file's.
#[test]
fn services_of_the_configuration_file_run() {
    let scratch = Scratch::new("svc-file");
    let file = scratch.path("tend.toml");
    std::fs::write(
        &file,
        "[services.first]\ncommand = [\"sh\", \"-c\", \"exit 4\"]\noneshot = true\n\n\
         [services.second]\ncommand = \"true\"\ndepends_on = [\"first:completed\"]\n",
    )
    .expect("write the file");
    let path = file.to_str().expect("UTF-8");
    let env = [("TEND_CONFIG", path), ("TEND_SUCCESS_EXIT_CODES", "4")];
    let (code, t) = run(Mode::Process, &scratch, &["--"], &env);
    assert_eq!(code, 0, "{}", t.raw.join("\n"));
    assert!(
        position(&t, "child_exited", Some("first")) < position(&t, "child_started", Some("second"))
    );
    // Without the environment's success code, first fails and second never starts.
    let (code, t) = run(Mode::Process, &scratch, &["--"], &[("TEND_CONFIG", path)]);
    assert_eq!(code, 4, "{}", t.raw.join("\n"));
    assert!(t
        .events("service_blocked")
        .iter()
        .any(|e| e["service"] == "second"));
}

/// `_OUTPUT=prefix` puts the service's name before each of its lines, on the stream it
/// wrote to (names padded to the longest prefixed one); `_WORKDIR` and `_ENV` are where
/// and with what it runs; an inherited service writes untouched.
#[test]
fn a_service_runs_in_its_directory_with_its_variables_and_prefixed_output() {
    for mode in MODES {
        let scratch = Scratch::new("svc-output");
        let dir = scratch.path("work");
        std::fs::create_dir_all(&dir).expect("dir");
        let dir_text = dir.to_str().expect("UTF-8");
        let mut cmd = tend(mode, &scratch, &["--"]);
        cmd.envs([
            (
                "TEND_SERVICE_WEB",
                "sh -c 'echo \"$GREETING from $(pwd)\"; echo oops >&2; printf tail'",
            ),
            ("TEND_SERVICE_WEB_ENV", "GREETING='hello, world'"),
            ("TEND_SERVICE_WEB_WORKDIR", dir_text),
            ("TEND_SERVICE_WEB_OUTPUT", "prefix"),
            ("TEND_SERVICE_WEB_ONESHOT", "true"),
            ("TEND_SERVICE_WORKER_2", "sh -c 'echo plain'"),
            ("TEND_SERVICE_WORKER_2_ONESHOT", "true"),
        ]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let out = cmd.output().expect("run tend");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {stderr}");
        let greeting = format!("web | hello, world from {dir_text}\n");
        assert!(stdout.contains(&greeting), "{mode:?}: {stdout:?}");
        assert!(
            stdout.contains("web | tail\n"),
            "the last line, ended: {stdout:?}"
        );
        assert!(
            stdout.contains("plain\n") && !stdout.contains("| plain"),
            "{stdout:?}"
        );
        assert!(
            stderr.contains("web | oops\n"),
            "{mode:?}: stderr: {stderr}"
        );
    }
}
