//! The container's CPU and memory limits, from cgroup v2 or v1, and the machine's RAM.
//! The parsers are pure; `detect` reads /proc and /sys.

use std::fs;
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// cgroup v1 writes "no limit" as the largest page-aligned i64; anything this large is none.
const UNLIMITED: u64 = 1 << 62;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// 1 or 2; `None` when no cgroup filesystem was found.
    pub cgroup_version: Option<u8>,
    /// CPU quota in thousandths of a CPU (1500 = 1.5 CPUs); `None` = unlimited.
    pub cpu_millis: Option<u64>,
    /// CPUs this process may run on.
    pub cpus_online: usize,
    /// The cgroup memory limit in bytes; `None` = unlimited.
    pub memory_limit: Option<u64>,
    /// MemTotal of /proc/meminfo.
    pub memory_total: Option<u64>,
}

impl Limits {
    /// The memory the container can actually have: the smaller of its limit and the RAM.
    pub fn effective_memory(&self) -> Option<u64> {
        match (self.memory_limit, self.memory_total) {
            (Some(limit), Some(total)) => Some(limit.min(total)),
            (limit, total) => limit.or(total),
        }
    }
}

pub fn detect() -> Limits {
    let cpus_online = cpus_allowed();
    let memory_total = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo_total(&t));
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let root = Path::new(CGROUP_ROOT);
    let mut limits = Limits {
        cpus_online,
        memory_total,
        ..Limits::default()
    };
    if root.join("cgroup.controllers").exists() {
        let dirs = hierarchy(root, &cgroup_path(&own, None));
        limits.cgroup_version = Some(2);
        limits.memory_limit = smallest(&dirs, "memory.max", parse_v2_memory);
        limits.cpu_millis = smallest(&dirs, "cpu.max", parse_v2_cpu);
    } else if root.join("memory").is_dir() || root.join("cpu").is_dir() {
        limits.cgroup_version = Some(1);
        let memory = hierarchy(&root.join("memory"), &cgroup_path(&own, Some("memory")));
        limits.memory_limit = smallest(&memory, "memory.limit_in_bytes", parse_v1_memory);
        let cpu_root = [root.join("cpu"), root.join("cpu,cpuacct")]
            .into_iter()
            .find(|p| p.is_dir())
            .unwrap_or_else(|| root.join("cpu"));
        let cpu = hierarchy(&cpu_root, &cgroup_path(&own, Some("cpu")));
        limits.cpu_millis = cpu.iter().filter_map(|dir| v1_cpu(dir)).min();
    }
    limits
}

/// The CPUs this process may run on. Not `available_parallelism`, which also reads the
/// cgroup's CPU quota (tend reports that on its own) through several more files.
fn cpus_allowed() -> usize {
    crate::sys::process::cpus_allowed().map_or(1, |count| count.max(1))
}

/// Our cgroup's path from /proc/self/cgroup: the `0::` line for v2, or the line whose
/// controller list holds `controller` for v1. "/" when not found.
pub fn cgroup_path(text: &str, controller: Option<&str>) -> String {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let matches = match controller {
                None => id == "0" && controllers.is_empty(),
                Some(c) => controllers.split(',').any(|x| x == c),
            };
            matches.then(|| path.to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into())
}

/// The directories from our cgroup up to the mount's root (limits are inherited, so the
/// smallest on the way counts). With a cgroup namespace, or when our path is not visible
/// under the mount, only the existing ones are kept; the root is always there.
fn hierarchy(mount: &Path, path: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut current = Path::new(path.trim_start_matches('/'));
    loop {
        let dir = mount.join(current);
        if dir.is_dir() {
            dirs.push(dir);
        }
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
    dirs
}

fn smallest(dirs: &[PathBuf], file: &str, parse: fn(&str) -> Option<u64>) -> Option<u64> {
    dirs.iter()
        .filter_map(|dir| fs::read_to_string(dir.join(file)).ok())
        .filter_map(|text| parse(&text))
        .min()
}

fn v1_cpu(dir: &Path) -> Option<u64> {
    let quota = fs::read_to_string(dir.join("cpu.cfs_quota_us")).ok()?;
    let period = fs::read_to_string(dir.join("cpu.cfs_period_us")).ok()?;
    cpu_millis(quota.trim(), period.trim())
}

pub fn parse_v1_memory(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|&n| n < UNLIMITED)
}

pub fn parse_v2_memory(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.max`: "max 100000" (unlimited) or "150000 100000" (1.5 CPUs).
pub fn parse_v2_cpu(text: &str) -> Option<u64> {
    let (quota, period) = text.trim().split_once(' ')?;
    cpu_millis(quota, period)
}

fn cpu_millis(quota: &str, period: &str) -> Option<u64> {
    let quota: u64 = quota.parse().ok()?; // "max" and "-1" mean unlimited
    let period: u64 = period.parse().ok().filter(|&p| p > 0)?;
    Some(quota.saturating_mul(1000) / period)
}

pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_paths_v1_and_v2() {
        let v1 = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n";
        assert_eq!(cgroup_path(v1, Some("memory")), "/docker/abc");
        assert_eq!(cgroup_path(v1, Some("cpu")), "/docker/abc");
        assert_eq!(cgroup_path(v1, Some("pids")), "/");
        assert_eq!(cgroup_path("0::/system.slice/x\n", None), "/system.slice/x");
    }

    #[test]
    fn limit_files() {
        assert_eq!(parse_v1_memory("9223372036854771712\n"), None);
        assert_eq!(parse_v1_memory("268435456\n"), Some(256 << 20));
        assert_eq!(parse_v2_memory("max\n"), None);
        assert_eq!(parse_v2_memory("536870912\n"), Some(512 << 20));
        assert_eq!(parse_v2_cpu("max 100000\n"), None);
        assert_eq!(parse_v2_cpu("150000 100000\n"), Some(1500));
        assert_eq!(cpu_millis("-1", "100000"), None);
        assert_eq!(cpu_millis("50000", "100000"), Some(500));
        assert_eq!(
            parse_meminfo_total("MemFree: 1 kB\nMemTotal:  2048 kB\n"),
            Some(2 << 20)
        );
    }

    #[test]
    fn effective_memory_is_the_smaller() {
        let mut limits = Limits {
            memory_limit: Some(100),
            memory_total: Some(1000),
            ..Limits::default()
        };
        assert_eq!(limits.effective_memory(), Some(100));
        limits.memory_limit = None;
        assert_eq!(limits.effective_memory(), Some(1000));
    }
}
