//! Creating files and directories as root in places that others may write (a volume the
//! child owns, /tmp, /dev/shm): never through a symlink, never over a device or a pipe,
//! never blocking, and never into a file someone else made first.
//!
//! Paths are walked one component at a time with `openat(O_DIRECTORY|O_NOFOLLOW)` from `/`
//! (or the working directory for a relative path). A symlink is followed only where only
//! root (or tend's own user) could have made it: in a directory owned by one of them that
//! nobody else can write, as /var/run -> /run in a distribution image. Anywhere else it is
//! refused. Files are created fresh (`O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC`)
//! under an unpredictable name, given their mode through the fd, and renamed into place
//! within the same directory fd.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{readlinkat, renameat, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, FileStat, Mode};
use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::sys::fd::openat;

/// As the kernel's own limit on symlinks in one lookup.
const MAX_LINKS: usize = 40;
/// Attempts at a free temporary name before giving up: each is 64 random bits, so a
/// second attempt only happens when someone planted a file at the first.
const TEMP_ATTEMPTS: usize = 16;

/// A path refused or an operation that failed, with the path and what was found there.
#[derive(Debug)]
pub struct Error {
    pub path: PathBuf,
    pub problem: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> io::Error {
        io::Error::other(error.to_string())
    }
}

fn error(path: &Path, problem: impl Into<String>) -> Error {
    Error {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// What sits at a name, without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    File,
    Dir,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

impl Kind {
    pub fn of(stat: &FileStat) -> Kind {
        match stat.st_mode & libc::S_IFMT {
            libc::S_IFREG => Kind::File,
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFCHR => Kind::CharDevice,
            libc::S_IFBLK => Kind::BlockDevice,
            _ => Kind::Socket,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Kind::Missing => "nothing",
            Kind::File => "a regular file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symbolic link",
            Kind::Fifo => "a named pipe",
            Kind::CharDevice => "a character device",
            Kind::BlockDevice => "a block device",
            Kind::Socket => "a socket",
        }
    }
}

/// A directory opened without following untrusted symlinks.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Only root or tend's own user can make entries in it: a symlink found there was put
/// there by one of them.
fn trusted(stat: &FileStat) -> bool {
    dir_trusted_for(
        true,
        stat.st_uid,
        stat.st_mode,
        nix::unistd::geteuid().as_raw(),
    )
}

/// A directory may hold what a process running as `uid` writes or reads back as its
/// own: a real directory (not a symlink), owned by that uid or root, that nobody else
/// can write to. In /dev/shm or /tmp anybody could have made `tend-UID` first. The one
/// rule for the status place (writer and readers), check-config and the walk above.
pub fn dir_trusted_for(is_dir: bool, owner: u32, mode: u32, uid: u32) -> bool {
    is_dir && (owner == uid || owner == 0) && mode & 0o022 == 0
}

/// `dir_trusted_for` of the directory at `dir`, not following a symlink there.
pub fn dir_trusted(dir: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(dir)
        .is_ok_and(|m| dir_trusted_for(m.is_dir(), m.uid(), m.mode(), uid))
}

fn open_flags() -> OFlag {
    OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
}

fn open_root(path: &Path) -> Result<Dir, Error> {
    let start = if path.is_absolute() { "/" } else { "." };
    let fd = openat(None, start, open_flags(), Mode::empty())
        .map_err(|e| error(Path::new(start), format!("cannot open: {e}")))?;
    Ok(Dir {
        fd,
        path: PathBuf::from(start),
    })
}

/// The components still to walk, as names (`..` included, `.` dropped).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Opens the directory at `path`, making missing components with `create` (a mode) when
/// given. A symlink as the last component is followed only when `follow_last` is set;
/// elsewhere only in a trusted directory (see the module's comment).
pub fn walk(path: &Path, create: Option<u32>, follow_last: bool) -> Result<Dir, Error> {
    // Names the path as given, and the component at fault when it is another one.
    walk_components(path, create, follow_last).map_err(|e| match e.path == path {
        true => e,
        false => error(path, format!("{}: {}", e.path.display(), e.problem)),
    })
}

fn walk_components(path: &Path, create: Option<u32>, follow_last: bool) -> Result<Dir, Error> {
    let mut dir = open_root(path)?;
    let mut rest = components(path);
    let mut links = 0;
    while let Some(name) = rest.pop_front() {
        let shown = dir.path.join(&name);
        let last = rest.is_empty();
        match dir.open_child(&name, create) {
            Ok(child) => dir = child,
            Err(Errno::ELOOP) | Err(Errno::ENOTDIR) => {
                let kind = dir
                    .kind_of(&name)
                    .map_err(|e| error(&shown, e.to_string()))?;
                if kind != Kind::Symlink {
                    return Err(error(
                        &shown,
                        format!("is {}: expected a directory", kind.describe()),
                    ));
                }
                let target = readlinkat(Some(dir.raw()), name.as_os_str())
                    .map_err(|e| error(&shown, format!("cannot read the symbolic link: {e}")))?;
                let parent_trusted = fstat(dir.raw()).is_ok_and(|s| trusted(&s));
                links += 1;
                if !(parent_trusted && (follow_last || !last)) || links > MAX_LINKS {
                    return Err(error(
                        &shown,
                        format!(
                            "is a symbolic link (to {}): expected a real directory; tend does \
                             not follow a symbolic link that someone other than root may have \
                             made",
                            Path::new(&target).display()
                        ),
                    ));
                }
                let target = Path::new(&target);
                let mut ahead = components(target);
                ahead.extend(rest);
                rest = ahead;
                if target.is_absolute() {
                    dir = open_root(target)?;
                }
            }
            Err(e) => return Err(error(&shown, format!("cannot open the directory: {e}"))),
        }
    }
    Ok(dir)
}

impl AsFd for Dir {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Dir {
    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stat(&self) -> io::Result<FileStat> {
        Ok(fstat(self.raw())?)
    }

    /// `path` still names this very directory (the same inode; symlinks in its parents
    /// resolved, the last component not followed). The no-follow walk that opened it
    /// vetted that directory, so a caller may use it again after one `lstat` instead of
    /// a new walk from `/`; a directory swapped for a symlink or another one fails this.
    pub fn still_at(&self, path: &Path) -> bool {
        if path.as_os_str().is_empty() {
            return false;
        }
        match (nix::sys::stat::lstat(path), self.stat()) {
            (Ok(now), Ok(held)) => now.st_dev == held.st_dev && now.st_ino == held.st_ino,
            _ => false,
        }
    }

    /// The child directory `name`, made first when missing and `create` is set.
    fn open_child(&self, name: &OsStr, create: Option<u32>) -> Result<Dir, Errno> {
        let open = || openat(Some(self.raw()), name, open_flags(), Mode::empty());
        let fd = match (open(), create) {
            (Err(Errno::ENOENT), Some(mode)) => {
                match mkdirat(Some(self.raw()), name, Mode::from_bits_truncate(mode)) {
                    Ok(()) | Err(Errno::EEXIST) => open()?,
                    Err(e) => return Err(e),
                }
            }
            (result, _) => result?,
        };
        Ok(Dir {
            fd,
            path: self.path.join(name),
        })
    }

    /// What is at `name` in this directory, without following it.
    pub fn kind_of(&self, name: &OsStr) -> io::Result<Kind> {
        match fstatat(
            Some(self.raw()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(stat) => Ok(Kind::of(&stat)),
            Err(Errno::ENOENT) => Ok(Kind::Missing),
            Err(e) => Err(e.into()),
        }
    }

    /// The inode at `name`, without following it.
    pub fn stat_of(&self, name: &OsStr) -> io::Result<FileStat> {
        Ok(fstatat(
            Some(self.raw()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?)
    }

    /// A new, empty file with an unpredictable name beside `stem` (`.stem.RANDOM.tmp`),
    /// created by us and nobody else (O_EXCL), with `mode` whatever the umask.
    pub fn create_temp(&self, stem: &OsStr, mode: u32) -> io::Result<(File, OsString)> {
        self.create_named(mode, || temp_name(stem))
    }

    fn create_named(
        &self,
        mode: u32,
        mut next_name: impl FnMut() -> OsString,
    ) -> io::Result<(File, OsString)> {
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let mut last = io::Error::from(Errno::EEXIST);
        for _ in 0..TEMP_ATTEMPTS {
            let name = next_name();
            match openat(
                Some(self.raw()),
                name.as_os_str(),
                flags,
                Mode::S_IRUSR | Mode::S_IWUSR,
            ) {
                Ok(fd) => {
                    let file = File::from(fd);
                    fchmod(file.as_raw_fd(), Mode::from_bits_truncate(mode))?;
                    return Ok((file, name));
                }
                Err(Errno::EEXIST) => last = Errno::EEXIST.into(),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last)
    }

    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        Ok(renameat(Some(self.raw()), from, Some(self.raw()), to)?)
    }

    pub fn unlink(&self, name: &OsStr) -> io::Result<()> {
        Ok(unlinkat(
            Some(self.raw()),
            name,
            UnlinkatFlags::NoRemoveDir,
        )?)
    }

    /// Hands the directory itself to `uid:gid`, through the fd.
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        Ok(fchown(
            self.raw(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        )?)
    }
}

/// `.stem.RANDOM.tmp`: hidden, and unknown to anybody who would plant something there.
fn temp_name(stem: &OsStr) -> OsString {
    let mut name = OsString::from(".");
    name.push(stem);
    name.push(format!(".{:016x}.tmp", random()));
    name
}

/// 64 bits from the kernel's generator; should it fail (a seccomp filter), a mix of
/// clock, pid and a counter: O_EXCL still guarantees the file is our own.
fn random() -> u64 {
    let mut bytes = [0u8; 8];
    if crate::sys::io::random(&mut bytes) {
        return u64::from_ne_bytes(bytes);
    }
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    nanos ^ (u64::from(std::process::id()) << 32) ^ count.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The directory of `path` (opened safely) and its file name; `create` makes missing
/// directories with that mode.
pub fn parent_of(path: &Path, create: Option<u32>) -> Result<(Dir, OsString), Error> {
    let name = path
        .file_name()
        .filter(|n| n.as_bytes() != b"..")
        .ok_or_else(|| error(path, "expected a path that names a file"))?;
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => walk_components(dir, create, true),
        None => walk_components(Path::new("."), None, true),
    }
    .map_err(|e| error(path, format!("{}: {}", e.path.display(), e.problem)))?;
    Ok((dir, name.to_owned()))
}

/// Refuses what a rename must not replace: anything but a regular file or nothing.
pub fn check_replaceable(dir: &Dir, name: &OsStr, path: &Path) -> Result<(), Error> {
    match dir
        .kind_of(name)
        .map_err(|e| error(path, format!("cannot inspect it: {e}")))?
    {
        Kind::Missing | Kind::File => Ok(()),
        kind => Err(error(
            path,
            format!(
                "is {}: expected a regular file or a new path (left untouched)",
                kind.describe()
            ),
        )),
    }
}

/// Writes `bytes` to a fresh temporary file beside `path` and renames it over `path`:
/// readers see the old file or the new one, and nothing that sat at either name is
/// written through. Missing directories are made with mode 0755.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let (dir, name) = parent_of(path, Some(0o755))?;
    check_replaceable(&dir, &name, path)?;
    let (mut file, tmp) = dir.create_temp(&name, mode).map_err(|e| {
        error(
            path,
            format!("cannot create a temporary file beside it: {e}"),
        )
    })?;
    let written = file
        .write_all(bytes)
        .and_then(|()| dir.rename(&tmp, &name))
        .map_err(|e| error(path, format!("cannot write it: {e}")));
    if written.is_err() {
        let _ = dir.unlink(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tend-fsafe-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        dir
    }

    #[test]
    fn still_at_holds_only_while_the_path_names_the_same_directory() {
        let base = scratch("still-at");
        let state = base.join("state");
        std::fs::create_dir(&state).expect("state");
        let dir = walk(&state, None, false).expect("walk");
        assert!(dir.still_at(&state));
        // Swapped for a symlink to the very same directory: the last part is not followed.
        std::fs::rename(&state, base.join("old")).expect("rename");
        std::os::unix::fs::symlink(base.join("old"), &state).expect("symlink");
        assert!(!dir.still_at(&state));
        // Swapped for another directory.
        std::fs::remove_file(&state).expect("unlink");
        std::fs::create_dir(&state).expect("another");
        assert!(!dir.still_at(&state));
        assert!(!dir.still_at(Path::new("")));
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn makes_missing_directories_and_walks_dot_dot() {
        let base = scratch("mk");
        let deep = base.join("a/b/../c");
        walk(&deep, Some(0o755), false).expect("made");
        assert!(base.join("a/c").is_dir() && base.join("a/b").is_dir());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn refuses_a_symlink_in_a_directory_others_may_write() {
        let base = scratch("link");
        let real = base.join("real");
        std::fs::create_dir(&real).expect("real");
        std::fs::create_dir(base.join("shared")).expect("shared");
        std::fs::set_permissions(
            base.join("shared"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        symlink(&real, base.join("shared/link")).expect("link");
        let e = walk(&base.join("shared/link/x"), Some(0o755), false)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!real.join("x").exists());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn follows_a_symlink_only_root_could_make_but_never_as_the_last_when_asked() {
        let base = scratch("trusted");
        std::fs::create_dir(base.join("real")).expect("real");
        symlink("real", base.join("link")).expect("link");
        std::fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        walk(&base.join("link/x"), Some(0o755), false).expect("followed");
        assert!(base.join("real/x").is_dir());
        assert!(walk(&base.join("link"), None, false).is_err());
        assert!(walk(&base.join("link"), None, true).is_ok());
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_temporary_name_taken_by_someone_else_is_never_reused() {
        let base = scratch("temp");
        let dir = walk(&base, None, false).expect("dir");
        let (_, first) = dir.create_temp(OsStr::new("f"), 0o644).expect("temp");
        let (_, second) = dir.create_temp(OsStr::new("f"), 0o644).expect("temp");
        assert_ne!(first, second);
        let name = first.to_string_lossy();
        assert!(name.starts_with(".f.") && name.ends_with(".tmp"), "{name}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_file_planted_at_the_chosen_name_makes_it_pick_another() {
        let base = scratch("planted");
        let dir = walk(&base, None, false).expect("dir");
        std::fs::write(base.join("taken"), "planted").expect("plant");
        mkfifo(&base.join("pipe"));
        let mut names = ["taken", "pipe", "free"].into_iter().map(OsString::from);
        let (mut file, name) = dir
            .create_named(0o644, || names.next().expect("a name"))
            .expect("created");
        assert_eq!(name, "free");
        file.write_all(b"ours").expect("write");
        assert_eq!(std::fs::read(base.join("taken")).expect("read"), b"planted");
        let mode = std::fs::metadata(base.join("free"))
            .expect("made")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o644
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o666)).expect("mkfifo");
    }

    #[test]
    fn replace_file_refuses_devices_pipes_and_links() {
        let base = scratch("replace");
        symlink("/dev/null", base.join("link")).expect("link");
        let e = replace_file(&base.join("link"), b"x", 0o644).expect_err("refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let e = replace_file(Path::new("/dev/null"), b"x", 0o644).expect_err("refused");
        assert!(e.to_string().contains("character device"), "{e}");
        replace_file(&base.join("new/file"), b"x", 0o644).expect("written");
        assert_eq!(std::fs::read(base.join("new/file")).expect("read"), b"x");
        let _ = std::fs::remove_dir_all(&base);
    }
}
