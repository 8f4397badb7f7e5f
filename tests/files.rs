//! Files and directories tend creates as root (TEND_ENSURE_DIRS, the lifecycle report, the
//! status file) may sit where the child can write: nothing planted there (a symlink, a
//! named pipe, a device, another user's file) is written through, replaced, waited on or
//! adopted. The temporary names are unpredictable now, so the "planted temporary" cases
//! plant at every name the old code used; `fsafe`'s unit tests show that a file planted at
//! the chosen name makes it pick another.

mod common;

use std::os::unix::fs::{chown, symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().expect("UTF-8")).expect("path");
    // Safety: mkfifo with a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o666) }, 0, "mkfifo");
}

/// A character device with /dev/null's numbers, made in the scratch directory so that a
/// regression replaces this node and not the host's /dev/null.
fn mknull(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().expect("UTF-8")).expect("path");
    // Safety: mknod with a valid C string (the tests run as root).
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod");
}

/// A directory the child owns (uid 65534), as a volume would be.
fn volume(scratch: &Scratch) -> std::path::PathBuf {
    let vol = scratch.path("vol");
    std::fs::create_dir(&vol).expect("vol");
    chown(&vol, Some(65534), Some(65534)).expect("chown vol");
    chmod(&vol, 0o777);
    vol
}

/// A root-only directory with one file in it, outside anything the child may write.
fn secret(scratch: &Scratch) -> std::path::PathBuf {
    let secret = scratch.path("secret");
    std::fs::create_dir(&secret).expect("secret");
    std::fs::write(secret.join("victim"), "victim\n").expect("victim");
    chmod(&secret, 0o700);
    secret
}

fn messages(t: &Running) -> String {
    t.raw.join("\n")
}

/// Item 1: between two starts the child replaces its ensured directory with a symlink to
/// a root-only directory; tend must not chown (or chmod) the target, and refuses to start.
#[test]
fn an_ensured_directory_replaced_by_a_symlink_is_refused_not_chowned() {
    for mode in MODES {
        let scratch = Scratch::new("ensure-link");
        let vol = volume(&scratch);
        let secret = secret(&scratch);
        let cache = vol.join("cache");
        let env = [
            ("TEND_USER", "65534:65534"),
            ("TEND_ENSURE_DIRS", cache.to_str().expect("UTF-8")),
        ];
        let (code, t) = run(mode, &scratch, &["--", "true"], &env);
        assert_eq!(code, 0, "{mode:?}: first start\n{}", messages(&t));
        assert_eq!(std::fs::metadata(&cache).expect("made").uid(), 65534);

        std::fs::remove_dir(&cache).expect("rmdir");
        symlink(&secret, &cache).expect("plant the link");
        let (code, t) = run(mode, &scratch, &["--", "true"], &env);
        let meta = std::fs::metadata(&secret).expect("secret");
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, 0, 0o700),
            "{mode:?}: the symlink's target was changed"
        );
        assert_eq!(code, 78, "{mode:?}\n{}", messages(&t));
        let refused = t
            .seen
            .iter()
            .find(|e| e["variable"] == "TEND_ENSURE_DIRS")
            .unwrap_or_else(|| panic!("{mode:?}: no event names it\n{}", messages(&t)));
        let message = refused["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("symbolic link") && message.contains(cache.to_str().unwrap()),
            "{mode:?}: {refused}"
        );
        assert!(t.events("child_started").is_empty(), "{mode:?}");
    }
}

/// A symlink at an earlier component of an ensured path, in a directory the child can
/// write, is refused as well: nothing is created in its target.
#[test]
fn an_ensured_path_through_a_planted_symlink_creates_nothing_there() {
    let scratch = Scratch::new("ensure-deep");
    let vol = volume(&scratch);
    let secret = secret(&scratch);
    symlink(&secret, vol.join("data")).expect("plant");
    let target = vol.join("data/sub");
    let env = [
        ("TEND_USER", "65534:65534"),
        ("TEND_ENSURE_DIRS", target.to_str().expect("UTF-8")),
    ];
    let (code, t) = run(Mode::Process, &scratch, &["--", "true"], &env);
    assert_eq!(code, 78, "{}", messages(&t));
    assert!(!secret.join("sub").exists(), "made through the symlink");
}

/// Item 2: symlinks planted at the report's old temporary name, at its final name and as
/// its directory: no file outside is written.
#[test]
fn the_report_is_never_written_through_a_symlink() {
    for mode in MODES {
        let scratch = Scratch::new("report-link");
        let vol = volume(&scratch);
        let secret = secret(&scratch);
        let victim = secret.join("victim");
        let report = vol.join("report.json");
        // Every name the old code wrote first: `path.with_extension("tmp")`.
        symlink(&victim, vol.join("report.tmp")).expect("plant temp");
        let env = [("TEND_REPORT_FILE", report.to_str().expect("UTF-8"))];
        let (code, t) = run(mode, &scratch, &["--", "true"], &env);
        assert_eq!(code, 0, "{mode:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).expect("report"))
                .unwrap_or_else(|e| panic!("{mode:?}: {e}\n{}", messages(&t)));
        assert_eq!(written["exit_code"], 0);
        assert!(std::fs::symlink_metadata(vol.join("report.tmp"))
            .unwrap()
            .file_type()
            .is_symlink());

        // At the final name: refused, the link and its target left alone.
        std::fs::remove_file(&report).unwrap();
        symlink(&victim, &report).expect("plant final");
        let (code, t) = run(mode, &scratch, &["--", "true"], &env);
        assert_eq!(code, 0, "{mode:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "victim\n");
        assert!(std::fs::symlink_metadata(&report)
            .unwrap()
            .file_type()
            .is_symlink());
        let warned = t.events("report_written");
        let message = warned[0]["message"].as_str().unwrap_or_default();
        assert!(
            warned[0]["level"] == "WARN"
                && message.contains("TEND_REPORT_FILE")
                && message.contains("symbolic link"),
            "{mode:?}: {}",
            messages(&t)
        );

        // As its directory.
        symlink(&secret, vol.join("reports")).expect("plant dir");
        let inside = vol.join("reports/report.json");
        let env = [("TEND_REPORT_FILE", inside.to_str().expect("UTF-8"))];
        let (code, t) = run(mode, &scratch, &["--", "true"], &env);
        assert_eq!(code, 0, "{mode:?}");
        let names: Vec<_> = std::fs::read_dir(&secret)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{mode:?}: {}", messages(&t));
    }
}

/// Item 2: a named pipe at the report's old temporary name once hung tend at exit.
#[test]
fn a_pipe_planted_beside_the_report_does_not_hang_tend() {
    for mode in MODES {
        let scratch = Scratch::new("report-fifo");
        let vol = volume(&scratch);
        let report = vol.join("report.json");
        mkfifo(&vol.join("report.tmp"));
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "1000"]);
        cmd.env("TEND_REPORT_FILE", &report);
        let mut t = Running::start(cmd, mode);
        t.wait_event("child_started");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}\n{}", messages(&t));
        assert!(report.is_file(), "{mode:?}: {}", messages(&t));
    }
}

/// Item 2: TEND_REPORT_FILE naming a device or a named pipe leaves it as it is, and the
/// warning names the variable.
#[test]
fn a_report_path_that_is_a_device_or_a_pipe_is_left_alone() {
    for (name, kind) in [("null", "character device"), ("pipe", "named pipe")] {
        let scratch = Scratch::new("report-special");
        let node = scratch.path(name);
        if name == "null" {
            mknull(&node);
        } else {
            mkfifo(&node);
        }
        let env = [("TEND_REPORT_FILE", node.to_str().expect("UTF-8"))];
        let (code, t) = run(Mode::Process, &scratch, &["--", "true"], &env);
        assert_eq!(code, 0);
        let kept = std::fs::symlink_metadata(&node).unwrap().file_type();
        assert!(
            kept.is_char_device() || kept.is_fifo(),
            "{name}: replaced by a {kept:?}"
        );
        let warned = t.events("report_written");
        let message = warned[0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("TEND_REPORT_FILE") && message.contains(kind),
            "{name}: {}",
            messages(&t)
        );
    }
}

/// Item 3: a named pipe at the status file's old temporary name froze tend before
/// `child_started`, and SIGTERM did nothing.
#[test]
fn a_pipe_planted_beside_the_status_file_does_not_freeze_tend() {
    for mode in MODES {
        let scratch = Scratch::new("status-fifo");
        mkfifo(&scratch.path("status.json.tmp"));
        let mut t = Running::start(tend(mode, &scratch, &["--", "sleep", "1000"]), mode);
        t.wait_event("child_started");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}\n{}", messages(&t));
        let status = std::fs::read_to_string(scratch.path("status.json")).expect("status");
        assert!(status.contains("\"stopped\""), "{mode:?}: {status}");
    }
}

/// Item 3: another user's file at the status file's old temporary name, in a shared
/// (sticky) directory, never becomes status.json.
#[test]
fn another_users_file_never_becomes_the_status_file() {
    for mode in MODES {
        let scratch = Scratch::new("status-planted");
        let shared = scratch.path("shared");
        std::fs::create_dir(&shared).unwrap();
        chmod(&shared, 0o1777);
        let status = shared.join("status.json");
        let planted = shared.join("status.json.tmp");
        std::fs::write(&planted, "{\"state\":\"running\"}\n").unwrap();
        chown(&planted, Some(65534), Some(65534)).unwrap();
        chmod(&planted, 0o666);
        let mut cmd = tend(mode, &scratch, &["--", "true"]);
        cmd.env("TEND_STATUS_FILE", &status);
        let mut t = Running::start(cmd, mode);
        assert_eq!(t.wait_exit(), 0, "{mode:?}");
        let meta = std::fs::symlink_metadata(&status).expect("status written");
        assert_eq!(
            meta.uid(),
            0,
            "{mode:?}: status.json belongs to the planter"
        );
        assert_eq!(meta.mode() & 0o777, 0o644, "{mode:?}");
        assert_eq!(
            std::fs::read_to_string(&planted).unwrap(),
            "{\"state\":\"running\"}\n",
            "{mode:?}: the planted file was used"
        );
    }
}

/// Item 2: the child swaps the status file's directory for a symlink to another
/// directory while tend runs: nothing is written there.
#[test]
fn a_status_directory_swapped_for_a_symlink_is_not_written_through() {
    for mode in MODES {
        let scratch = Scratch::new("status-swap");
        let vol = volume(&scratch);
        let secret = secret(&scratch);
        let state = vol.join("state");
        std::fs::create_dir(&state).unwrap();
        let status = state.join("status.json");
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "1000"]);
        cmd.env("TEND_STATUS_FILE", &status);
        let mut t = Running::start(cmd, mode);
        t.wait_event("startup_completed");
        wait_for("the status file", || status.exists());
        std::fs::rename(&state, vol.join("state.old")).unwrap();
        symlink(&secret, &state).unwrap();
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        let names: Vec<_> = std::fs::read_dir(&secret)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{mode:?}: {}", messages(&t));
        let failed = t.events("status_write_failed");
        assert!(
            failed
                .first()
                .and_then(|e| e["message"].as_str())
                .is_some_and(|m| m.contains("symbolic link")),
            "{mode:?}: {}",
            messages(&t)
        );
    }
}

/// The status file's missing directories are made component by component: a symlink the
/// child planted on the way (in its volume) is not followed, so nothing is made in the
/// root-only directory it points to.
#[test]
fn the_status_directory_is_never_made_through_a_planted_symlink() {
    for mode in MODES {
        let scratch = Scratch::new("status-mkdir");
        let vol = volume(&scratch);
        let secret = secret(&scratch);
        symlink(&secret, vol.join("run")).expect("plant");
        let status = vol.join("run/tend/status.json");
        let mut cmd = tend(mode, &scratch, &["--", "sleep", "1000"]);
        cmd.env("TEND_STATUS_FILE", &status);
        let mut t = Running::start(cmd, mode);
        t.wait_event("child_started");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143, "{mode:?}");
        assert!(
            !secret.join("tend").exists(),
            "{mode:?}: made through the symlink"
        );
    }
}

/// The control socket's directory reached through a symlink the child planted is refused
/// (a root-only target passes the directory's ownership check if the link is followed);
/// a stale socket of another user is not unlinked.
#[test]
fn the_control_socket_is_never_made_through_a_symlink_or_over_a_foreign_socket() {
    let scratch = Scratch::new("socket");
    let vol = volume(&scratch);
    let secret = secret(&scratch);
    symlink(&secret, vol.join("run")).expect("plant");
    let shared = scratch.path("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let foreign = shared.join("control.sock");
    drop(std::os::unix::net::UnixListener::bind(&foreign).expect("bind"));
    chown(&foreign, Some(65534), Some(65534)).unwrap();
    for (socket, expected) in [
        (vol.join("run/control.sock"), "symbolic link"),
        (foreign.clone(), "owned by uid 65534"),
    ] {
        let mut cmd = tend(Mode::Process, &scratch, &["--", "sleep", "1000"]);
        cmd.env("TEND_CONTROL_SOCKET", &socket);
        let mut t = Running::start(cmd, Mode::Process);
        let failed = t.wait_event("control_failed");
        t.signal(libc::SIGTERM);
        assert_eq!(t.wait_exit(), 143);
        let message = failed["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{}", messages(&t));
    }
    let names: Vec<_> = std::fs::read_dir(&secret)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["victim"]);
    let meta = std::fs::symlink_metadata(&foreign).expect("still there");
    assert!(meta.file_type().is_socket() && meta.uid() == 65534);
}
