//! Finding and signalling the processes that remain besides the child: everything else
//! in the container when tend is PID 1, tend's descendants when it is a subreaper.
//!
//! The reading of /proc and the signals are the edges; which processes are in scope is
//! decided by pure functions over the table read from /proc.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::emit;
use crate::events::Event;
use crate::sys;

/// Which processes tend is responsible for cleaning up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// PID 1 of a PID namespace: every other process in it (`kill(-1, …)`), those that
    /// joined it from outside (`docker exec`, `nsenter`) included.
    Namespace,
    /// A subreaper: tend's descendants, found through /proc.
    Descendants,
}

impl Scope {
    pub fn detect() -> Self {
        if std::process::id() == 1 {
            Scope::Namespace
        } else {
            Scope::Descendants
        }
    }

    /// Whether any process in scope is left (zombies of our own included, until reaped).
    ///
    /// Every descendant of tend whose parent died is re-parented to tend (PID 1 or
    /// subreaper): so a descendant exists exactly when tend has a child. That is one
    /// system call instead of a scan of /proc, and the whole answer for a subreaper.
    /// As PID 1 it is not: a process that joined the namespace from outside (`docker
    /// exec`, `nsenter`) has its parent outside, and the kernel kills it without warning
    /// when tend exits. So when tend has no child, PID 1 also looks in the namespace's
    /// /proc, if /proc is the namespace's own.
    pub fn any_left(self) -> bool {
        has_children() || (self == Scope::Namespace && others_in_namespace().unwrap_or(false))
    }
}

/// One sweep: signals the processes in scope round after round, re-reading /proc each
/// time, so that a process that keeps forking cannot outrun a single snapshot.
pub struct Sweep {
    scope: Scope,
    warned: Warned,
    /// As PID 1, the first warning goes to everyone at once with `kill(-1)`.
    warned_everyone: bool,
}

impl Sweep {
    pub fn new(scope: Scope) -> Self {
        Sweep {
            scope,
            warned: Warned::default(),
            warned_everyone: false,
        }
    }

    pub fn any_left(&self) -> bool {
        self.scope.any_left()
    }

    /// SIGTERM, then SIGCONT (a stopped process must act on its TERM now, not at its
    /// KILL), to every process in scope that has not had them in this sweep: called again,
    /// it warns only the newcomers (a second TERM means "now" to some programs). Returns
    /// how many; when /proc cannot tell, as PID 1 the first call returns 1 for "at least
    /// one" and later calls reach nobody new, as a subreaper calls reach nobody (0).
    pub fn warn(&mut self) -> usize {
        let procs = self.list();
        if self.scope == Scope::Namespace && !self.warned_everyone {
            self.warned_everyone = true;
            // kill(-1) is atomic: it also reaches a process forked since the scan.
            let sent = signal_everyone(libc::SIGTERM);
            signal_everyone(libc::SIGCONT);
            return match procs {
                Some(procs) => self.warned.newcomers(&procs).len(),
                None => usize::from(sent),
            };
        }
        let pids = self.warned.newcomers(&procs.unwrap_or_default());
        for sig in [libc::SIGTERM, libc::SIGCONT] {
            pids.iter().for_each(|&pid| signal(pid, sig));
        }
        pids.len()
    }

    /// SIGKILL to every process in scope, as many times as it is called; returns how many
    /// there were (as PID 1 with a /proc not its own, 1 for "at least one").
    pub fn kill(&mut self) -> usize {
        let procs = self.list();
        match self.scope {
            Scope::Namespace => {
                let sent = signal_everyone(libc::SIGKILL);
                procs.map_or(usize::from(sent), |procs| procs.len())
            }
            Scope::Descendants => {
                let procs = procs.unwrap_or_default();
                procs.iter().for_each(|p| signal(p.pid, libc::SIGKILL));
                procs.len()
            }
        }
    }

    /// The processes in scope now; None when /proc cannot tell (as PID 1, a /proc of
    /// another namespace; or /proc unreadable, reported once).
    fn list(&self) -> Option<Vec<Proc>> {
        let me = match self.scope {
            Scope::Namespace if !proc_is_ours() => return None,
            Scope::Namespace => 1,
            Scope::Descendants => std::process::id() as i32,
        };
        Some(in_scope(self.scope, &scan_or_warn()?, me))
    }
}

/// Which processes got the warning in one sweep, by pid and start time (a pid may be
/// reused within the sweep by a process that never had it).
#[derive(Debug, Default)]
pub struct Warned(HashSet<(i32, u64)>);

impl Warned {
    /// The pids of `procs` not warned yet, which from now on count as warned.
    pub fn newcomers(&mut self, procs: &[Proc]) -> Vec<i32> {
        procs
            .iter()
            .filter(|p| self.0.insert((p.pid, p.start)))
            .map(|p| p.pid)
            .collect()
    }
}

/// `sig` to every process in the namespace but tend (as PID 1); false when none got it.
fn signal_everyone(sig: i32) -> bool {
    // As PID 1, -1 reaches every process in the namespace but us.
    sys::process::kill(-1, sig).is_ok()
}

fn signal(pid: i32, sig: i32) {
    // ESRCH (already gone) is fine.
    let _ = sys::process::kill(pid, sig);
}

/// Whether tend has any child, running or zombie. `WNOWAIT` leaves the status for the
/// reaper: this collects nothing, so the reaper stays the only place that reaps.
fn has_children() -> bool {
    sys::process::has_children()
}

/// Whether the namespace holds a live process other than tend; None when /proc cannot
/// tell (it belongs to another namespace, or cannot be read).
fn others_in_namespace() -> Option<bool> {
    // Signal 0 to everyone is one system call, and in a container's namespace with
    // nobody else left (every exit of a container) it settles the question: ESRCH.
    // /proc is read only when something answers, to leave out what no signal reaches.
    if !signal_everyone(0) {
        return Some(false);
    }
    if !proc_is_ours() {
        return None;
    }
    let procs = scan_or_warn()?;
    Some(!in_scope(Scope::Namespace, &procs, 1).is_empty())
}

/// Whether /proc is the one of tend's PID namespace, with tend as its PID 1: tend mounts
/// nothing itself, and a /proc of the host (`unshare --pid` without `--mount-proc`)
/// would show processes that are not tend's to signal, under pids that are not its own.
fn proc_is_ours() -> bool {
    fs::read_link("/proc/self").is_ok_and(|link| link == Path::new("1"))
}

/// One process as /proc/PID/stat shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Start time in clock ticks after boot: with the pid, it names one process even
    /// when the pid is reused.
    pub start: u64,
    /// Exited, not yet reaped (state Z or X): beyond any signal.
    pub dead: bool,
    /// A kernel thread (seen only when tend is the host's own init): no signal reaches it.
    pub kernel: bool,
}

/// PF_KTHREAD in the `flags` field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Parses /proc/PID/stat. The command name may hold spaces and parentheses: the fields
/// resume after the last ')'.
pub fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state (0), ppid (1), pgrp, session, tty_nr, tpgid, flags (6), …,
    // starttime (19).
    let state = *fields.first()?;
    Some(Proc {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
        dead: state == "Z" || state == "X",
        kernel: fields.get(6)?.parse::<u64>().ok()? & PF_KTHREAD != 0,
    })
}

/// `scan`, with a failure reported (once per tend: a sweep reads /proc every round) and
/// turned into None. tend works on with what it can do without: `kill(-1)` as PID 1, the
/// next round's reading as a subreaper (descriptors may be free by then).
fn scan_or_warn() -> Option<Vec<Proc>> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    scan()
        .inspect_err(|error| {
            if !WARNED.swap(true, Ordering::Relaxed) {
                emit!(warn, Event::InternalError, reason = "proc_unreadable", path = "/proc",
                    error = %error,
                    "cannot read /proc ({error}); processes left behind may not be found");
            }
        })
        .ok()
}

/// Every process that /proc lists. A process that is gone before its stat is read is
/// left out; any other failure (EMFILE when tend is out of descriptors) is an error, not
/// an empty or partial list.
fn scan() -> io::Result<Vec<Proc>> {
    let mut procs = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => procs.extend(parse_stat(pid, &stat)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(procs)
}

/// The live processes of `procs` that are in `scope` for tend as `me` (its pid as /proc
/// shows it): for `Namespace` every one but tend, for `Descendants` those below tend.
pub fn in_scope(scope: Scope, procs: &[Proc], me: i32) -> Vec<Proc> {
    match scope {
        Scope::Namespace => procs
            .iter()
            .filter(|p| p.pid != me && !p.dead && !p.kernel)
            .copied()
            .collect(),
        Scope::Descendants => {
            let mut children: HashMap<i32, Vec<&Proc>> = HashMap::new();
            for p in procs {
                children.entry(p.ppid).or_default().push(p);
            }
            let mut found = Vec::new();
            let mut seen = HashSet::from([me]);
            let mut queue = vec![me];
            while let Some(pid) = queue.pop() {
                for kid in children.get(&pid).into_iter().flatten() {
                    // A loop cannot happen in a tree, but /proc is not read atomically:
                    // a reused pid must not make this spin.
                    if !seen.insert(kid.pid) {
                        continue;
                    }
                    queue.push(kid.pid);
                    if !kid.dead {
                        found.push(**kid);
                    }
                }
            }
            found
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: i32, ppid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            start: 100 + pid as u64,
            dead: false,
            kernel: false,
        }
    }

    #[test]
    fn parses_stat_with_a_hostile_name() {
        let stat = "42 (a) b (c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 \
                    2000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_stat(42, stat).expect("parsed");
        assert_eq!(
            p,
            Proc {
                pid: 42,
                ppid: 7,
                start: 123456,
                dead: false,
                kernel: false
            }
        );
        let zombie = stat.replace(") S 7", ") Z 7");
        assert!(parse_stat(42, &zombie).expect("parsed").dead);
        let kthread = stat.replace("4194560", "6291712");
        assert!(parse_stat(42, &kthread).expect("parsed").kernel);
        assert_eq!(parse_stat(42, "42 (truncated) S 7"), None);
        assert_eq!(parse_stat(42, "no parenthesis"), None);
    }

    #[test]
    fn the_namespace_is_everyone_alive_but_tend_and_kernel_threads() {
        // 5 and 6 joined from outside: their parent shows as 0.
        let mut procs = vec![proc(1, 0), proc(2, 1), proc(5, 0), proc(6, 5)];
        procs.push(Proc {
            dead: true,
            ..proc(7, 0)
        });
        procs.push(Proc {
            kernel: true,
            ..proc(8, 0)
        });
        let pids: Vec<i32> = in_scope(Scope::Namespace, &procs, 1)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert_eq!(pids, [2, 5, 6]);
        assert!(in_scope(Scope::Namespace, &[proc(1, 0)], 1).is_empty());
    }

    #[test]
    fn descendants_are_the_live_tree_below_tend() {
        let procs = vec![
            proc(1, 0),
            proc(10, 1),
            proc(20, 10),
            proc(21, 20),
            proc(22, 20),
            Proc {
                dead: true,
                ..proc(23, 20)
            },
            proc(30, 1),
        ];
        let mut pids: Vec<i32> = in_scope(Scope::Descendants, &procs, 20)
            .iter()
            .map(|p| p.pid)
            .collect();
        pids.sort();
        assert_eq!(pids, [21, 22]);
    }

    #[test]
    fn only_newcomers_are_warned_again() {
        let mut warned = Warned::default();
        assert_eq!(warned.newcomers(&[proc(5, 1), proc(6, 5)]), [5, 6]);
        // 6 forked 7; 5 is gone and its pid was reused by another process.
        let reused = Proc {
            start: 999,
            ..proc(5, 1)
        };
        assert_eq!(warned.newcomers(&[proc(6, 1), proc(7, 6), reused]), [7, 5]);
        assert!(warned
            .newcomers(&[proc(6, 1), proc(7, 6), reused])
            .is_empty());
    }

    #[test]
    fn finds_a_grandchild() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        let grandchild: i32 = line.trim().parse().expect("pid");
        let procs = scan().expect("/proc");
        let found: Vec<i32> = in_scope(Scope::Descendants, &procs, std::process::id() as i32)
            .iter()
            .map(|p| p.pid)
            .collect();
        assert!(found.contains(&(child.id() as i32)));
        assert!(found.contains(&grandchild));
        let _ = sys::process::kill(grandchild, libc::SIGKILL);
        let _ = child.wait();
    }
}
