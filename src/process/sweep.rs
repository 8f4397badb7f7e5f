//! Finding and signalling the processes that remain besides the child: everything else
//! in the container when tend is PID 1, tend's descendants when it is a subreaper.

use std::collections::HashMap;
use std::fs;

/// Which processes tend is responsible for cleaning up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// PID 1 of a PID namespace: every other process in it (`kill(-1, …)`).
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

    /// Sends `sig` to every process in scope; returns how many were signalled (for
    /// `Namespace`, 1 means "at least one").
    pub fn signal_all(self, sig: i32) -> usize {
        match self {
            // Safety: plain syscall. As PID 1, -1 reaches every process in the namespace but us.
            Scope::Namespace => usize::from(unsafe { libc::kill(-1, sig) } == 0),
            Scope::Descendants => {
                let pids = descendants(std::process::id() as i32);
                for &pid in &pids {
                    // Safety: plain syscall; ESRCH (already gone) is fine.
                    unsafe { libc::kill(pid, sig) };
                }
                pids.len()
            }
        }
    }

    /// Whether any process in scope is left (zombies of our own included, until reaped).
    /// Every process in scope descends from tend, and a descendant whose parent died is
    /// re-parented to tend (PID 1 or subreaper): so one exists exactly when tend has a
    /// child. That is one system call instead of a scan of /proc.
    pub fn any_left(self) -> bool {
        has_children()
    }
}

/// Whether tend has any child, running or zombie. `WNOWAIT` leaves the status for the
/// reaper: this collects nothing, so the reaper stays the only place that reaps.
fn has_children() -> bool {
    // Safety: siginfo_t is plain data; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::WSTOPPED | libc::WCONTINUED;
    (unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) }) == 0
}

/// All descendants of `root`, from a scan of /proc/*/stat.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(pid) = queue.pop() {
        if let Some(kids) = children.get(&pid) {
            found.extend_from_slice(kids);
            queue.extend_from_slice(kids);
        }
    }
    found
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let found = descendants(std::process::id() as i32);
        assert!(found.contains(&(child.id() as i32)));
        assert!(found.contains(&grandchild));
        unsafe { libc::kill(grandchild, libc::SIGKILL) };
        let _ = child.wait();
    }
}
