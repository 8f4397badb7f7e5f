//! Environment checks before anything runs: required variables, directories, free disk
//! space and memory. Each check returns its failures; the gate reports them all together.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::limits::Limits;
use crate::fsafe;
use crate::process::spawn::Credentials;

/// One failed check: the variable at fault and a message with the value seen and what
/// is expected (never the value of a TEND_REQUIRE_ENV variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub variable: &'static str,
    pub message: String,
}

fn failure(variable: &'static str, message: String) -> Failure {
    Failure { variable, message }
}

/// Names that are unset or empty, in the order given. Only names: values may be secrets.
pub fn missing_env(names: &[String], lookup: impl Fn(&str) -> Option<OsString>) -> Option<Failure> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|name| lookup(name).is_none_or(|v| v.is_empty()))
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| {
        failure(
            "TEND_REQUIRE_ENV",
            format!(
                "required variable(s) unset or empty: {} (each must be set to a non-empty value)",
                missing.join(", ")
            ),
        )
    })
}

/// Creates each directory (with parents), hands it to the user, and checks it is writable
/// by whoever will run the child.
pub fn ensure_dirs(dirs: &[PathBuf], user: Option<&Credentials>) -> Vec<Failure> {
    dirs.iter()
        .filter_map(|dir| ensure_dir(dir, user).err())
        .map(|message| failure("TEND_ENSURE_DIRS", message))
        .collect()
}

fn ensure_dir(dir: &Path, user: Option<&Credentials>) -> Result<(), String> {
    let shown = dir.display();
    // Every component is made and opened without following a symlink someone else may
    // have planted, and the last one never: the child may own the volume and replace the
    // directory with a link to /etc between two starts.
    let opened = fsafe::walk(dir, Some(0o755), false).map_err(|e| e.to_string())?;
    if let Some(c) = user {
        opened.chown(c.uid, c.gid).map_err(|e| {
            format!(
                "{shown}: cannot give it to uid {} gid {}: {e}",
                c.uid, c.gid
            )
        })?;
    }
    let meta = opened.stat().map_err(|e| format!("{shown}: {e}"))?;
    let (uid, gid, groups) = match user {
        Some(c) => (c.uid, c.gid, c.groups.clone()),
        None => (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
            Vec::new(),
        ),
    };
    if !writable_by(meta.st_mode, meta.st_uid, meta.st_gid, uid, gid, &groups) {
        return Err(format!(
            "{shown}: not writable by uid {uid} (mode {:o}, owner {}:{}); expected a writable directory",
            meta.st_mode & 0o7777,
            meta.st_uid,
            meta.st_gid
        ));
    }
    if read_only_fs(&opened) {
        return Err(format!(
            "{shown}: on a read-only filesystem; expected a writable directory"
        ));
    }
    Ok(())
}

/// The permission bits that apply to this user, as the kernel picks them (root passes).
pub fn writable_by(mode: u32, owner: u32, group: u32, uid: u32, gid: u32, groups: &[u32]) -> bool {
    if uid == 0 {
        return true;
    }
    let bits = if owner == uid {
        mode >> 6
    } else if group == gid || groups.contains(&group) {
        mode >> 3
    } else {
        mode
    };
    bits & 0o3 == 0o3 // write, and search to create entries
}

fn read_only_fs(dir: &fsafe::Dir) -> bool {
    use std::os::fd::AsFd;
    nix::sys::statvfs::fstatvfs(dir.as_fd())
        .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false)
}

/// Free space (for unprivileged users: `f_bavail`) at each path against its minimum.
pub fn disk_free(wanted: &[(PathBuf, u64)]) -> Vec<Failure> {
    let mut failures = Vec::new();
    for (path, min) in wanted {
        let shown = path.display();
        let message = match nix::sys::statvfs::statvfs(path.as_path()) {
            Err(e) => format!("{shown}: cannot read free space: {e}; expected an existing path"),
            Ok(s) => {
                // The casts matter on 32-bit targets, where these are narrower than u64.
                #[allow(clippy::unnecessary_cast)]
                let free = (s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64);
                if free >= *min {
                    continue;
                }
                format!(
                    "{shown}: {} free, expected at least {}",
                    human(free),
                    human(*min)
                )
            }
        };
        failures.push(failure("TEND_MIN_DISK_FREE", message));
    }
    failures
}

pub fn memory(min: Option<u64>, limits: &Limits) -> Option<Failure> {
    let min = min?;
    let have = limits.effective_memory()?;
    (have < min).then(|| {
        let source = if limits
            .memory_limit
            .is_some_and(|l| Some(l) == limits.effective_memory())
        {
            "cgroup memory limit"
        } else {
            "machine memory (no cgroup limit)"
        };
        failure(
            "TEND_MIN_MEMORY",
            format!(
                "{source} is {}, expected at least {}",
                human(have),
                human(min)
            ),
        )
    })
}

/// Bytes in the largest binary unit that keeps a readable number (`512.0MiB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{} ({bytes} bytes)", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_env_lists_names_only() {
        let names = vec!["A".to_string(), "B".into(), "C".into()];
        let lookup = |name: &str| match name {
            "A" => Some(OsString::from("secret")),
            "B" => Some(OsString::new()),
            _ => None,
        };
        let f = missing_env(&names, lookup).expect("two missing");
        assert!(f.message.contains("B, C"), "{}", f.message);
        assert!(!f.message.contains("secret"));
        assert!(missing_env(&names[..1], lookup).is_none());
    }

    #[test]
    fn permission_bits_as_the_kernel_reads_them() {
        assert!(writable_by(0o700, 5, 5, 5, 9, &[]));
        assert!(!writable_by(0o500, 5, 5, 5, 5, &[]));
        assert!(writable_by(0o070, 1, 7, 5, 9, &[7]));
        assert!(!writable_by(0o755, 1, 1, 5, 5, &[]));
        assert!(writable_by(0o777, 1, 1, 5, 5, &[]));
        assert!(writable_by(0o000, 1, 1, 0, 0, &[]), "root");
        assert!(
            !writable_by(0o077, 5, 7, 5, 7, &[]),
            "owner bits win over other"
        );
    }

    #[test]
    fn memory_check() {
        let limits = Limits {
            memory_limit: Some(256 << 20),
            memory_total: Some(8 << 30),
            ..Limits::default()
        };
        assert!(memory(Some(128 << 20), &limits).is_none());
        let f = memory(Some(512 << 20), &limits).expect("too little");
        assert!(
            f.message.contains("cgroup memory limit is 256.0MiB"),
            "{}",
            f.message
        );
        assert!(memory(None, &limits).is_none());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.5KiB (1536 bytes)");
    }
}
