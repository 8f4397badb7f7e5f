//! The control socket: `tend restart` and `tend stop` ask the running tend, over a unix
//! socket beside the status file (mode 0600, other users refused), to restart the child
//! or to begin the shutdown. The supervisor judges the requests (in order, as the one
//! owner of the state) and acts on them; the server relays them and the verdicts.
//!
//! Protocol: the client sends one line (`restart`, `stop` or `status`), tend answers one
//! line of JSON and closes. Every answer has `accepted`; a refusal has `error`, an
//! accepted `restart`/`stop` has `message`, an accepted `status` has `status` (the
//! snapshot, as in the status file).

mod client;
mod server;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use tokio::sync::oneshot;

use crate::config::path_setting;
use crate::emit;
use crate::events::Event;
use crate::status::{Snapshot, State};

pub use client::main;
pub use server::{remove_socket, start};

/// The socket's name in the status file's directory (TEND_CONTROL_SOCKET unset).
pub const SOCKET_NAME: &str = "control.sock";
/// Longest request line accepted (the longest word is 7 bytes).
const MAX_REQUEST: usize = 64;
/// How long a client may take to send its request after connecting.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long tend waits for a client to take its answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the server waits for the supervisor's verdict on a restart or stop. The
/// supervisor answers at once while it supervises, restarts or shuts down; it does not
/// listen while it runs a remediation command or the post-stop hooks. Shorter than
/// CLIENT_TIMEOUT, so that the client gets the refusal ("busy") rather than no answer.
const SUPERVISOR_WAIT: Duration = Duration::from_secs(3);
/// How long `tend restart`/`tend stop` wait for the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed at once without an answer.
const MAX_CONNECTIONS: usize = 8;

/// What a client may ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Restart,
    Stop,
    Status,
}

impl Verb {
    pub fn word(self) -> &'static str {
        match self {
            Verb::Restart => "restart",
            Verb::Stop => "stop",
            Verb::Status => "status",
        }
    }

    /// Reads one request line (without its newline; a trailing `\r` and blanks are
    /// tolerated).
    fn parse(line: &str) -> Option<Verb> {
        match line.trim() {
            "restart" => Some(Verb::Restart),
            "stop" => Some(Verb::Stop),
            "status" => Some(Verb::Status),
            _ => None,
        }
    }
}

/// Who may use the socket: the user tend runs as, and root (who could signal tend anyway).
fn allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == own_uid || peer_uid == 0
}

/// What a client may ask of the supervisor (`status` is answered from the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Restart,
    Stop,
}

impl Ask {
    fn word(self) -> &'static str {
        match self {
            Ask::Restart => Verb::Restart.word(),
            Ask::Stop => Verb::Stop.word(),
        }
    }
}

/// A request on its way to the supervisor, with the channel for its verdict. The
/// supervisor, the one owner of the state, judges the requests one at a time, in order,
/// and carries out an accepted one only if its verdict was delivered (the server may have
/// stopped waiting: see `SUPERVISOR_WAIT`).
#[derive(Debug)]
pub struct Request {
    pub ask: Ask,
    /// The client's uid and pid (0 in another PID namespace), for the event.
    pub uid: u32,
    pub pid: i32,
    pub reply: oneshot::Sender<Verdict>,
    /// Closed by the server once the answer is written (or given up): tend waits for it,
    /// briefly, before it exits (see `Supervisor::answers_written`).
    pub written: oneshot::Receiver<()>,
}

impl Request {
    /// Sends the verdict to the client's connection and logs it (`control_request`), so
    /// that the event comes before whatever the supervisor then does. Fails when the
    /// connection no longer waits (it was answered "busy" and logged so): the request
    /// must then not be carried out (None).
    /// Returns the `written` receiver of the delivered answer.
    pub fn answer(self, verdict: Verdict) -> Option<oneshot::Receiver<()>> {
        if self.reply.send(verdict).is_err() {
            return None;
        }
        let (request, uid, pid) = (self.ask.word(), self.uid, self.pid);
        match verdict_text(self.ask, verdict) {
            Ok(text) => emit!(
                info,
                Event::ControlRequest,
                request,
                accepted = true,
                uid,
                pid,
                "control request {request} from uid {uid} (pid {pid}): {text}"
            ),
            Err(error) => log_refused(request, uid, pid, "state", &error),
        }
        Some(self.written)
    }
}

/// Logs a restart or stop that was refused (`control_request`, `accepted=false`).
pub(crate) fn log_refused(request: &str, uid: u32, pid: i32, reason: &str, error: &str) {
    emit!(
        info,
        Event::ControlRequest,
        request,
        accepted = false,
        uid,
        pid,
        reason,
        "control request {request} from uid {uid} (pid {pid}) refused: {error}"
    );
}

/// The supervisor's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: the supervisor carries it out now. `pid`: the child it stops.
    Accepted { pid: Option<i32> },
    /// A stop while tend already shuts down: accepted, nothing to do.
    AlreadyStopping(State),
    /// Refused in this state (a restart while another is under way or tend shuts down).
    Refused(State),
}

fn shutting_down(state: State) -> bool {
    matches!(
        state,
        State::Draining | State::Stopping | State::Stopped | State::Failed
    )
}

fn state_name(state: State) -> &'static str {
    state.name()
}

/// The supervisor's verdict on `ask` in its current `state`, with `pid` the child it runs.
/// A restart is accepted only while no restart and no shutdown is under way (the state is
/// `restarting` from the restart's announcement, through its stop and delay, to the new
/// child's start); a stop is always accepted.
pub fn judge(ask: Ask, state: State, pid: Option<i32>) -> Verdict {
    match ask {
        Ask::Restart if shutting_down(state) || state == State::Restarting => {
            Verdict::Refused(state)
        }
        Ask::Stop if shutting_down(state) => Verdict::AlreadyStopping(state),
        Ask::Restart | Ask::Stop => Verdict::Accepted { pid },
    }
}

/// The answer for the client: Ok(message) when accepted, Err(error) when refused.
fn verdict_text(ask: Ask, verdict: Verdict) -> Result<String, String> {
    let child = |pid: Option<i32>| match pid {
        Some(pid) => format!("child pid {pid}"),
        None => "the child".to_owned(),
    };
    match (ask, verdict) {
        (Ask::Restart, Verdict::Accepted { pid }) => Ok(format!(
            "restart requested: {} gets the stop signal, then a new child starts",
            child(pid)
        )),
        (Ask::Stop, Verdict::Accepted { pid }) => Ok(format!(
            "stop requested: tend begins the shutdown sequence ({})",
            child(pid)
        )),
        (_, Verdict::AlreadyStopping(state)) => Ok(format!(
            "tend is already shutting down (state {})",
            state_name(state)
        )),
        (_, Verdict::Refused(State::Restarting)) => Err(
            "a restart is already under way (state restarting): this request was not carried \
             out; ask again once the child runs"
                .to_owned(),
        ),
        (_, Verdict::Refused(state)) => Err(format!(
            "tend is shutting down (state {}): there is nothing to restart",
            state_name(state)
        )),
    }
}

fn accepted(verb: Verb, message: &str) -> String {
    json!({ "accepted": true, "request": verb.word(), "message": message }).to_string()
}

fn status_answer(snapshot: &Snapshot) -> String {
    json!({ "accepted": true, "request": "status", "status": snapshot }).to_string()
}

fn refused(error: &str) -> String {
    json!({ "accepted": false, "error": error }).to_string()
}

/// TEND_CONTROL_SOCKET as the client reads it (already trimmed): `None` when it is `off`.
fn configured_path(value: &Path) -> Option<PathBuf> {
    let word = value.to_string_lossy();
    if word.eq_ignore_ascii_case("off") || word.eq_ignore_ascii_case("false") {
        None
    } else {
        Some(value.to_path_buf())
    }
}

/// The socket beside a status file.
fn beside(status_file: &Path) -> Option<PathBuf> {
    status_file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(SOCKET_NAME))
}

/// Where the client looks for the socket, in order: TEND_CONTROL_SOCKET, else beside
/// TEND_STATUS_FILE, else beside each default place of the status file; both variables
/// read as tend reads them (`config::path_setting`). Err when the socket is turned off.
fn client_paths(
    control: Option<OsString>,
    status_file: Option<OsString>,
    defaults: Vec<PathBuf>,
) -> Result<Vec<PathBuf>, String> {
    let setting = |value: Option<OsString>| value.as_deref().and_then(path_setting);
    if let Some(value) = setting(control) {
        return configured_path(&value).map(|p| vec![p]).ok_or_else(|| {
            format!(
                "the control socket is turned off (TEND_CONTROL_SOCKET={}): \
                 unset it, or set it to the socket's path, to control tend",
                value.display()
            )
        });
    }
    let statuses = match setting(status_file) {
        Some(file) => vec![file],
        None => defaults,
    };
    Ok(statuses.iter().filter_map(|s| beside(s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(state: State) -> Snapshot {
        let mut s = Snapshot::new();
        s.state = state;
        s.child_pid = Some(42);
        s
    }

    #[test]
    fn request_words() {
        assert_eq!(Verb::parse("restart"), Some(Verb::Restart));
        assert_eq!(Verb::parse("stop\r"), Some(Verb::Stop));
        assert_eq!(Verb::parse(" status "), Some(Verb::Status));
        assert_eq!(Verb::parse("RESTART"), None);
        assert_eq!(Verb::parse(""), None);
        assert_eq!(Verb::parse("reboot"), None);
    }

    #[test]
    fn only_own_user_and_root() {
        assert!(allowed(1000, 1000));
        assert!(allowed(0, 1000));
        assert!(allowed(0, 0));
        assert!(!allowed(1001, 1000));
        assert!(!allowed(65534, 0));
    }

    #[test]
    fn verdicts_follow_the_supervisors_state() {
        let pid = Some(42);
        for state in [State::Starting, State::Running] {
            assert_eq!(judge(Ask::Restart, state, pid), Verdict::Accepted { pid });
            assert_eq!(judge(Ask::Stop, state, pid), Verdict::Accepted { pid });
        }
        // A restart under way (its stop, its delay): another restart is refused, a stop
        // is accepted (it ends tend instead of starting the new child).
        assert_eq!(
            judge(Ask::Restart, State::Restarting, pid),
            Verdict::Refused(State::Restarting)
        );
        assert_eq!(
            judge(Ask::Stop, State::Restarting, None),
            Verdict::Accepted { pid: None }
        );
        for state in [
            State::Draining,
            State::Stopping,
            State::Stopped,
            State::Failed,
        ] {
            assert_eq!(judge(Ask::Restart, state, pid), Verdict::Refused(state));
            assert_eq!(
                judge(Ask::Stop, state, pid),
                Verdict::AlreadyStopping(state)
            );
        }
    }

    #[test]
    fn verdicts_in_words() {
        let accepted = verdict_text(Ask::Restart, Verdict::Accepted { pid: Some(42) });
        assert!(accepted.is_ok_and(|m| m.contains("child pid 42")));
        let accepted = verdict_text(Ask::Stop, Verdict::Accepted { pid: None });
        assert!(accepted.is_ok_and(|m| m.contains("stop requested")));
        let refused = verdict_text(Ask::Restart, Verdict::Refused(State::Restarting));
        assert!(refused.is_err_and(|e| e.contains("already under way")));
        let refused = verdict_text(Ask::Restart, Verdict::Refused(State::Draining));
        assert!(refused.is_err_and(|e| e.contains("state draining")));
        let nothing = verdict_text(Ask::Stop, Verdict::AlreadyStopping(State::Stopping));
        assert!(nothing.is_ok_and(|m| m.contains("already shutting down")));
    }

    #[test]
    fn answers_are_one_json_line() {
        for line in [
            accepted(Verb::Restart, "ok"),
            refused("no \"quotes\"\nhere"),
            status_answer(&snapshot(State::Running)),
        ] {
            assert!(!line.contains('\n'), "{line}");
            let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
            assert!(value["accepted"].is_boolean());
        }
        assert_eq!(state_name(State::Draining), "draining");
    }

    #[test]
    fn where_the_client_looks() {
        let defaults = vec![
            PathBuf::from("/run/tend/status.json"),
            PathBuf::from("/dev/shm/tend-0/status.json"),
        ];
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            client_paths(os("/x/ctl.sock"), os("/y/status.json"), defaults.clone()),
            Ok(vec![PathBuf::from("/x/ctl.sock")])
        );
        assert_eq!(
            client_paths(None, os("/y/status.json"), defaults.clone()),
            Ok(vec![PathBuf::from("/y/control.sock")])
        );
        assert_eq!(
            client_paths(os(""), None, defaults.clone()),
            Ok(vec![
                PathBuf::from("/run/tend/control.sock"),
                PathBuf::from("/dev/shm/tend-0/control.sock"),
            ])
        );
        // Read as tend reads them: trimmed, blank as unset.
        assert_eq!(
            client_paths(os(" /x/ctl.sock\n"), None, defaults.clone()),
            Ok(vec![PathBuf::from("/x/ctl.sock")])
        );
        assert_eq!(
            client_paths(os("  "), os("/y/status.json "), defaults.clone()),
            Ok(vec![PathBuf::from("/y/control.sock")])
        );
        assert_eq!(
            client_paths(None, os(" "), defaults.clone()),
            Ok(vec![
                PathBuf::from("/run/tend/control.sock"),
                PathBuf::from("/dev/shm/tend-0/control.sock"),
            ])
        );
        for off in ["off", "OFF", " false "] {
            let error = client_paths(os(off), None, defaults.clone()).unwrap_err();
            assert!(error.contains("TEND_CONTROL_SOCKET"), "{error}");
        }
        assert_eq!(beside(Path::new("status.json")), None);
    }
}
