//! The clients' side of services against the real binary, without services running
//! (tests/services.rs runs them): `tend health NAME`, `tend health` and `tend status
//! [--table]` against a status file written here that lists services, and `tend
//! start|stop|restart NAME...|--all` against a tend that runs none.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use common::{tend, Mode, Running, Scratch, PATIENCE};
use serde_json::{json, Value};

/// What a client run printed and returned.
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `tend ARGS` as a client of the tend whose status file is in `scratch`.
fn client(scratch: &Scratch, args: &[&str]) -> Outcome {
    let out = common::client_output(scratch, args);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// This test process's start time in clock ticks (field 22 of /proc/self/stat): with its
/// pid, it makes the file written here the file of a live tend.
fn own_start_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let rest = &stat[stat.rfind(')').expect("comm") + 1..];
    rest.split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .expect("start ticks")
}

fn service(name: &str, state: &str) -> Value {
    json!({
        "name": name, "state": state, "pid": null, "oneshot": false, "restarts": 0,
        "last_exit": null, "health_check": false, "health": "unknown",
        "consecutive_failures": 0, "reason": null,
    })
}

/// A status file as a live tend (this process) running its main command would write it,
/// with these services.
fn write_status(scratch: &Scratch, services: Vec<Value>) -> PathBuf {
    let mut status = json!({
        "state": "running", "pid": std::process::id(), "pid_start_ticks": own_start_ticks(),
        "child_pid": 4242, "started_at": "2024-01-01T00:00:00.000Z", "started_unix_ms": 1,
        "updated_at": "2024-01-01T00:00:01.000Z", "restarts": 0, "last_exit": null,
        "health_check": false, "health": "unknown", "consecutive_failures": 0,
        "last_check_at": null, "last_error": null, "last_check_duration_ms": null,
        "checks_passed": 0, "checks_failed": 0,
    });
    if !services.is_empty() {
        status["services"] = Value::Array(services);
    }
    let path = scratch.path("status.json");
    std::fs::write(&path, format!("{status}\n")).expect("status file");
    path
}

fn three_services() -> Vec<Value> {
    let mut api = service("api", "initializing");
    api["health_check"] = true.into();
    let mut migrate = service("migrate", "stopped");
    migrate["oneshot"] = true.into();
    migrate["reason"] = "completed".into();
    migrate["last_exit"] = json!({"exit_code": 0, "at": "2024-01-01T00:00:00.500Z"});
    let mut web = service("web", "running");
    web["pid"] = 4343.into();
    web["health_check"] = true.into();
    web["health"] = "healthy".into();
    vec![api, migrate, web]
}

#[test]
fn health_asks_about_every_service_or_one_by_name() {
    let scratch = Scratch::new("health-name");
    write_status(&scratch, three_services());
    for (args, code, answer) in [
        (
            &["health"][..],
            1,
            "not ready: service api: state initializing",
        ),
        (&["health", "web"], 0, "web: ready: running and healthy"),
        (&["health", "WEB"], 0, "web: ready: running and healthy"),
        (
            &["health", "migrate"],
            0,
            "migrate: ready: completed (exit code 0)",
        ),
        (&["health", "api"], 1, "api: not ready: state initializing"),
        (
            &["health", "main"],
            0,
            "main: ready: running (no health check configured)",
        ),
        (
            &["health", "wbe"],
            64,
            "no service named \"wbe\" (did you mean web?): the services are api, migrate, \
             web, and main is the main command",
        ),
        (&["health", "--live"], 0, "alive: state running"),
    ] {
        let out = client(&scratch, args);
        assert_eq!(out.code, code, "{args:?}: {}{}", out.stdout, out.stderr);
        assert_eq!(out.stdout, format!("{answer}\n"), "{args:?}");
    }
    // Once api runs, tend is ready, and says which services are.
    let mut services = three_services();
    services[0]["state"] = "running".into();
    services[0]["health"] = "healthy".into();
    write_status(&scratch, services);
    let out = client(&scratch, &["health"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(
        out.stdout,
        "ready: running (no health check configured); services ready: api, migrate \
         (completed), web\n"
    );
}

#[test]
fn health_by_name_without_services_or_with_a_stale_file() {
    let scratch = Scratch::new("health-none");
    write_status(&scratch, Vec::new());
    let out = client(&scratch, &["health", "web"]);
    assert_eq!(out.code, 64, "{}", out.stdout);
    assert!(out.stdout.contains("runs no services"), "{}", out.stdout);
    let out = client(&scratch, &["health", "main"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // Without services, `tend health` answers as it always did.
    let out = client(&scratch, &["health"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "ready: running (no health check configured)\n")
    );
    // A file whose tend is gone is stale, whatever is asked of it.
    let path = write_status(&scratch, three_services());
    let text = std::fs::read_to_string(&path).expect("status");
    let mut value: Value = serde_json::from_str(&text).expect("JSON");
    value["pid_start_ticks"] = (own_start_ticks() + 1).into();
    std::fs::write(&path, value.to_string()).expect("status");
    let out = client(&scratch, &["health", "web"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("stale status file"),
        "{}",
        out.stdout
    );
}

#[test]
fn status_shows_the_services_as_json_and_as_a_table() {
    let scratch = Scratch::new("status-services");
    write_status(&scratch, three_services());
    let out = client(&scratch, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let value: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let names: Vec<&str> = value["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["api", "migrate", "web"]);
    assert!(value["uptime_seconds"].is_number());

    let out = client(&scratch, &["status", "--table"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "\
NAME     STATE         PID   HEALTH   RESTARTS  LAST EXIT  REASON
main     running       4242  -        0         -          -
api      initializing  -     unknown  0         -          -
migrate  stopped       -     -        0         0          completed
web      running       4343  healthy  0         -          -
"
    );
    let out = client(&scratch, &["status", "--table", "extra"]);
    assert_eq!(out.code, 64, "{}", out.stderr);
}

/// Sends one raw request line and returns the answer.
fn raw(socket: &std::path::Path, line: &str) -> Value {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("answer");
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    serde_json::from_str(&text).expect("JSON answer")
}

#[test]
fn requests_about_services_to_a_tend_without_any_are_refused_and_change_nothing() {
    let scratch = Scratch::new("no-services");
    let mut cmd = tend(Mode::Process, &scratch, &["--", "sleep", "60"]);
    cmd.env("TEND_LOG_LEVEL", "debug");
    let mut t = Running::start(cmd, Mode::Process);
    let socket = PathBuf::from(
        t.wait_event("control_listening")["path"]
            .as_str()
            .expect("path"),
    );
    t.wait_event("child_started");

    for args in [
        &["start", "web"][..],
        &["stop", "web"],
        &["restart", "web", "api"],
        &["stop", "--all"],
    ] {
        let out = client(&scratch, args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.stdout);
        assert!(
            out.stderr.contains("this tend runs no services"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with(&format!("tend {}", args.join(" "))),
            "{}",
            out.stderr
        );
    }
    // On the wire: a stop with a name is never the stop without one.
    let answer = raw(&socket, "stop web\n");
    assert_eq!(answer["accepted"], false);
    assert!(answer["error"]
        .as_str()
        .is_some_and(|e| e.contains("runs no services")));
    let answer = raw(&socket, "start\n");
    assert_eq!(answer["accepted"], false);
    assert!(answer["error"]
        .as_str()
        .is_some_and(|e| e.contains("start NAME")));
    let refused = t.wait_event_where("control_request", |e| e["request"] == "stop web");
    assert_eq!(refused["accepted"], false);
    assert_eq!(refused["reason"], "unknown_service");
    assert!(matches!(t.child.try_wait(), Ok(None)), "tend still runs");

    // The stop without a name still stops tend.
    let out = client(&scratch, &["stop"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(t.wait_exit(), 143);
    assert!(t.events("restart_initiated").is_empty());
}

#[test]
fn usage_errors_need_no_tend() {
    let scratch = Scratch::new("service-usage");
    for (args, hint) in [
        (&["start"][..], "needs the services to start"),
        (&["stop", "--all", "web"], "takes no service names"),
        (&["restart", "main"], "main is the main command"),
        (&["start", "we b"], "is not a service name"),
        (&["restart", "--now"], "unknown option"),
    ] {
        let out = client(&scratch, args);
        assert_eq!(out.code, 64, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(hint), "{args:?}: {}", out.stderr);
    }
}
