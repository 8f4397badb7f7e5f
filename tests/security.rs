//! Security: planted secrets never show in any output, the user switch drops every id
//! and group, no_new_privs, only fds 0-2 inherited, and the status file's mode.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;

/// Every line of `path` that starts with one of `fields`, as "Field: values".
fn proc_fields(text: &str, fields: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| fields.iter().any(|f| l.starts_with(&format!("{f}:"))))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn tend_output(scratch: &Scratch, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = tend(Mode::Process, scratch, args);
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run tend");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn planted_secrets_never_appear_in_any_output() {
    const SECRETS: [&str; 5] = [
        "Wait4SecretPw",
        "HealthSecretPw",
        "RequiredEnvValue",
        "HookSecretPw",
        "BadHookSecretPw",
    ];
    let scratch = Scratch::new("secrets");
    let ready = scratch.path("ready");
    let env = [
        (
            "TEND_WAIT_OPTIONAL",
            "http://admin:Wait4SecretPw@127.0.0.1:1/health",
        ),
        ("TEND_WAIT_TIMEOUT", "300ms"),
        (
            "TEND_HEALTH_CHECK",
            "exec:sh -c 'exit 1' psql postgres://app:HealthSecretPw@db/app",
        ),
        ("TEND_HEALTH_INTERVAL", "100ms"),
        ("TEND_REMEDIATION", "none"),
        ("TEND_REQUIRE_ENV", "API_KEY"),
        ("API_KEY", "RequiredEnvValue"),
        ("TEND_PRE_START", "true --url http://u:HookSecretPw@x/"),
        ("TEND_LOG_LEVEL", "debug"),
        ("TEND_HTTP_ADDR", "127.0.0.1:0"),
    ];
    let script = format!("echo up > {}; sleep 100000 & wait", ready.display());
    let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &script]);
    let report = scratch.path("report.json");
    cmd.envs(env.iter().copied())
        .env("TEND_REPORT_FILE", &report)
        .stdout(Stdio::null());
    let mut run = Running::start(cmd, Mode::Process);
    let listening = run.wait_event("http_listening");
    let addr = listening["addr"].as_str().unwrap_or_default().to_string();
    run.wait_event("health_check_failed");
    read_when_present(&ready);
    let mut all = String::new();
    // `tend status` while it runs, and the status file itself.
    all += &tend_output(&scratch, &["status"], &[]);
    all += &std::fs::read_to_string(scratch.path("status.json")).unwrap_or_default();
    for path in ["/status", "/metrics", "/healthz", "/readyz"] {
        all += &http_get(&addr, path);
    }
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(), 143);
    all += &run.raw.join("\n");
    let report = std::fs::read_to_string(&report).expect("lifecycle report");
    assert!(
        report.contains("health_check_failed"),
        "report holds the timeline"
    );
    all += &report;
    all += &std::fs::read_to_string(scratch.path("status.json")).unwrap_or_default();
    // check-config, valid and with a bad hook (its value is repeated in the error).
    all += &tend_output(&scratch, &["check-config"], &env);
    let bad = [("TEND_PRE_START", "echo 'open http://u:BadHookSecretPw@x/")];
    all += &tend_output(&scratch, &["check-config"], &bad);
    all += &tend_output(&scratch, &["--", "true"], &bad);
    let lines = all.lines().count();
    let leaks: Vec<_> = SECRETS.iter().filter(|s| all.contains(*s)).collect();
    eprintln!(
        "planted secrets: {} planted, {lines} lines of output searched, {} found",
        SECRETS.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "leaked {leaks:?} in:\n{all}");
    assert!(all.contains("admin:***@"), "redacted form shown:\n{all}");
}

/// URL passwords holding `#`, `?`, `/` or a space (each half marked `Leak`, so that no
/// piece of one may survive) in every place a command line or probe is shown: hooks, an
/// `exec:` dependency, health check and remediation step, bad values, `tend wait`.
#[test]
fn url_passwords_with_delimiters_never_appear() {
    let scratch = Scratch::new("delimiters");
    let report = scratch.path("report.json");
    let report_path = report.display().to_string();
    let env = [
        ("TEND_WAIT_FOR", "exec:true http://admin:Leak1a#Leak1b@db/"),
        (
            "TEND_PRE_START",
            "true http://admin:Leak2a?Leak2b@db/ 'http://u:Leak3a Leak3b@db/'",
        ),
        ("TEND_POST_STOP", "true http://admin:Leak4a/Leak4b@db/"),
        ("TEND_HEALTH_CHECK", "exec:false http://u:Leak5a#Leak5b@h/"),
        ("TEND_HEALTH_INTERVAL", "100ms"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_STARTUP_TIMEOUT", "300ms"),
        ("TEND_REMEDIATION", "exec:true http://u:Leak6a/Leak6b?@h/"),
        ("TEND_REPORT_FILE", report_path.as_str()),
        ("TEND_LOG_LEVEL", "debug"),
    ];
    let mut cmd = tend(Mode::Process, &scratch, &["sleep", "100000"]);
    cmd.envs(env.iter().copied()).stdout(Stdio::null());
    let mut run = Running::start(cmd, Mode::Process);
    run.wait_event("dependencies_ready");
    run.wait_event("hook_completed");
    run.wait_event("remediation_started");
    let mut all = tend_output(&scratch, &["status"], &[]);
    run.signal(libc::SIGTERM);
    assert_eq!(run.wait_exit(), 143);
    assert!(!run.events("hook_completed").is_empty());
    all += &run.raw.join("\n");
    all += &std::fs::read_to_string(&report).expect("lifecycle report");
    all += &tend_output(&scratch, &["check-config"], &env);
    for (variable, value) in [
        ("TEND_WAIT_FOR", "http://admin:Leak7a/Leak7b@db:5432/"),
        ("TEND_WAIT_FOR", "http://admin:Leak8a Leak8b@db:nope/"),
        ("TEND_HEALTH_CHECK", "http://admin:Leak9a/Leak9b@db:nope/"),
        (
            "TEND_PRE_START",
            "curl http://admin:Leak10a#Leak10b@db/ 'open",
        ),
        (
            "TEND_REMEDIATION",
            "exec:x http://u:Leak11a?Leak11b@h/,bogus",
        ),
    ] {
        let out = tend_output(&scratch, &["check-config"], &[(variable, value)]);
        assert!(
            out.contains(":***@"),
            "{variable}={value} shown redacted: {out}"
        );
        all += &out;
    }
    all += &tend_output(
        &scratch,
        &[
            "wait",
            "--timeout",
            "300ms",
            "http://admin:Leak12a?Leak12b@127.0.0.1:1/",
        ],
        &[],
    );
    all += &tend_output(
        &scratch,
        &["wait", "http://admin:Leak13a?Leak13b@db:x/"],
        &[],
    );
    let leaks: Vec<_> = all.lines().filter(|l| l.contains("Leak")).collect();
    eprintln!(
        "passwords with delimiters: {} lines searched, {} with a piece of one",
        all.lines().count(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    assert!(all.contains("admin:***@"), "redacted form shown:\n{all}");
}

/// Issue 12, item 5: passwords inside quoted words (holding spaces, quotes and `@`), in
/// every variable that holds a command or a URL, and in one invalid value, in both log
/// formats. Every output is searched: stderr, the report, the status file, `tend
/// status`, the HTTP endpoints, `tend check-config`, and a run refused for the bad value.
/// Each password's halves are marked `Leak`, so that no piece of one may survive.
#[test]
fn quoted_passwords_never_appear_in_any_output_in_either_log_format() {
    for format in ["json", "text"] {
        let scratch = Scratch::new(&format!("quoted-secrets-{format}"));
        let (report, log) = (scratch.path("report.json"), scratch.path("stderr.log"));
        let (ready, remediated) = (scratch.path("ready"), scratch.path("remediated"));
        let remediation = format!(
            "exec:sh -c 'touch \"$0\"' {} '--url=http://u:Leak7a @Leak7b@h/'",
            remediated.display()
        );
        let report_path = report.display().to_string();
        let env = [
            ("TEND_LOG_FORMAT", format),
            ("TEND_LOG_LEVEL", "debug"),
            (
                "TEND_PRE_START",
                "/bin/true '--url=http://u:Leak1a @Leak1b@127.0.0.1/'; \
                 true \"http://u:Leak2a \\\"Leak2b@h/\"",
            ),
            (
                "TEND_POST_STOP",
                "true 'postgres://app:Leak3a Leak3b@db/app'",
            ),
            (
                "TEND_WAIT_FOR",
                "exec:true '--db=redis://:Leak4a Leak4b@h:6379'",
            ),
            (
                "TEND_WAIT_OPTIONAL",
                "http://admin:Leak5a Leak5b@127.0.0.1:1/",
            ),
            ("TEND_WAIT_TIMEOUT", "300ms"),
            (
                "TEND_HEALTH_CHECK",
                "exec:sh -c 'exit 1' 'http://u:Leak6a Leak6b@h/'",
            ),
            ("TEND_HEALTH_INTERVAL", "100ms"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
            // The check never passes: the startup timeout takes the remediation step.
            ("TEND_STARTUP_TIMEOUT", "300ms"),
            ("TEND_REMEDIATION", remediation.as_str()),
            ("TEND_REQUIRE_ENV", "API_KEY"),
            ("API_KEY", "Leak8 the value of a required variable"),
            ("TEND_HTTP_ADDR", "127.0.0.1:0"),
            ("TEND_REPORT_FILE", report_path.as_str()),
        ];
        let script = format!("echo up > {}; sleep 100000 & wait", ready.display());
        let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &script]);
        cmd.envs(env.iter().copied()).stdout(Stdio::null());
        let mut run = Running::start_logging_to(cmd, Mode::Process, &log);
        let logged = || std::fs::read_to_string(&log).unwrap_or_default();
        wait_for(
            "the child, the remediation step and the HTTP endpoint",
            || ready.exists() && remediated.exists() && logged().contains("http_listening"),
        );
        let mut all = tend_output(&scratch, &["status"], &[]);
        all += &std::fs::read_to_string(scratch.path("status.json")).expect("status file");
        let addr = listening_addr(&logged());
        for path in ["/status", "/metrics", "/healthz", "/readyz"] {
            all += &http_get(&addr, path);
        }
        run.signal(libc::SIGTERM);
        assert_eq!(run.wait_exit(), 143);
        let stderr = logged();
        for event in [
            "hook_started",
            "remediation_started",
            "dependency_attempt_failed",
        ] {
            assert!(stderr.contains(event), "{format}: no {event} in:\n{stderr}");
        }
        all += &stderr;
        all += &std::fs::read_to_string(&report).expect("lifecycle report");
        all += &std::fs::read_to_string(scratch.path("status.json")).unwrap_or_default();
        all += &tend_output(&scratch, &["check-config"], &env);
        let health_url = [
            ("TEND_LOG_FORMAT", format),
            (
                "TEND_HEALTH_CHECK",
                "http://admin:Leak9a 'Leak9b@127.0.0.1:1/",
            ),
        ];
        all += &tend_output(&scratch, &["check-config"], &health_url);
        let invalid = [
            ("TEND_LOG_FORMAT", format),
            (
                "TEND_SHUTDOWN_TIMEOUT",
                "soon '--url=http://u:Leak10a @Leak10b@h/'",
            ),
        ];
        let refused = tend_output(&scratch, &["--", "true"], &invalid);
        assert!(refused.contains("TEND_SHUTDOWN_TIMEOUT"), "{refused}");
        all += &refused;
        all += &tend_output(&scratch, &["check-config"], &invalid);
        let leaks: Vec<_> = all.lines().filter(|l| l.contains("Leak")).collect();
        eprintln!(
            "{format}: {} lines of output searched, {} with a piece of a password",
            all.lines().count(),
            leaks.len()
        );
        assert!(leaks.is_empty(), "{format}: leaked:\n{}", leaks.join("\n"));
        assert!(
            all.contains("u:***@127.0.0.1/"),
            "{format}: redacted form shown:\n{all}"
        );
    }
}

/// The address in the `http_listening` line, JSON (`"addr":"…"`) or text (`addr=…`).
fn listening_addr(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("http_listening"))
        .expect("http_listening logged");
    let at = line.find("127.0.0.1:").expect("an address");
    line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || ".:".contains(*c))
        .collect()
}

/// The whole answer to one plain HTTP/1.1 GET.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let _ = write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1"), "{path}: {answer}");
    answer
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn the_user_switch_drops_ids_and_groups_and_no_new_privs_holds() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    const FIELDS: [&str; 4] = ["Uid", "Gid", "Groups", "NoNewPrivs"];
    for no_new_privs in ["false", "true"] {
        let scratch = Scratch::new("user");
        std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        let (child, probe) = (scratch.path("child"), scratch.path("probe"));
        let script = format!(
            "cat /proc/self/status > {}.tmp; mv {0}.tmp {0}; sleep 100000 & wait",
            child.display()
        );
        let check = format!(
            "exec:sh -c 'cat /proc/self/status > {0}.tmp; mv {0}.tmp {0}'",
            probe.display()
        );
        let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &script]);
        cmd.env("TEND_USER", "65534:65534")
            .env("TEND_NO_NEW_PRIVS", no_new_privs)
            .env("TEND_HEALTH_CHECK", &check)
            .env("TEND_HEALTH_INTERVAL", "100ms")
            .stdout(Stdio::null());
        let mut run = Running::start(cmd, Mode::Process);
        wait_for("child and probe status", || {
            child.exists() && probe.exists()
        });
        run.signal(libc::SIGTERM);
        run.wait_exit();
        let child = proc_fields(&std::fs::read_to_string(&child).expect("child"), &FIELDS);
        let probe = proc_fields(&std::fs::read_to_string(&probe).expect("probe"), &FIELDS);
        eprintln!("TEND_USER=65534:65534 TEND_NO_NEW_PRIVS={no_new_privs}: child {child:?}, exec probe {probe:?}");
        let nnp = format!("NoNewPrivs: {}", if no_new_privs == "true" { 1 } else { 0 });
        assert_eq!(
            child[0], "Uid: 65534 65534 65534 65534",
            "real, effective, saved, fs"
        );
        assert_eq!(child[1], "Gid: 65534 65534 65534 65534");
        // Supplementary groups: none, or only the target's own (root's 0 is gone).
        assert!(
            child[2] == "Groups:" || child[2] == "Groups: 65534",
            "{}",
            child[2]
        );
        assert_eq!(child[3], nnp);
        assert_eq!(
            probe[..2],
            child[..2],
            "the exec probe runs as TEND_USER too"
        );
        assert!(
            probe[2] == "Groups:" || probe[2] == "Groups: 65534",
            "{probe:?}"
        );
        assert_eq!(probe[3], nnp, "exec probes get no_new_privs too");
    }
}

#[test]
fn children_hooks_and_probes_inherit_only_fds_0_1_2() {
    // Hooks and probes lead a session of their own: they always take the fork path.
    for path in SPAWN_PATHS {
        only_fds_0_1_2(path);
    }
}

fn only_fds_0_1_2(path: SpawnPath) {
    let scratch = Scratch::new("fds");
    let list = |name: &str| {
        format!(
            "sh -c 'ls -l /proc/self/fd > {0}.tmp; mv {0}.tmp {0}'",
            scratch.path(name).display()
        )
    };
    let child = format!(
        "ls -l /proc/self/fd > {0}.tmp; mv {0}.tmp {0}; sleep 100000 & wait",
        scratch.path("child").display()
    );
    let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &child]);
    cmd.envs(path.env.iter().copied())
        .env("TEND_PRE_START", list("hook"))
        .env("TEND_POST_STOP", list("post"))
        .env("TEND_HEALTH_CHECK", format!("exec:{}", list("probe")))
        .env("TEND_HEALTH_INTERVAL", "100ms")
        .stdout(Stdio::null());
    let mut run = Running::start(cmd, Mode::Process);
    wait_for("child and probe listings", || {
        scratch.path("child").exists() && scratch.path("probe").exists()
    });
    run.signal(libc::SIGTERM);
    run.wait_exit();
    for who in ["child", "hook", "probe", "post"] {
        let fds: Vec<String> = std::fs::read_to_string(scratch.path(who))
            .unwrap_or_else(|_| panic!("{who} listing"))
            .lines()
            .filter_map(|l| {
                let (left, target) = l.split_once(" -> ")?;
                let fd = left.split_whitespace().last()?;
                let own_dir = target.starts_with("/proc/") && target.ends_with("/fd");
                (!own_dir).then(|| fd.to_string())
            })
            .collect();
        eprintln!("fds of the {who} ({path:?}): {fds:?}");
        assert_eq!(fds, ["0", "1", "2"], "{who} {path:?}");
    }
}

#[test]
fn status_file_is_0644_whatever_the_umask() {
    let scratch = Scratch::new("umask");
    let mut cmd = tend(Mode::Process, &scratch, &["true"]);
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let status = cmd.stderr(Stdio::null()).status().expect("run");
    assert!(status.success());
    let mode = std::fs::metadata(scratch.path("status.json"))
        .expect("status file")
        .permissions()
        .mode()
        & 0o777;
    eprintln!("status file mode under umask 077: {mode:o}");
    assert_eq!(mode, 0o644);
    let _ = Command::new("true");
}

/// As `nobody` with no TEND_STATUS_FILE, tend falls back to /dev/shm/tend-65534, then
/// $TMPDIR/tend-65534. A /dev/shm/tend-65534 that someone else could write to (here 0777,
/// holding a forged file) is skipped by the writer and by `tend status` alike.
#[test]
fn a_fallback_directory_others_can_write_is_not_trusted() {
    let scratch = Scratch::new("untrusted-dir");
    std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let planted = std::path::Path::new("/dev/shm/tend-65534");
    let _ = std::fs::remove_dir_all(planted);
    std::fs::create_dir(planted).expect("plant dir");
    std::fs::set_permissions(planted, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let forged = r#"{"state":"running","pid":1,"pid_start_ticks":null,"child_pid":1,"started_at":"FORGED","updated_at":"FORGED","restarts":0,"last_exit":null}"#;
    std::fs::write(planted.join("status.json"), forged).expect("forge");

    let as_nobody = |args: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        cmd.args(args);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TMPDIR", &scratch.0)
            .stdin(Stdio::null());
        cmd
    };
    let mut t = Running::start(as_nobody(&["--", "sleep", "60"]), Mode::Process);
    let child = t.wait_event("startup_completed")["pid"].clone();
    let real = scratch.0.join("tend-65534/status.json");
    assert!(
        real.exists(),
        "the status file went to $TMPDIR: {}",
        t.raw.join("\n")
    );
    // The reader in a mount namespace with an empty /run: a /run/tend left by other runs
    // on this machine would otherwise come first.
    let reader = as_nobody(&["status"]);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--mount",
        "sh",
        "-c",
        "mount -t tmpfs none /run && exec \"$@\"",
        "sh",
    ]);
    cmd.arg(reader.get_program()).args(reader.get_args());
    cmd.env_clear()
        .envs(reader.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = cmd.output().expect("tend status");
    let text = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(planted);
    assert!(!text.contains("FORGED"), "the forged file was read: {text}");
    let status: serde_json::Value = serde_json::from_str(&text).expect("status JSON");
    assert_eq!(status["child_pid"], child);
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait_exit(), 143);
}

/// A script without `#!`: the kernel refuses it (ENOEXEC); glibc's execvp would then run
/// it with /bin/sh, which would leave `marker` behind.
fn script_without_shebang(scratch: &Scratch) -> (String, std::path::PathBuf) {
    let (script, marker) = (scratch.path("no-shebang"), scratch.path("ran"));
    std::fs::write(
        &script,
        format!("echo ran > {}\nexit 7\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script.to_str().unwrap().to_owned(), marker)
}

#[test]
fn a_script_without_shebang_is_never_run_with_a_shell_whatever_the_settings() {
    let mut settings: Vec<&[(&str, &str)]> = vec![
        &[],
        &[("TEND_SIGNAL_TARGET", "group")],
        &[("TEND_NO_NEW_PRIVS", "true")],
    ];
    if is_root() {
        settings.push(&[("TEND_USER", "0")]);
    }
    for mode in MODES {
        for env in &settings {
            let scratch = Scratch::new("noshebang");
            let (script, marker) = script_without_shebang(&scratch);
            let (code, tend) = run(mode, &scratch, &["--", &script], env);
            assert_eq!(code, 126, "{mode:?} {env:?}");
            let failed = tend.events("spawn_failed");
            assert_eq!(failed[0]["reason"], "not_executable", "{mode:?} {env:?}");
            assert!(
                failed[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("Exec format error"),
                "{mode:?} {env:?}: {}",
                failed[0]
            );
            assert!(!marker.exists(), "{mode:?} {env:?}: a shell ran the script");
        }
    }
}

#[test]
fn hooks_probes_and_tend_wait_never_run_a_script_without_shebang_with_a_shell() {
    for mode in MODES {
        let scratch = Scratch::new("noshebang-helpers");
        let (script, marker) = script_without_shebang(&scratch);

        let (code, hook) = run(
            mode,
            &scratch,
            &["--", "true"],
            &[("TEND_PRE_START", &script)],
        );
        assert_eq!(code, 71, "{mode:?}");
        let failed = hook.events("hook_failed");
        assert!(
            failed[0]["reason"]
                .as_str()
                .unwrap()
                .contains("Exec format error"),
            "{mode:?}: {}",
            failed[0]
        );
        assert!(!marker.exists(), "{mode:?}: a shell ran the pre-start hook");

        let mut cmd = tend(mode, &scratch, &["--", "sleep", "60"]);
        cmd.env("TEND_HEALTH_CHECK", format!("exec:{script}"))
            .env("TEND_HEALTH_INTERVAL", "100ms")
            .env("TEND_LOG_LEVEL", "debug");
        let mut t = Running::start(cmd, mode);
        let failed = t.wait_event("health_check_failed");
        t.signal(libc::SIGTERM);
        t.wait_exit();
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .contains("Exec format error"),
            "{mode:?}: {failed}"
        );
        assert!(!marker.exists(), "{mode:?}: a shell ran the exec probe");

        let (code, wait) = run(mode, &scratch, &["wait", "exec:true", "--", &script], &[]);
        assert_eq!(code, 126, "{mode:?}");
        assert_eq!(wait.events("spawn_failed")[0]["reason"], "not_executable");
        assert!(
            !marker.exists(),
            "{mode:?}: a shell ran tend wait's command"
        );
    }
}

/// RLIMIT_NPROC reached: the kernel refuses the exec after the switch to a user that is
/// over it (EAGAIN), as fork refuses an ordinary user. That is no fault of the command.
#[test]
fn a_process_limit_is_reported_as_such_not_as_a_command_that_cannot_run() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // One process of nobody's already running puts nobody over a limit of 0.
    let mut other = Command::new("sleep");
    other.arg("60").uid(65534).gid(65534);
    let mut other = other.spawn().expect("sleep as nobody");
    for mode in MODES {
        let scratch = Scratch::new("nproc");
        let mut cmd = tend(mode, &scratch, &["--", "true"]);
        cmd.env("TEND_USER", "65534:65534");
        // Safety: setrlimit is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                let zero = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_NPROC, &zero);
                Ok(())
            });
        }
        let mut t = Running::start(cmd, mode);
        let code = t.wait_exit();
        assert_eq!(code, 126, "{mode:?}");
        let failed = t.events("spawn_failed");
        assert_eq!(failed[0]["reason"], "no_process", "{mode:?}: {}", failed[0]);
        let message = failed[0]["message"].as_str().unwrap();
        assert!(
            message.contains("EAGAIN") && message.contains("no process could be created"),
            "{mode:?}: {message}"
        );
    }
    let _ = other.kill();
    let _ = other.wait();
}
