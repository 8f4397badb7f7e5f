//! The status snapshot: what `tend health` and `tend status` read. Written atomically
//! (temp file + rename) on every change of state, so readers never see half a file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

mod json;
pub mod place;
mod table;

use crate::emit;
use crate::events::{rfc3339_millis, Event};
use crate::fsafe;
use crate::policy::Health;
use crate::process::Exit;

pub const DEFAULT_PATH: &str = "/run/tend/status.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Initializing,
    Starting,
    Running,
    Restarting,
    Draining,
    Stopping,
    Stopped,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastExit {
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub state: State,
    /// tend's own pid and its start time in clock ticks: together they tell a live
    /// supervisor from a stale file whose pid has been reused.
    pub pid: u32,
    pub pid_start_ticks: Option<u64>,
    pub child_pid: Option<i32>,
    pub started_at: String,
    /// `started_at` in milliseconds since the epoch, for `tend status`'s uptime.
    #[serde(default)]
    pub started_unix_ms: u64,
    pub updated_at: String,
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    /// Whether a health check is configured: without one, `running` alone means ready.
    #[serde(default)]
    pub health_check: bool,
    #[serde(default)]
    pub health: Health,
    #[serde(default)]
    pub consecutive_failures: u32,
    #[serde(default)]
    pub last_check_at: Option<String>,
    /// The last failed check's reason, redacted; cleared by a pass.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_check_duration_ms: Option<u64>,
    #[serde(default)]
    pub checks_passed: u64,
    #[serde(default)]
    pub checks_failed: u64,
    /// The services (TEND_SERVICE_<NAME>), sorted by name; absent from the JSON without
    /// any, so that a run without services writes what it always wrote.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceStatus>,
}

/// One service as the status file, `tend status`, `/status` and the report show it. Its
/// `state` uses the main command's words: `initializing` until it may start (its
/// dependencies), `stopped` once it ended without a fault (a one-shot that completed, a
/// service tend stopped, one kept from starting: `reason` says which), `failed` when it
/// ended on a fault (it could not start, a one-shot failed, restarts exhausted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: State,
    pub pid: Option<i32>,
    pub oneshot: bool,
    pub restarts: u32,
    pub last_exit: Option<LastExit>,
    pub health_check: bool,
    pub health: Health,
    pub consecutive_failures: u32,
    /// Why it is `stopped` or `failed`: `completed`, `stopped`, `blocked by migrate`, …
    pub reason: Option<String>,
}

/// A service in `state` with nothing else to tell, for the tests of what shows services.
#[cfg(test)]
impl ServiceStatus {
    pub fn plain(name: &str, state: State) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            state,
            pid: None,
            oneshot: false,
            restarts: 0,
            last_exit: None,
            health_check: false,
            health: Health::Unknown,
            consecutive_failures: 0,
            reason: None,
        }
    }
}

impl State {
    /// The state's word, as in the status file (serde's `snake_case` name).
    pub fn name(self) -> &'static str {
        match self {
            State::Initializing => "initializing",
            State::Starting => "starting",
            State::Running => "running",
            State::Restarting => "restarting",
            State::Draining => "draining",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }

    /// Every state, in lifecycle order.
    pub const ALL: [State; 8] = [
        State::Initializing,
        State::Starting,
        State::Running,
        State::Restarting,
        State::Draining,
        State::Stopping,
        State::Stopped,
        State::Failed,
    ];
}

impl Snapshot {
    pub fn new() -> Self {
        let now = rfc3339_millis(SystemTime::now());
        let pid = std::process::id();
        Snapshot {
            state: State::Initializing,
            pid,
            // Filled in by the first write (`with_start_ticks`): reading /proc is not
            // worth delaying the child for, and nobody reads the snapshot before then.
            pid_start_ticks: None,
            child_pid: None,
            started_at: now.clone(),
            started_unix_ms: unix_ms(SystemTime::now()),
            updated_at: now,
            restarts: 0,
            last_exit: None,
            health_check: false,
            health: Health::Unknown,
            consecutive_failures: 0,
            last_check_at: None,
            last_error: None,
            last_check_duration_ms: None,
            checks_passed: 0,
            checks_failed: 0,
            services: Vec::new(),
        }
    }

    /// Records tend's own start time, read once (see `pid_start_ticks`).
    pub fn with_start_ticks(&mut self) -> &mut Self {
        if self.pid_start_ticks.is_none() {
            self.pid_start_ticks = own_start_ticks();
        }
        self
    }

    /// Keeps `exit`, seen at `at`, as the last exit.
    pub fn record_exit_at(&mut self, exit: Exit, at: SystemTime) {
        self.last_exit = Some(LastExit {
            exit_code: exit.code(),
            signal: exit.signal(),
            at: rfc3339_millis(at),
        });
    }
}

pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What `tend status` prints for a status file's text, given whether the snapshot's
/// writer is still running (`writer_alive`).
#[derive(Debug, PartialEq)]
pub enum Shown {
    /// The file's JSON plus `uptime_seconds` while tend runs (the file itself is not
    /// rewritten just to advance a clock); a `stopped` or `failed` file is shown as is.
    Current(String),
    /// The file's JSON with `"stale": true`, no uptime, and why (tend exits 1).
    Stale(String, String),
}

/// How `tend status` shows the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The file's JSON document (as described by `Shown`).
    Json,
    /// `tend status --table`: a line for the main command, then one per service.
    Table,
}

/// Reads a status file's text for `tend status`; Err says what is wrong with it.
pub fn shown(
    text: &str,
    alive: impl FnOnce(&Snapshot) -> bool,
    format: Format,
) -> Result<Shown, String> {
    if text.trim().is_empty() {
        return Err("is empty, not a status snapshot".into());
    }
    let snapshot: Snapshot = serde_json::from_str(text)
        .map_err(|e| format!("is not a status snapshot (a JSON object as tend writes it): {e}"))?;
    let mut value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| format!("is not a status snapshot (a JSON object as tend writes it): {e}"))?;
    let Some(object) = value.as_object_mut() else {
        return Err("is not a status snapshot (a JSON object as tend writes it)".into());
    };
    let finished = matches!(snapshot.state, State::Stopped | State::Failed);
    if finished {
        return Ok(Shown::Current(render(&value, &snapshot, format)));
    }
    if !alive(&snapshot) {
        object.insert("stale".into(), true.into());
        let state = serde_json::to_value(snapshot.state).unwrap_or_default();
        let reason = format!(
            "is stale: tend (pid {}) is gone, yet the file says state {}",
            snapshot.pid,
            state.as_str().unwrap_or("?")
        );
        return Ok(Shown::Stale(render(&value, &snapshot, format), reason));
    }
    if snapshot.started_unix_ms > 0 {
        let uptime =
            unix_ms(SystemTime::now()).saturating_sub(snapshot.started_unix_ms) as f64 / 1000.0;
        object.insert("uptime_seconds".into(), uptime.into());
    }
    Ok(Shown::Current(render(&value, &snapshot, format)))
}

fn render(value: &serde_json::Value, snapshot: &Snapshot, format: Format) -> String {
    match format {
        Format::Json => format!("{value}\n"),
        Format::Table => table::render(snapshot),
    }
}

/// The snapshot's writer is still running: its pid exists and, since pids are reused,
/// started at the recorded time.
pub fn writer_alive(snapshot: &Snapshot) -> bool {
    let now = process_start_ticks(snapshot.pid);
    match snapshot.pid_start_ticks {
        Some(recorded) => now == Some(recorded),
        // Without a recorded start time the pid alone has to do.
        None => Path::new(&format!("/proc/{}", snapshot.pid)).exists(),
    }
}

/// The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat).
/// tend's own start time, read once: it cannot change, and every snapshot carries it.
fn own_start_ticks() -> Option<u64> {
    static TICKS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| process_start_ticks(std::process::id()))
}

pub fn process_start_ticks(pid: u32) -> Option<u64> {
    // One read into a buffer: /proc builds the whole file for each read, and
    // read_to_string reads in growing pieces (six reads for a 300-byte file).
    let mut buf = [0u8; 2048];
    let n = std::io::Read::read(
        &mut fs::File::open(format!("/proc/{pid}/stat")).ok()?,
        &mut buf,
    )
    .ok()?;
    let stat = std::str::from_utf8(&buf[..n]).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The file the snapshot goes to, chosen once at start-up.
pub struct StatusFile {
    path: Option<PathBuf>,
    reported_failure: bool,
    /// The temporary file for the next write, made (and given its mode) right after the
    /// previous write: creating a file on tmpfs is a third of a write's cost, and the
    /// write at exit, on the path from the child's exit to tend's, then skips it.
    spare: Option<Spare>,
}

impl StatusFile {
    /// Uses the configured path as given, or the default with fallbacks for read-only
    /// root filesystems (`/dev/shm` is writable under `docker run --read-only`) and
    /// unprivileged users.
    pub fn open(configured: Option<&Path>) -> Self {
        let path = match configured {
            Some(path) => match special_file(path) {
                None => Some(path.to_path_buf()),
                Some(kind) => {
                    emit!(warn, Event::StatusWriteFailed, path = %path.display(), error = kind,
                        "TEND_STATUS_FILE={} is {kind}: expected a regular file or a new path; \
                         tend does not replace it, and writes no status file",
                        path.display());
                    return StatusFile {
                        path: None,
                        reported_failure: true,
                        spare: None,
                    };
                }
            },
            None => place::chosen_default(),
        };
        if let Some(path) = &path {
            if configured.is_some() {
                prepare(path);
            }
        } else {
            emit!(
                warn,
                Event::StatusWriteFailed,
                path = DEFAULT_PATH,
                "no writable place for the status file; `tend health` will report unknown"
            );
        }
        StatusFile {
            path,
            reported_failure: false,
            spare: None,
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes the snapshot; the first failure is reported, later ones are not, so a full
    /// disk does not turn into a log flood.
    pub fn write(&mut self, snapshot: &Snapshot) {
        let Some(path) = &self.path else { return };
        // `updated_at` is stamped by whoever publishes the snapshot (the supervisor).
        match write_atomically(path, snapshot, self.spare.take()) {
            Ok(()) => {
                self.reported_failure = false;
                // After the last state there is no next write to prepare for.
                if !matches!(snapshot.state, State::Stopped | State::Failed) {
                    self.spare = create_temporary(path).ok();
                }
            }
            Err(error) if !self.reported_failure => {
                self.reported_failure = true;
                emit!(warn, Event::StatusWriteFailed, path = %path.display(), error = %error,
                    "cannot write the status file {}: {error}", path.display());
            }
            Err(_) => {}
        }
    }
}

/// What `path` is when it is something a rename must not replace: a device (someone set
/// TEND_STATUS_FILE=/dev/null to turn the file off, and would lose /dev/null), a pipe,
/// a socket or a directory. None for a regular file, a symlink (the rename replaces the
/// link, not its target) or nothing at all.
fn special_file(path: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let kind = fs::symlink_metadata(path).ok()?.file_type();
    if kind.is_char_device() {
        Some("a character device")
    } else if kind.is_block_device() {
        Some("a block device")
    } else if kind.is_fifo() {
        Some("a named pipe")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_dir() {
        Some("a directory")
    } else {
        None
    }
}

/// Where the status file may live, in order; `tend health` looks in the same places.
/// The snapshot is rewritten at every health check, so it belongs in memory: /run when
/// /run is a tmpfs, else /dev/shm first (Docker's /run is part of the container's
/// writable layer, where each rewrite is a copy-up and a rename on disk).
pub fn candidates() -> Vec<PathBuf> {
    candidates_for(nix::unistd::getuid().as_raw())
}

/// The default places of a tend running as `uid`, in the order that tend tries them.
pub fn candidates_for(uid: u32) -> Vec<PathBuf> {
    let run = PathBuf::from(DEFAULT_PATH);
    let shm = PathBuf::from(format!("/dev/shm/tend-{uid}/status.json"));
    let tmp = std::env::temp_dir().join(format!("tend-{uid}/status.json"));
    if !is_tmpfs("/run") && is_tmpfs("/dev/shm") {
        vec![shm, run, tmp]
    } else {
        vec![run, shm, tmp]
    }
}

fn is_tmpfs(path: &str) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

/// The status file's directory is a real directory, owned by us or root, that nobody
/// else can write to.
fn trusted_dir(path: &Path) -> bool {
    let uid = nix::unistd::geteuid().as_raw();
    path.parent()
        .is_some_and(|dir| crate::fsafe::dir_trusted(dir, uid))
}

fn prepare(path: &Path) -> bool {
    let Some(dir) = path.parent() else {
        return false;
    };
    // Made component by component, never through a symlink someone else could plant
    // (crate::fsafe), 0755: a 0777 directory of our own would not be trusted.
    if crate::fsafe::walk(dir, Some(0o755), false).is_err() {
        return false;
    }
    // access(2) also answers EROFS for a read-only mount, without creating anything.
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The temporary file for the next write, and the directory it was made in.
pub struct Spare {
    dir: fsafe::Dir,
    name: std::ffi::OsString,
    file: fs::File,
}

/// Writes the snapshot into a temporary file (`spare`, or a new one) and renames it over
/// `path`, so that readers see the old file or the new one, never half of one. The
/// directory is opened afresh each time without following a symlink someone else may
/// have planted (the child may swap the status directory for a link to another one).
fn write_atomically(path: &Path, snapshot: &Snapshot, spare: Option<Spare>) -> std::io::Result<()> {
    let mut text = snapshot.to_json();
    text.push('\n');
    let bytes = text.into_bytes();
    let mut spare = match spare {
        Some(spare) if same_place(&spare, path) && still_ours(&spare, &spare.dir) => spare,
        spare => {
            let (dir, name) = fsafe::parent_of(path, None)?;
            match spare.filter(|s| still_ours(s, &dir)) {
                Some(spare) => spare,
                None => create_in(dir, &name)?,
            }
        }
    };
    let name = path.file_name().unwrap_or_default();
    fsafe::check_replaceable(&spare.dir, name, path)?;
    let written = spare
        .file
        .write_all(&bytes)
        .and_then(|()| spare.dir.rename(&spare.name, name));
    if written.is_err() {
        let _ = spare.dir.unlink(&spare.name);
    }
    written
}

/// The status file's directory is still the one the spare was made in (one `lstat`
/// instead of a walk from `/`: half of the system calls of tend's exit).
fn same_place(spare: &Spare, path: &Path) -> bool {
    path.parent().is_some_and(|dir| spare.dir.still_at(dir))
}

/// The spare is in the directory just opened and still the file we made. A spare left
/// in a directory that is no longer the status file's is removed from it.
fn still_ours(spare: &Spare, dir: &fsafe::Dir) -> bool {
    use nix::sys::stat::{fstat, FileStat};
    use std::os::fd::AsRawFd;
    let same = |a: &FileStat, b: &FileStat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    let Ok(mine) = fstat(spare.file.as_raw_fd()) else {
        return false;
    };
    let ours_in = |d: &fsafe::Dir| d.stat_of(&spare.name).is_ok_and(|s| same(&s, &mine));
    match (spare.dir.stat(), dir.stat()) {
        (Ok(old), Ok(new)) if same(&old, &new) => ours_in(dir),
        _ => {
            if ours_in(&spare.dir) {
                let _ = spare.dir.unlink(&spare.name);
            }
            false
        }
    }
}

/// A new, empty temporary file beside `path`, made by us alone (O_EXCL, an unpredictable
/// name), 0644 whatever the umask: readers may be another user.
fn create_temporary(path: &Path) -> std::io::Result<Spare> {
    let (dir, name) = fsafe::parent_of(path, None)?;
    create_in(dir, &name)
}

fn create_in(dir: fsafe::Dir, name: &std::ffi::OsStr) -> std::io::Result<Spare> {
    let (file, name) = dir.create_temp(name, 0o644)?;
    Ok(Spare { dir, name, file })
}

/// Reads the snapshot at `path`.
pub fn read(path: &Path) -> std::io::Result<Snapshot> {
    let text = place::read_text(path)?;
    serde_json::from_str(&text).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(state: &str) -> String {
        let mut snapshot = Snapshot::new();
        snapshot.state = serde_json::from_value(state.into()).expect("a state");
        snapshot.to_json()
    }

    fn value(document: &str) -> serde_json::Value {
        serde_json::from_str(document).expect("JSON")
    }

    #[test]
    fn a_live_file_gets_its_uptime() {
        let Ok(Shown::Current(doc)) = shown(&file("running"), |_| true, Format::Json) else {
            panic!("not current")
        };
        assert!(value(&doc)["uptime_seconds"].is_number(), "{doc}");
        assert!(value(&doc).get("stale").is_none(), "{doc}");
    }

    #[test]
    fn a_file_whose_writer_is_gone_is_stale() {
        let Ok(Shown::Stale(doc, reason)) = shown(&file("running"), |_| false, Format::Json) else {
            panic!("not stale")
        };
        assert_eq!(value(&doc)["stale"], true);
        assert!(value(&doc).get("uptime_seconds").is_none(), "{doc}");
        assert!(
            reason.contains("stale") && reason.contains("running"),
            "{reason}"
        );
    }

    #[test]
    fn a_final_file_is_shown_as_it_is() {
        for state in ["stopped", "failed"] {
            let Ok(Shown::Current(doc)) = shown(&file(state), |_| false, Format::Json) else {
                panic!("{state}: not current")
            };
            assert_eq!(value(&doc)["state"], state);
            assert!(value(&doc).get("uptime_seconds").is_none(), "{doc}");
        }
    }

    #[test]
    fn garbage_is_refused_with_what_is_wrong() {
        for (text, hint) in [
            ("", "empty"),
            (" \n", "empty"),
            ("garbage{", "not a status snapshot"),
            ("[1, 2]", "not a status snapshot"),
            ("{\"state\":\"running\"}", "not a status snapshot"),
        ] {
            let error = shown(text, |_| true, Format::Json).expect_err(text);
            assert!(error.contains(hint), "{text:?}: {error}");
        }
    }

    #[test]
    fn services_are_in_the_json_as_the_file_has_them() {
        let mut snapshot = Snapshot::new();
        snapshot.state = State::Running;
        snapshot.services.push(ServiceStatus {
            name: "web".into(),
            state: State::Running,
            pid: Some(12),
            oneshot: false,
            restarts: 1,
            last_exit: None,
            health_check: true,
            health: Health::Healthy,
            consecutive_failures: 0,
            reason: None,
        });
        let Ok(Shown::Current(doc)) = shown(&snapshot.to_json(), |_| true, Format::Json) else {
            panic!("not current")
        };
        let services = &value(&doc)["services"];
        assert_eq!(services[0]["name"], "web");
        assert_eq!(services[0]["pid"], 12);
        assert_eq!(services[0]["health"], "healthy");
        // Without services there is no such key, as before services existed.
        let Ok(Shown::Current(doc)) = shown(&file("running"), |_| true, Format::Json) else {
            panic!("not current")
        };
        assert!(value(&doc).get("services").is_none(), "{doc}");
    }

    #[test]
    fn the_table_follows_the_same_rules() {
        let Ok(Shown::Stale(table, reason)) = shown(&file("running"), |_| false, Format::Table)
        else {
            panic!("not stale")
        };
        assert!(table.starts_with("NAME "), "{table}");
        assert!(reason.contains("stale"), "{reason}");
        let Ok(Shown::Current(table)) = shown(&file("stopped"), |_| false, Format::Table) else {
            panic!("not current")
        };
        assert!(
            table.lines().nth(1).is_some_and(|l| l.contains("stopped")),
            "{table}"
        );
    }
}
