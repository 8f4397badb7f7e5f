//! The listening side, inside the running tend: binds the socket safely, checks each
//! peer's credentials, reads one bounded request, relays it to the supervisor and answers
//! with the supervisor's verdict.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::net::{UnixListener as StdListener, UnixStream as StdStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::stat::{umask, Mode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::time::timeout;

use super::{
    accepted, allowed, refused, services, status_answer, verdict_text, Ask, Request, Verb, Verdict,
    MAX_CONNECTIONS, MAX_REQUEST, READ_TIMEOUT, SOCKET_NAME, WRITE_TIMEOUT,
};
use crate::config::lifecycle::{ControlSocket, InterfacesConfig};
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::fsafe;
use crate::status::Snapshot;

/// At most this much unread input is dropped before closing, for at most this long.
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_TIMEOUT: Duration = Duration::from_millis(200);

/// Starts listening in the background. A socket that cannot be set up is reported once
/// (`control_failed`) and tend goes on supervising without it.
pub fn start(
    config: &InterfacesConfig,
    status_path: Option<&Path>,
    snapshots: watch::Receiver<Snapshot>,
    requests: mpsc::UnboundedSender<Request>,
) {
    let path = match &config.control_socket {
        ControlSocket::Off => return,
        ControlSocket::Path(path) => path.clone(),
        ControlSocket::BesideStatus => match status_path.and_then(super::beside) {
            Some(path) => path,
            None => {
                emit!(warn, Event::ControlFailed, path = SOCKET_NAME,
                    error = "no status file directory",
                    "no control socket: the status file has no writable place to put {SOCKET_NAME} beside; \
                     set TEND_CONTROL_SOCKET to an absolute path");
                return;
            }
        },
    };
    match bind(&path) {
        Ok((listener, cleanup)) => {
            emit!(debug, Event::ControlListening, path = %path.display(),
                "control socket listening on {}", path.display());
            *socket() = Some(cleanup);
            tokio::spawn(accept_loop(listener, snapshots, requests));
        }
        Err(error) => {
            emit!(warn, Event::ControlFailed, path = %path.display(), error = %error,
                "no control socket at {}: {error}; `tend restart` and `tend stop` will not work", path.display());
        }
    }
}

/// The socket to remove at exit: tend exits without tearing its runtime down (see
/// `main`), so no task's drop can do it.
static SOCKET: Mutex<Option<Cleanup>> = Mutex::new(None);

fn socket() -> std::sync::MutexGuard<'static, Option<Cleanup>> {
    SOCKET.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes the control socket, if tend made one and it is still there. Also called by
/// the panic hook, hence `try_lock`: a panic while the lock is held must not deadlock.
pub fn remove_socket() {
    let cleanup = SOCKET.try_lock().ok().and_then(|mut socket| socket.take());
    drop(cleanup);
}

/// Removes the socket when dropped, if it is still the one we made.
struct Cleanup {
    path: PathBuf,
    dev: libc::dev_t,
    ino: libc::ino_t,
    /// The directory the socket was bound in, opened by the no-follow walk.
    dir: Option<fsafe::Dir>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // The directory we bound in, if the path still names it, else opened again
        // without following planted symlinks; only the very socket we bound is unlinked.
        let parent = self.path.parent().unwrap_or(Path::new(""));
        let held = self.dir.take().filter(|dir| dir.still_at(parent));
        let found = match (held, self.path.file_name()) {
            (Some(dir), Some(name)) => Ok((dir, name.to_owned())),
            _ => fsafe::parent_of(&self.path, None),
        };
        let Ok((dir, name)) = found else {
            return;
        };
        if let Ok(meta) = dir.stat_of(&name) {
            if meta.st_dev == self.dev && meta.st_ino == self.ino {
                let _ = dir.unlink(&name);
            }
        }
    }
}

fn own_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Why the directory is not a safe place for the socket, if it is not: anybody who may
/// write in it could replace the socket with their own.
fn untrusted_dir(mode: u32, owner: u32, own: u32) -> Option<String> {
    let shared = mode & 0o022 != 0 && mode & 0o1000 == 0;
    if owner != own && owner != 0 {
        Some(format!(
            "it is owned by uid {owner}: expected tend's user (uid {own}) or root"
        ))
    } else if shared {
        Some(format!(
            "it is writable by other users (mode {:04o}): expected a directory only tend's user \
             or root can write, or a sticky one such as /tmp",
            mode & 0o7777
        ))
    } else {
        None
    }
}

/// Binds the socket: the directory must be safe, whatever is at the path must be a
/// stale socket (it is replaced) or nothing; the socket is created with mode 0600 (umask
/// set around `bind`, so there is no moment with a wider mode) and checked afterwards.
fn bind(path: &Path) -> Result<(UnixListener, Cleanup), String> {
    if path.parent().is_none_or(|d| d.as_os_str().is_empty()) {
        return Err("expected an absolute path in a directory".to_owned());
    }
    // Made and opened component by component, never through a symlink someone else
    // may have planted; what follows inspects and unlinks through this directory fd.
    let (dir, name) = fsafe::parent_of(path, Some(0o755)).map_err(|e| e.to_string())?;
    let meta = dir
        .stat()
        .map_err(|e| format!("cannot inspect {}: {e}", dir.path().display()))?;
    if let Some(why) = untrusted_dir(meta.st_mode, meta.st_uid, own_uid()) {
        return Err(format!("unsafe directory {}: {why}", dir.path().display()));
    }
    remove_stale(path, &dir, &name)?;
    // umask is per process, but this runs on the runtime's only thread, no other thread
    // creates files, and a child spawned earlier has exec'd with its own copy of the
    // umask (posix_spawn and fork do not share it): nobody else sees the narrow mask.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = StdListener::bind(path);
    umask(old);
    let listener = bound.map_err(|e| format!("cannot bind: {e}"))?;
    // Looked up in the directory we checked: a socket bound anywhere else (a directory
    // swapped between the check and bind) is not ours to use.
    let meta = dir
        .stat_of(&name)
        .map_err(|e| format!("cannot inspect it: {e}"))?;
    let cleanup = Cleanup {
        path: path.to_path_buf(),
        dev: meta.st_dev,
        ino: meta.st_ino,
        dir: Some(dir),
    };
    let is_socket = meta.st_mode & libc::S_IFMT == libc::S_IFSOCK;
    if !is_socket || meta.st_mode & 0o777 != 0o600 || meta.st_uid != own_uid() {
        return Err(format!(
            "the new socket has mode {:04o} and owner uid {}: expected a socket, 0600 and uid {}",
            meta.st_mode & 0o7777,
            meta.st_uid,
            own_uid()
        ));
    }
    listener
        .set_nonblocking(true)
        .and_then(|()| UnixListener::from_std(listener))
        .map(|listener| (listener, cleanup))
        .map_err(|e| format!("cannot listen: {e}"))
}

/// Clears the path for `bind`: nothing there is fine; a socket of our own user that
/// nobody listens on (left by a dead tend) is removed; anything else is left untouched
/// and is an error.
fn remove_stale(path: &Path, dir: &fsafe::Dir, name: &OsStr) -> Result<(), String> {
    let meta = match dir.stat_of(name) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect it: {e}")),
    };
    let kind = fsafe::Kind::of(&meta);
    if kind != fsafe::Kind::Socket {
        return Err(format!(
            "it exists and is {}: expected a socket or nothing there (left untouched)",
            kind.describe()
        ));
    }
    if meta.st_uid != own_uid() {
        return Err(format!(
            "it is a socket owned by uid {}: expected one of tend's user (uid {}) or nothing \
             there (left untouched)",
            meta.st_uid,
            own_uid()
        ));
    }
    match StdStream::connect(path) {
        Ok(_) => Err(
            "another process listens on it: expected a stale socket or nothing \
                      there (is another tend using the same directory?)"
                .to_owned(),
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
            // Still the socket we inspected: not one swapped in while we connected.
            match dir.stat_of(name) {
                Ok(now) if now.st_dev == meta.st_dev && now.st_ino == meta.st_ino => dir
                    .unlink(name)
                    .map_err(|e| format!("cannot remove the stale socket: {e}")),
                _ => Err("it changed while tend looked at it (left untouched)".to_owned()),
            }
        }
        Err(e) => Err(format!(
            "cannot tell whether the socket there is stale: {e} (left untouched)"
        )),
    }
}

async fn accept_loop(
    listener: UnixListener,
    snapshots: watch::Receiver<Snapshot>,
    requests: mpsc::UnboundedSender<Request>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut reported = false;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Too many at once: close this one unanswered rather than queue it.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let snapshots = snapshots.clone();
                let requests = requests.clone();
                tokio::spawn(async move {
                    serve(stream, snapshots, requests).await;
                    drop(slot);
                });
            }
            Err(error) => {
                // Out of descriptors and the like: say so once, then retry slowly.
                if !reported {
                    reported = true;
                    emit!(warn, Event::ControlFailed, error = %error,
                        "control socket: cannot accept a connection: {error}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Why no request could be read.
enum ReadError {
    TooLong,
    NotUtf8,
    Closed,
    Io(std::io::Error),
}

/// Reads up to the first newline (or the end), at most MAX_REQUEST bytes.
async fn read_request(stream: &mut UnixStream) -> Result<String, ReadError> {
    let mut buf = Vec::with_capacity(MAX_REQUEST);
    let mut chunk = [0u8; MAX_REQUEST];
    loop {
        let n = stream.read(&mut chunk).await.map_err(ReadError::Io)?;
        if n == 0 {
            if buf.is_empty() {
                return Err(ReadError::Closed);
            }
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(end);
            break;
        }
        if buf.len() > MAX_REQUEST {
            return Err(ReadError::TooLong);
        }
    }
    if buf.len() > MAX_REQUEST {
        return Err(ReadError::TooLong);
    }
    String::from_utf8(buf).map_err(|_| ReadError::NotUtf8)
}

/// Writes the answer line and closes. What the client sent beyond its request is read
/// and dropped first (a little, briefly): closing a unix socket with unread data makes
/// the client's next read fail with a reset instead of the end of the answer.
async fn answer(stream: &mut UnixStream, line: String) {
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    let _ = timeout(WRITE_TIMEOUT, stream.write_all(&bytes)).await;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left = DRAIN_LIMIT;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = timeout(DRAIN_TIMEOUT, drain).await;
}

/// Logs and answers a request that is not one of the words.
async fn bad_request(stream: &mut UnixStream, uid: u32, pid: i32, error: &str) {
    emit!(
        info,
        Event::ControlRequest,
        accepted = false,
        uid,
        pid,
        reason = "bad_request",
        "control request from uid {uid} (pid {pid}) refused: {error}"
    );
    answer(stream, refused(error)).await;
}

/// The request for the supervisor; a request about services only if it names services
/// this tend runs (its snapshot's), else Err with the client's error.
fn to_ask(verb: Verb, snapshot: &Snapshot) -> Result<Ask, String> {
    match verb {
        Verb::Restart => Ok(Ask::Restart),
        Verb::Stop => Ok(Ask::Stop),
        Verb::Services { verb, names } => {
            let known: Vec<&str> = snapshot.services.iter().map(|s| s.name.as_str()).collect();
            services::check_known(verb, &names, &known)?;
            Ok(Ask::Services { verb, names })
        }
        // Answered by `serve` from the snapshot, never asked of the supervisor.
        Verb::Status => Err("status is answered from the snapshot".to_owned()),
    }
}

async fn serve(
    mut stream: UnixStream,
    snapshots: watch::Receiver<Snapshot>,
    requests: mpsc::UnboundedSender<Request>,
) {
    let (uid, pid) = match stream.peer_cred() {
        Ok(cred) => (cred.uid(), cred.pid().unwrap_or(0)),
        Err(error) => {
            emit!(info, Event::ControlRequest, accepted = false, error = %error,
                "control connection refused: cannot read its peer credentials: {error}");
            return;
        }
    };
    let own = own_uid();
    if !allowed(uid, own) {
        emit!(info, Event::ControlRequest, accepted = false, uid, pid, reason = "other_user",
            "control connection from uid {uid} (pid {pid}) refused: only uid {own} (tend's user) and root may control tend");
        let error = format!(
            "refused: uid {uid} may not control this tend (only uid {own}, tend's user, and root)"
        );
        answer(&mut stream, refused(&error)).await;
        return;
    }
    let line = match timeout(READ_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(line)) => line,
        Ok(Err(ReadError::Closed)) => return,
        Ok(Err(ReadError::Io(error))) => {
            emit!(debug, Event::ControlRequest, accepted = false, uid, pid, error = %error,
                "control connection from uid {uid} (pid {pid}) failed: {error}");
            return;
        }
        Ok(Err(ReadError::TooLong | ReadError::NotUtf8)) => {
            let error = format!(
                "bad request: expected one line of at most {MAX_REQUEST} bytes: restart, stop \
                 or status, or start, stop or restart followed by service names or --all"
            );
            bad_request(&mut stream, uid, pid, &error).await;
            return;
        }
        Err(_) => {
            emit!(
                debug,
                Event::ControlRequest,
                accepted = false,
                uid,
                pid,
                reason = "timeout",
                "control connection from uid {uid} (pid {pid}) sent no request within {}: closed",
                format_duration(READ_TIMEOUT)
            );
            return;
        }
    };
    let verb = match Verb::parse(&line) {
        Ok(verb) => verb,
        Err(error) => {
            bad_request(&mut stream, uid, pid, &error).await;
            return;
        }
    };
    if verb == Verb::Status {
        emit!(
            debug,
            Event::ControlRequest,
            request = "status",
            accepted = true,
            uid,
            pid,
            "control request status from uid {uid} (pid {pid})"
        );
        let snapshot = snapshots.borrow().clone();
        answer(&mut stream, status_answer(&snapshot)).await;
        return;
    }
    let request = verb.line();
    let checked = to_ask(verb, &snapshots.borrow());
    let ask = match checked {
        Ok(ask) => ask,
        Err(error) => {
            super::log_refused(&request, uid, pid, "unknown_service", &error);
            answer(&mut stream, refused(&error)).await;
            return;
        }
    };
    // The supervisor logs its verdict (control_request) as it gives it.
    let (written, written_rx) = oneshot::channel::<()>();
    let reply = match ask_supervisor(&requests, ask.clone(), uid, pid, written_rx).await {
        Ok(verdict) => match verdict_text(&ask, &verdict) {
            Ok(text) => accepted(&request, &text),
            Err(error) => refused(&error),
        },
        Err((reason, error)) => {
            super::log_refused(&request, uid, pid, reason, &error);
            refused(&error)
        }
    };
    answer(&mut stream, reply).await;
    drop(written);
}

/// Hands `ask` to the supervisor and waits (at most `ask.wait()`: SUPERVISOR_WAIT for a
/// restart or stop, SERVICE_WAIT for a request about services, answered when done) for its
/// verdict. Err with the event's `reason` and the client's error when there is none: the
/// supervisor then never acts on a restart or stop (it carries out only a request whose
/// verdict it could deliver, and the receiver is dropped here on the timeout); a request
/// about services it had taken may still be under way.
async fn ask_supervisor(
    requests: &mpsc::UnboundedSender<Request>,
    ask: Ask,
    uid: u32,
    pid: i32,
    written: oneshot::Receiver<()>,
) -> Result<Verdict, (&'static str, String)> {
    let exiting = || {
        (
            "exiting",
            "tend is exiting: the supervisor takes no more requests".to_owned(),
        )
    };
    let wait = ask.wait();
    let about_services = matches!(ask, Ask::Services { .. });
    let (reply, verdict) = oneshot::channel();
    requests
        .send(Request {
            ask,
            uid,
            pid,
            reply,
            written,
        })
        .map_err(|_| exiting())?;
    match timeout(wait, verdict).await {
        Ok(Ok(verdict)) => Ok(verdict),
        Ok(Err(_)) => Err(exiting()),
        Err(_) if about_services => Err((
            "no_verdict",
            format!(
                "no verdict from tend within {}: if it took the request, the work may still \
                 be under way (`tend status` shows the services); if it was busy, it was not \
                 carried out",
                format_duration(wait)
            ),
        )),
        Err(_) => Err((
            "busy",
            format!(
                "tend is busy (running a remediation command or the post-stop hooks) and did \
                 not take the request within {}: it was not carried out; ask again",
                format_duration(wait)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ServiceVerb;
    use crate::status::{ServiceStatus, State};

    fn service(name: &str) -> ServiceStatus {
        ServiceStatus {
            name: name.into(),
            state: State::Running,
            pid: Some(7),
            oneshot: false,
            restarts: 0,
            last_exit: None,
            health_check: false,
            health: crate::policy::Health::Unknown,
            consecutive_failures: 0,
            reason: None,
        }
    }

    #[test]
    fn requests_about_services_name_services_of_this_tend() {
        let mut snapshot = Snapshot::new();
        let start = |names: &[&str]| Verb::Services {
            verb: ServiceVerb::Start,
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        // Without services, a restart and a stop are what they always were.
        assert_eq!(to_ask(Verb::Restart, &snapshot), Ok(Ask::Restart));
        assert_eq!(to_ask(Verb::Stop, &snapshot), Ok(Ask::Stop));
        let none = to_ask(start(&["web"]), &snapshot).unwrap_err();
        assert!(none.contains("runs no services"), "{none}");
        let none = to_ask(start(&[]), &snapshot).unwrap_err();
        assert!(none.contains("runs no services"), "{none}");
        snapshot.services = vec![service("api"), service("web")];
        assert_eq!(
            to_ask(start(&["web"]), &snapshot),
            Ok(Ask::Services {
                verb: ServiceVerb::Start,
                names: vec!["web".into()]
            })
        );
        assert_eq!(
            to_ask(start(&[]), &snapshot),
            Ok(Ask::Services {
                verb: ServiceVerb::Start,
                names: Vec::new()
            })
        );
        let unknown = to_ask(start(&["web", "db"]), &snapshot).unwrap_err();
        assert_eq!(
            unknown,
            "no service named \"db\": the services are api, web"
        );
    }

    #[test]
    fn directory_safety() {
        assert_eq!(untrusted_dir(0o40755, 0, 0), None);
        assert_eq!(untrusted_dir(0o40700, 1000, 1000), None);
        assert_eq!(untrusted_dir(0o41777, 0, 1000), None, "sticky /tmp is fine");
        assert!(untrusted_dir(0o40777, 0, 0).is_some_and(|m| m.contains("0777")));
        assert!(untrusted_dir(0o40775, 1000, 1000).is_some());
        assert!(untrusted_dir(0o40755, 1000, 0).is_some_and(|m| m.contains("uid 1000")));
    }
}
