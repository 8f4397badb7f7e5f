//! The control socket: `tend restart` and `tend stop` ask the running tend, over a unix
//! socket beside the status file (mode 0600, other users refused), to restart the child
//! or to begin the shutdown. The supervisor acts on the requests; this only relays them.
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

use crate::config::path_setting;
use crate::status::{Snapshot, State};
use crate::supervisor::Request;

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

/// What tend does with an accepted request, given the current snapshot.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Hand this request to the supervisor and answer `accepted` with the message.
    Send(Request, String),
    /// Answer `accepted` with the message; nothing to do.
    Nothing(String),
    /// Answer the snapshot.
    Status,
    /// Answer `accepted: false` with this error.
    Refuse(String),
}

fn shutting_down(state: State) -> bool {
    matches!(
        state,
        State::Draining | State::Stopping | State::Stopped | State::Failed
    )
}

fn state_name(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}"))
}

fn decide(verb: Verb, snapshot: &Snapshot) -> Decision {
    let state = snapshot.state;
    let child = match snapshot.child_pid {
        Some(pid) => format!("child pid {pid}"),
        None => "the child".to_owned(),
    };
    match verb {
        Verb::Status => Decision::Status,
        Verb::Restart if shutting_down(state) => Decision::Refuse(format!(
            "tend is shutting down (state {}): there is nothing to restart",
            state_name(state)
        )),
        Verb::Restart if state == State::Restarting => Decision::Refuse(
            "a restart is already under way (state restarting): ask again once the child runs"
                .to_owned(),
        ),
        Verb::Restart => Decision::Send(
            Request::Restart,
            format!("restart requested: {child} gets the stop signal, then a new child starts"),
        ),
        Verb::Stop if shutting_down(state) => Decision::Nothing(format!(
            "tend is already shutting down (state {})",
            state_name(state)
        )),
        Verb::Stop => Decision::Send(
            Request::Stop,
            format!("stop requested: tend begins the shutdown sequence ({child})"),
        ),
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
    fn decisions_follow_the_state() {
        let running = snapshot(State::Running);
        assert!(matches!(
            decide(Verb::Restart, &running),
            Decision::Send(Request::Restart, m) if m.contains("child pid 42")
        ));
        assert!(matches!(
            decide(Verb::Stop, &running),
            Decision::Send(Request::Stop, _)
        ));
        assert!(matches!(
            decide(Verb::Restart, &snapshot(State::Starting)),
            Decision::Send(Request::Restart, _)
        ));
        assert!(matches!(
            decide(Verb::Restart, &snapshot(State::Restarting)),
            Decision::Refuse(m) if m.contains("already")
        ));
        for state in [
            State::Draining,
            State::Stopping,
            State::Stopped,
            State::Failed,
        ] {
            assert!(matches!(
                decide(Verb::Restart, &snapshot(state)),
                Decision::Refuse(m) if m.contains(&state_name(state))
            ));
            assert!(matches!(
                decide(Verb::Stop, &snapshot(state)),
                Decision::Nothing(_)
            ));
        }
        assert_eq!(decide(Verb::Status, &running), Decision::Status);
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
