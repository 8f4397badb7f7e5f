//! TEND_ENSURE_DIRS for `tend check-config`: what the gate's step would find, without
//! creating, chowning or following anything. A directory that exists must be a
//! directory on a writable filesystem, writable by the child's user unless tend will
//! hand it over (root with TEND_USER); one that does not must be creatable under its
//! nearest existing ancestor.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::environment::{writable_by, Failure};
use crate::process::spawn::Credentials;

pub fn ensure_dirs(dirs: &[PathBuf], user: Option<&Credentials>) -> Vec<Failure> {
    dirs.iter()
        .filter_map(|dir| would_ensure(dir, user).err())
        .map(|message| Failure {
            variable: "TEND_ENSURE_DIRS",
            message,
        })
        .collect()
}

fn would_ensure(dir: &Path, user: Option<&Credentials>) -> Result<(), String> {
    let shown = dir.display();
    let (euid, egid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    match fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            // With TEND_USER (only ever resolved for root) the gate first hands the
            // directory to that user: judge it as it will be then.
            let (owner, group, uid, gid, groups) = match user {
                Some(c) => (c.uid, c.gid, c.uid, c.gid, c.groups.clone()),
                None => (meta.uid(), meta.gid(), euid, egid, Vec::new()),
            };
            if !writable_by(meta.mode(), owner, group, uid, gid, &groups) {
                return Err(format!(
                    "{shown}: not writable by uid {uid} (mode {:o}, owner {owner}:{group}); \
                     expected a writable directory",
                    meta.mode() & 0o7777,
                ));
            }
            writable_fs(dir)
        }
        Ok(_) => Err(format!(
            "{shown}: exists but is not a directory; expected a directory or a new path"
        )),
        Err(_) => creatable(dir, euid, egid),
    }
}

/// The nearest existing ancestor is a directory tend's user can create entries in.
fn creatable(dir: &Path, euid: u32, egid: u32) -> Result<(), String> {
    let shown = dir.display();
    let Some(ancestor) = dir
        .ancestors()
        .skip(1)
        .find(|a| fs::symlink_metadata(a).is_ok())
    else {
        return Err(format!("{shown}: no existing parent directory"));
    };
    let meta = fs::metadata(ancestor).map_err(|e| format!("{}: {e}", ancestor.display()))?;
    if !meta.is_dir() {
        return Err(format!(
            "{shown}: cannot be created: {} is not a directory",
            ancestor.display()
        ));
    }
    if !writable_by(meta.mode(), meta.uid(), meta.gid(), euid, egid, &[]) {
        return Err(format!(
            "{shown}: cannot be created: {} is not writable by uid {euid} (mode {:o})",
            ancestor.display(),
            meta.mode() & 0o7777
        ));
    }
    writable_fs(ancestor).map_err(|_| {
        format!(
            "{shown}: cannot be created: {} is on a read-only filesystem",
            ancestor.display()
        )
    })
}

fn writable_fs(dir: &Path) -> Result<(), String> {
    let read_only = nix::sys::statvfs::statvfs(dir)
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if read_only {
        return Err(format!(
            "{}: on a read-only filesystem; expected a writable directory",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_way_is_reported_and_nothing_is_created() {
        let base = std::env::temp_dir().join(format!("tend-preview-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).expect("base");
        let file = base.join("file");
        fs::write(&file, "").expect("file");
        let new = base.join("a/b");
        let failures = ensure_dirs(&[file.clone(), new.clone(), base.clone()], None);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].message.contains("not a directory"));
        assert!(!new.exists() && !base.join("a").exists(), "nothing created");
        let under_file = file.join("x");
        let failures = ensure_dirs(&[under_file], None);
        assert!(
            failures[0].message.contains("is not a directory"),
            "{failures:?}"
        );
        let _ = fs::remove_dir_all(&base);
    }
}
