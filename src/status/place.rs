//! Where a tend keeps its status file (and the control socket beside it), and how the
//! readers (`tend health`, `tend status`, `tend stop`...) find the running tend's.
//!
//! Writer: the default place (`/run/tend` or `/dev/shm/tend-UID`, see `candidates`) is
//! claimed with a lock on the directory, held for tend's life. When another live tend
//! holds it, this one uses `DIR/PID/` inside it instead, and says so: two tends of one
//! user on one host never share or overwrite each other's files.
//!
//! Readers, without TEND_STATUS_FILE: the tend that is PID 1 of this PID namespace if
//! there is one, else the default place of the caller's uid, else the one live tend
//! found in the default places of any uid; `--pid PID` names another. Only directories
//! owned by the uid tend runs as (or root) and writable by nobody else are read.

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{candidates_for, process_start_ticks, read, writer_alive, Snapshot, State};
use crate::emit;
use crate::events::Event;

const FILE_NAME: &str = "status.json";

// ---------------------------------------------------------------------------------------
// Policy (pure)

/// Where `pid`'s own place is, inside a default place that another tend holds.
pub fn per_pid(default: &Path, pid: u32) -> Option<PathBuf> {
    Some(default.parent()?.join(pid.to_string()).join(FILE_NAME))
}

/// The uid a default directory's name stands for: `tend-UID`; `/run/tend` (shared by
/// every uid) stands for its owner.
pub fn name_uid(dir: &Path, owner: u32) -> Option<u32> {
    let name = dir.file_name()?.to_str()?;
    if name == "tend" {
        return Some(owner);
    }
    name.strip_prefix("tend-")?.parse().ok()
}

/// A status file found while scanning every uid's default place is accepted only when its
/// directory is trusted for the uid in its name and the live process it names runs as
/// that uid: a file planted by another user names either nobody alive or the planter.
pub fn scanned_acceptable(
    dir_trusted: bool,
    named_uid: Option<u32>,
    writer_alive: bool,
    writer_uid: Option<u32>,
) -> bool {
    dir_trusted && writer_alive && named_uid.is_some() && writer_uid == named_uid
}

/// What the readers settle on, in order: PID 1's tend; the caller's default place while
/// its tend lives; the single live tend in any uid's default place (several are
/// ambiguous: never guess); the caller's default place even if its tend is gone (to
/// report its last state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<T> {
    Found(T),
    Several(Vec<T>),
    None,
}

pub fn choose<T>(
    pid1: Option<T>,
    own_live: Option<T>,
    mut scanned: Vec<T>,
    own_gone: Option<T>,
) -> Choice<T> {
    if let Some(found) = pid1.or(own_live) {
        return Choice::Found(found);
    }
    match scanned.len() {
        0 => own_gone.map_or(Choice::None, Choice::Found),
        1 => Choice::Found(scanned.remove(0)),
        _ => Choice::Several(scanned),
    }
}

/// The uids a socket's owner and its listener may have: root, the caller, and the uid
/// tend runs as when a trusted status file says so.
pub fn allowed_uids(caller: u32, tend: Option<u32>) -> Vec<u32> {
    let mut uids = vec![0, caller];
    uids.extend(tend);
    uids.sort_unstable();
    uids.dedup();
    uids
}

// ---------------------------------------------------------------------------------------
// The writer's side

/// The default place chosen for this process, once: both writers of the snapshot (before
/// the gate and in the supervisor) must agree, and the directory lock is held for life.
pub fn chosen_default() -> Option<PathBuf> {
    static CHOSEN: OnceLock<Option<PathBuf>> = OnceLock::new();
    CHOSEN.get_or_init(choose_default).clone()
}

fn choose_default() -> Option<PathBuf> {
    for default in super::candidates() {
        if !(super::prepare(&default) && super::trusted_dir(&default)) {
            continue;
        }
        let Some(holder) = holder(&default) else {
            return Some(default);
        };
        let own = per_pid(&default, std::process::id())?;
        if super::prepare(&own) && super::trusted_dir(&own) && claim(&own) {
            let pid = std::process::id();
            emit!(info, Event::StatusPlace, path = %own.display(), default = %default.display(),
                holder = %holder, "the default status place {} belongs to {holder}: this tend \
                 (pid {pid}) writes {} and its control socket beside it; name it with \
                 `tend health --pid {pid}`, `tend status --pid {pid}` or TEND_STATUS_FILE",
                parent(&default), own.display());
            return Some(own);
        }
    }
    None
}

fn parent(path: &Path) -> String {
    path.parent().unwrap_or(path).display().to_string()
}

/// Who holds the place of `status` other than this process, if anybody: the tend that
/// locked its directory, or (a tend without the lock) a live tend its file names.
fn holder(status: &Path) -> Option<String> {
    let named = read(status).ok().filter(|s| {
        s.pid != std::process::id()
            && !matches!(s.state, State::Stopped | State::Failed)
            && writer_alive(s)
    });
    if !claim(status) {
        return Some(match named {
            Some(s) => format!("a running tend (pid {})", s.pid),
            None => "a running tend".to_owned(),
        });
    }
    named.map(|s| format!("a running tend (pid {})", s.pid))
}

/// Locks the directory of `status` for this process's life (flock on the directory, no
/// file created; released by the kernel when tend exits). False when another process
/// holds it; a directory that cannot be opened or locked is not contested.
fn claim(status: &Path) -> bool {
    static HELD: std::sync::Mutex<Vec<fs::File>> = std::sync::Mutex::new(Vec::new());
    let Some(dir) = status.parent() else {
        return false;
    };
    let Ok(file) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
    else {
        return true;
    };
    // flock(LOCK_EX | LOCK_NB): never blocks.
    match file.try_lock() {
        Ok(()) => {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
            true
        }
        Err(fs::TryLockError::WouldBlock) => false,
        Err(fs::TryLockError::Error(_)) => true,
    }
}

// ---------------------------------------------------------------------------------------
// The readers' side

/// Reads a status file for a reader: never through a symlink, never blocking (a FIFO
/// planted in a place of another uid must not hang a root healthcheck), a regular file
/// only, at most 1 MiB.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    }
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file (a status file is one)",
        ));
    }
    let mut text = String::new();
    file.take(1 << 20).read_to_string(&mut text)?;
    Ok(text)
}

/// Which tend a reader asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// "The" tend: TEND_STATUS_FILE, else the lookup described above.
    The,
    /// `--pid PID`.
    Pid(u32),
}

/// A status file a reader settled on.
#[derive(Debug, Clone)]
pub struct Located {
    pub path: PathBuf,
    /// The uid tend runs as, when the file sits in a directory trusted for it (the file's
    /// owner): a client may trust a control socket owned by that uid.
    pub uid: Option<u32>,
}

/// Where the status file of the asked-for tend is, or why none was chosen.
pub fn locate(target: Target) -> Result<Located, String> {
    match (target, crate::config::path_var("TEND_STATUS_FILE")) {
        (Target::The, Some(path)) => Ok(Located {
            uid: trusted_owner(&path),
            path,
        }),
        (Target::Pid(pid), _) => of_pid(pid),
        (Target::The, None) => the(),
    }
}

/// The owner of `file` when its directory is trusted for that owner.
fn trusted_owner(file: &Path) -> Option<u32> {
    let meta = fs::symlink_metadata(file).ok()?;
    let dir = fs::symlink_metadata(file.parent()?).ok()?;
    crate::fsafe::dir_trusted_for(dir.is_dir(), dir.uid(), dir.mode(), meta.uid())
        .then_some(meta.uid())
}

/// The effective uid of a process (/proc/PID/status), when it can be read.
pub fn process_uid(pid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn own_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The uids whose places may hold `pid`'s status: its own uid, the caller's, root's.
fn uids_of(pid: u32) -> Vec<u32> {
    let mut uids: Vec<u32> = process_uid(pid).into_iter().collect();
    for uid in [own_uid(), 0] {
        if !uids.contains(&uid) {
            uids.push(uid);
        }
    }
    uids
}

/// The status file of the tend with this pid: in a default place of its uid (or the
/// caller's, or root's), as the default file or in the per-pid place.
fn find_pid(pid: u32) -> Option<Located> {
    for uid in uids_of(pid) {
        for default in candidates_for(uid) {
            let Some(dir) = default.parent() else {
                continue;
            };
            if !crate::fsafe::dir_trusted(dir, uid) {
                continue;
            }
            if read(&default).is_ok_and(|s| s.pid == pid) {
                return Some(Located {
                    uid: trusted_owner(&default),
                    path: default,
                });
            }
            let Some(own) = per_pid(&default, pid) else {
                continue;
            };
            if own
                .parent()
                .is_some_and(|d| crate::fsafe::dir_trusted(d, uid))
                && own.exists()
            {
                return Some(Located {
                    uid: trusted_owner(&own),
                    path: own,
                });
            }
        }
    }
    None
}

fn of_pid(pid: u32) -> Result<Located, String> {
    find_pid(pid).ok_or_else(|| {
        format!(
            "no status file of a tend with pid {pid} found (looked in the default places of \
             uid(s) {}, and in their {pid}/ directories); is pid {pid} a tend? Name its file \
             with TEND_STATUS_FILE",
            uids_of(pid)
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn the() -> Result<Located, String> {
    // PID 1's tend only when its file is live: a file saying pid 1 may be left by an
    // earlier container, or be another namespace's.
    let pid1 = find_pid(1).filter(|l| read(&l.path).is_ok_and(|s| s.pid == 1 && writer_alive(&s)));
    let own = || {
        let uid = own_uid();
        candidates_for(uid)
            .into_iter()
            .filter(|p| {
                p.parent()
                    .is_some_and(|d| crate::fsafe::dir_trusted(d, uid))
            })
            .find(|p| fs::symlink_metadata(p).is_ok())
            .map(|path| Located {
                uid: trusted_owner(&path),
                path,
            })
    };
    let (mut own_live, mut own_gone) = (None, None);
    if pid1.is_none() {
        match own() {
            Some(own) if read(&own.path).is_ok_and(|s| writer_alive(&s)) => own_live = Some(own),
            other => own_gone = other,
        }
    }
    let scanned = if pid1.is_none() && own_live.is_none() {
        scan()
    } else {
        Vec::new()
    };
    match choose(pid1, own_live, scanned, own_gone) {
        Choice::Found(found) => Ok(found),
        Choice::Several(all) => Err(format!(
            "several tends run here ({}): name one with --pid PID or TEND_STATUS_FILE",
            all.iter()
                .map(|l| {
                    let pid = read(&l.path).map_or(0, |s| s.pid);
                    format!("pid {pid}: {}", l.path.display())
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
        Choice::None => Err(format!(
            "no status file found (looked in {} and every user's tend-UID directory there); \
             is tend running here? Name a tend with --pid PID or TEND_STATUS_FILE",
            candidates_for(own_uid())
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The live tends in the default places of every uid (`tend health` as root, tend as
/// the image's USER; or the other way round).
fn scan() -> Vec<Located> {
    let mut roots: Vec<PathBuf> = vec!["/dev/shm".into(), std::env::temp_dir(), "/tmp".into()];
    roots.dedup();
    let mut dirs = vec![PathBuf::from("/run/tend")];
    for root in roots {
        let Ok(entries) = fs::read_dir(&root) else {
            continue;
        };
        dirs.extend(
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.starts_with("tend-"))
                })
                .map(|e| e.path()),
        );
    }
    dirs.sort();
    dirs.dedup();
    dirs.into_iter().filter_map(|dir| scanned(&dir)).collect()
}

fn scanned(dir: &Path) -> Option<Located> {
    let meta = fs::symlink_metadata(dir).ok()?;
    let uid = name_uid(dir, meta.uid());
    let trusted = uid
        .is_some_and(|u| crate::fsafe::dir_trusted_for(meta.is_dir(), meta.uid(), meta.mode(), u));
    if !trusted {
        return None;
    }
    let path = dir.join(FILE_NAME);
    let snapshot: Snapshot = read(&path).ok()?;
    let alive = snapshot.pid_start_ticks.is_some()
        && process_start_ticks(snapshot.pid) == snapshot.pid_start_ticks;
    scanned_acceptable(trusted, uid, alive, process_uid(snapshot.pid)).then_some(Located {
        uid: trusted_owner(&path),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn per_pid_places_sit_inside_the_default_one() {
        assert_eq!(
            per_pid(Path::new("/dev/shm/tend-0/status.json"), 42),
            Some(PathBuf::from("/dev/shm/tend-0/42/status.json"))
        );
        assert_eq!(name_uid(Path::new("/dev/shm/tend-101"), 0), Some(101));
        assert_eq!(name_uid(Path::new("/run/tend"), 7), Some(7));
        assert_eq!(name_uid(Path::new("/dev/shm/tend-x"), 0), None);
        assert_eq!(name_uid(Path::new("/dev/shm/other"), 0), None);
    }

    #[test]
    fn readers_prefer_pid_1_then_their_own_place_and_never_guess() {
        assert_eq!(choose(Some(1), Some(2), vec![3], Some(5)), Choice::Found(1));
        assert_eq!(choose(None, Some(2), vec![3, 4], None), Choice::Found(2));
        assert_eq!(choose(None, None, vec![3], Some(5)), Choice::Found(3));
        assert_eq!(
            choose(None, None, vec![3, 4], Some(5)),
            Choice::Several(vec![3, 4])
        );
        assert_eq!(choose(None, None, vec![], Some(5)), Choice::Found(5));
        assert_eq!(choose::<u8>(None, None, vec![], None), Choice::None);
    }

    proptest! {
        /// A directory others can write, or owned by a third uid, is never trusted.
        #[test]
        fn trusted_dirs_are_owned_by_the_uid_or_root_and_closed(
            is_dir: bool, owner in 0u32..4, mode in 0u32..0o10000, uid in 0u32..4,
        ) {
            let trusted = crate::fsafe::dir_trusted_for(is_dir, owner, mode, uid);
            if mode & 0o022 != 0 || !is_dir || (owner != uid && owner != 0) {
                prop_assert!(!trusted);
            } else {
                prop_assert!(trusted);
            }
        }

        /// A scanned file is read only from a trusted place and only for a live writer
        /// that runs as the place's uid.
        #[test]
        fn a_scanned_file_needs_its_own_uids_live_writer(
            trusted: bool, named in proptest::option::of(0u32..4), alive: bool,
            writer in proptest::option::of(0u32..4),
        ) {
            let ok = scanned_acceptable(trusted, named, alive, writer);
            prop_assert_eq!(ok, trusted && alive && named.is_some() && named == writer);
        }

        /// A socket is trusted only when owned by root, the caller or tend's own uid.
        #[test]
        fn allowed_socket_owners(caller in 0u32..5, tend in proptest::option::of(0u32..5), owner in 0u32..5) {
            let allowed = allowed_uids(caller, tend).contains(&owner);
            prop_assert_eq!(allowed, owner == 0 || owner == caller || Some(owner) == tend);
        }
    }
}
