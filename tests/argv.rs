//! Argv and environment edge cases: usage errors, odd program names, non-UTF-8 bytes
//! and a huge environment passed through unchanged.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;

use common::*;

fn exit_of(scratch: &Scratch, args: &[&OsStr]) -> (i32, String) {
    let mut cmd = tend(Mode::Process, scratch, &[]);
    cmd.args(args).stdout(Stdio::null());
    let out = cmd.output().expect("run tend");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn usage_errors_and_odd_commands() {
    let scratch = Scratch::new("argv");
    let os = |s: &'static str| OsStr::new(s);
    for (args, code, hint) in [
        (vec![], 64, "no command"),
        (vec![os("--")], 64, "no command after"),
        (vec![os("--frobnicate")], 64, "unknown option"),
        (vec![os("-x"), os("true")], 64, "unknown option"),
        (
            vec![os("status"), os("extra")],
            64,
            "unknown argument \"extra\"",
        ),
        (vec![os("no-such-subcommand-xyz")], 127, "spawn_failed"),
        (vec![os("--"), os("")], 127, "spawn_failed"),
        (vec![os("--"), os("--")], 127, "spawn_failed"),
        (vec![os("--"), os("/")], 126, "spawn_failed"),
    ] {
        let (got, stderr) = exit_of(&scratch, &args);
        eprintln!("tend {args:?}: exit {got}");
        assert_eq!(got, code, "{args:?}: {stderr}");
        assert!(stderr.contains(hint), "{args:?}: {stderr}");
    }
}

#[test]
fn non_utf8_arguments_and_environment_reach_the_child_unchanged() {
    let scratch = Scratch::new("bytes");
    let arg: &[u8] = b"\xff\xfe arg \x80\x01 end";
    let value: &[u8] = b"\xc3\x28 value \xa0\xa1";
    let (a, v) = (scratch.path("arg"), scratch.path("value"));
    let script = format!(
        "printf %s \"$1\" > {}; printf %s \"$ODD\" > {}",
        a.display(),
        v.display()
    );
    let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &script, "sh"]);
    cmd.arg(OsStr::from_bytes(arg))
        .env("ODD", OsStr::from_bytes(value))
        .stdout(Stdio::null());
    let mut run = Running::start(cmd, Mode::Process);
    assert_eq!(run.wait_exit(), 0);
    assert_eq!(std::fs::read(&a).expect("arg"), arg);
    assert_eq!(std::fs::read(&v).expect("value"), value);
}

#[test]
fn a_huge_environment_passes_through() {
    const VARS: usize = 1000;
    const SIZE: usize = 1000;
    let scratch = Scratch::new("hugeenv");
    let out = scratch.path("out");
    let script = format!(
        "printf %s \"$BIG_{}\" > {}; env | grep -c '^BIG_' >> {1}",
        VARS - 1,
        out.display()
    );
    let mut cmd = tend(Mode::Process, &scratch, &["sh", "-c", &script]);
    let value = "v".repeat(SIZE);
    for i in 0..VARS {
        cmd.env(format!("BIG_{i}"), &value);
    }
    cmd.stdout(Stdio::null());
    let mut run = Running::start(cmd, Mode::Process);
    assert_eq!(run.wait_exit(), 0);
    let got = std::fs::read_to_string(&out).expect("out");
    eprintln!("huge environment: {VARS} variables of {SIZE} bytes passed through");
    assert_eq!(got, format!("{value}{VARS}\n"));
}

#[test]
fn a_huge_tend_variable_is_a_clear_config_error() {
    let scratch = Scratch::new("hugevar");
    let huge = format!("tcp://{}", "h".repeat(100_000));
    let (code, run) = run(
        Mode::Process,
        &scratch,
        &["true"],
        &[("TEND_WAIT_FOR", &huge)],
    );
    assert_eq!(code, 78);
    let errors = run.events("config_invalid");
    assert!(
        errors.iter().any(|e| e["variable"] == "TEND_WAIT_FOR"),
        "{errors:?}"
    );
}

/// `tend --version` names the release, the commit it was built from and the target triple,
/// the same for `-V` and `version`.
#[test]
fn version_names_release_commit_and_target() {
    let head = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    // Not the build's own variable (cargo sets it for tests too): git, independently.
    let commit = head.unwrap_or_else(|| "unknown".into());
    let arch = std::env::consts::ARCH;
    for flag in ["--version", "-V", "version"] {
        let out = std::process::Command::new(BIN)
            .arg(flag)
            .output()
            .expect("run tend");
        assert_eq!(out.status.code(), Some(0), "tend {flag}");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "tend {} (commit {commit}, {arch}-",
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            text.starts_with(&want),
            "tend {flag}: {text:?}, want {want:?}…"
        );
        // The target tend was built for: this test's own (musl for the static build).
        let env = if cfg!(target_env = "musl") {
            "musl"
        } else {
            "gnu"
        };
        assert!(
            text.trim_end().ends_with(&format!("-linux-{env})")),
            "tend {flag}: {text:?}"
        );
        assert_eq!(text.lines().count(), 1, "tend {flag}: {text:?}");
    }
}
