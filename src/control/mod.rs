//! The control socket: `tend restart` and `tend stop` ask the running tend, over a unix
//! socket beside the status file (mode 0600, other users refused), to restart the child
//! or to begin the shutdown; `tend start|stop|restart NAME...|--all` to start, stop or
//! restart services. The supervisor judges the requests (in order, as the one owner of
//! the state) and acts on them; the server relays them and the verdicts.
//!
//! Protocol: the client sends one line (`restart`, `stop`, `status`, or a verb with the
//! services it names: `start web api`, `stop --all`), tend answers one line of JSON and
//! closes. Every answer has `accepted`; a refusal has `error`, an accepted
//! `restart`/`stop`/service request has `message`, an accepted `status` has `status`
//! (the snapshot, as in the status file). A tend that predates services answers a line
//! with names as an unknown request: never as the `stop` or `restart` without them.

mod client;
mod server;
pub mod services;

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
pub use services::ServiceVerb;

/// The socket's name in the status file's directory (TEND_CONTROL_SOCKET unset).
pub const SOCKET_NAME: &str = "control.sock";
/// Longest request line accepted: a verb and the names of the services it is about.
const MAX_REQUEST: usize = 4096;
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
/// How long the server waits for the supervisor's verdict on a request about services,
/// which it gives when the work is done: a stop takes up to each service's shutdown
/// timeout (and its dependents'), a start waits up to 60 s for the service's health.
const SERVICE_WAIT: Duration = Duration::from_secs(90);
/// How long `tend start|stop|restart NAME...` wait for the answer: longer than
/// SERVICE_WAIT, so that the client gets the server's "no verdict" rather than nothing.
const SERVICE_CLIENT_TIMEOUT: Duration = Duration::from_secs(95);
/// Connections served at once; more are closed at once without an answer.
const MAX_CONNECTIONS: usize = 8;

/// What a client may ask: one request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Restart the main command (`tend restart`).
    Restart,
    /// Shut tend down (`tend stop`).
    Stop,
    Status,
    /// Start, stop or restart services: those named (checked by `services::names`), or
    /// every service when `names` is empty (`--all`).
    Services {
        verb: ServiceVerb,
        names: Vec<String>,
    },
}

impl Verb {
    /// The request's first word: `restart`, `stop`, `status` or `start`.
    pub fn word(&self) -> &'static str {
        match self {
            Verb::Restart => "restart",
            Verb::Stop => "stop",
            Verb::Status => "status",
            Verb::Services { verb, .. } => verb.word(),
        }
    }

    /// The request line as sent (without its newline): the word, and for services the
    /// names or `--all`.
    pub fn line(&self) -> String {
        match self {
            Verb::Services { verb, names } => services::line(*verb, names),
            _ => self.word().to_owned(),
        }
    }

    /// Reads one request line (without its newline; a trailing `\r` and blanks are
    /// tolerated). Err says what is wrong with it.
    fn parse(line: &str) -> Result<Verb, String> {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        match (first, rest.as_slice()) {
            ("restart", []) => Ok(Verb::Restart),
            ("stop", []) => Ok(Verb::Stop),
            ("status", []) => Ok(Verb::Status),
            ("start", []) => Err(format!(
                "start needs the services to start: start NAME... or start {}",
                services::ALL
            )),
            (word, names) if !names.is_empty() => {
                let verb = ServiceVerb::from_word(word).ok_or_else(|| unknown_request(line))?;
                let names = match names {
                    [all] if *all == services::ALL => Vec::new(),
                    names => services::names(verb, names)?,
                };
                Ok(Verb::Services { verb, names })
            }
            _ => Err(unknown_request(line)),
        }
    }
}

fn unknown_request(line: &str) -> String {
    let shown: String = line.trim().chars().take(80).collect();
    format!(
        "unknown request {}: expected restart, stop or status, or start, stop or restart \
         followed by service names or --all",
        crate::shown::quoted(&shown)
    )
}

/// Who may use the socket: the user tend runs as, and root (who could signal tend anyway).
fn allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == own_uid || peer_uid == 0
}

/// What a client may ask of the supervisor (`status` is answered from the snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Restart the main command.
    Restart,
    /// Shut tend down.
    Stop,
    /// Start, stop or restart the services named, each a service of this tend (the
    /// server checked them against the snapshot), without repeats, in the order given;
    /// empty: every service (`--all`). Answered when the work is done (`Verdict::Done`
    /// or `Verdict::Failed`), within SERVICE_WAIT.
    Services {
        verb: ServiceVerb,
        names: Vec<String>,
    },
}

impl Ask {
    /// The request as the event `control_request` names it: its line.
    fn line(&self) -> String {
        match self {
            Ask::Restart => Verb::Restart.line(),
            Ask::Stop => Verb::Stop.line(),
            Ask::Services { verb, names } => services::line(*verb, names),
        }
    }

    /// How long the server waits for the verdict.
    fn wait(&self) -> Duration {
        match self {
            Ask::Services { .. } => SERVICE_WAIT,
            Ask::Restart | Ask::Stop => SUPERVISOR_WAIT,
        }
    }
}

/// The answer to a request about services from a tend that runs none.
pub const SERVICES_NOT_RUN: &str = "this tend runs no services";

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
    /// connection no longer waits (it was answered "busy" and logged so): a restart or
    /// stop must then not be carried out (None). A request about services is answered
    /// when its work is done: its outcome is logged even when the client gave up.
    /// Returns the `written` receiver of the delivered answer.
    pub fn answer(self, verdict: Verdict) -> Option<oneshot::Receiver<()>> {
        let request = self.ask.line();
        let (uid, pid) = (self.uid, self.pid);
        let text = verdict_text(&self.ask, &verdict);
        let delivered = self.reply.send(verdict).is_ok();
        if !delivered && !matches!(self.ask, Ask::Services { .. }) {
            return None;
        }
        let gone = if delivered {
            ""
        } else {
            " (the client no longer waited for the answer)"
        };
        match text {
            Ok(text) => emit!(
                info,
                Event::ControlRequest,
                request = request.as_str(),
                accepted = true,
                uid,
                pid,
                "control request {request} from uid {uid} (pid {pid}): {text}{gone}"
            ),
            Err(error) => log_refused(&request, uid, pid, "state", &format!("{error}{gone}")),
        }
        delivered.then_some(self.written)
    }
}

/// Logs a request that was refused (`control_request`, `accepted=false`).
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted: the supervisor carries it out now. `pid`: the child it stops. For a
    /// request about services (`judge`): taken, to be answered with `Done` or `Failed`
    /// when its work is over.
    Accepted { pid: Option<i32> },
    /// A stop while tend already shuts down: accepted, nothing to do.
    AlreadyStopping(State),
    /// Refused in this state (a restart while another is under way or tend shuts down).
    Refused(State),
    /// The work asked for is done: what happened, a line per service, such as `web:
    /// stopped (and its dependents: api)`. The client prints it and exits 0.
    Done(String),
    /// The work could not be done, or not all of it: why, naming each service, such as
    /// `web: not healthy within 60s (last check: connection refused)`. The client prints
    /// it and exits 1.
    Failed(String),
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
/// child's start); a stop is always accepted. A request about services is refused while
/// tend shuts down (a stop of them is then under way: `AlreadyStopping`), else taken
/// (`Accepted { pid: None }`): the supervisor carries it out and answers it when done.
pub fn judge(ask: &Ask, state: State, pid: Option<i32>) -> Verdict {
    match ask {
        Ask::Restart if shutting_down(state) || state == State::Restarting => {
            Verdict::Refused(state)
        }
        Ask::Stop if shutting_down(state) => Verdict::AlreadyStopping(state),
        Ask::Restart | Ask::Stop => Verdict::Accepted { pid },
        Ask::Services {
            verb: ServiceVerb::Stop,
            ..
        } if shutting_down(state) => Verdict::AlreadyStopping(state),
        Ask::Services { .. } if shutting_down(state) => Verdict::Refused(state),
        Ask::Services { .. } => Verdict::Accepted { pid: None },
    }
}

/// The answer for the client: Ok(message) when accepted, Err(error) when refused.
fn verdict_text(ask: &Ask, verdict: &Verdict) -> Result<String, String> {
    let child = |pid: &Option<i32>| match pid {
        Some(pid) => format!("child pid {pid}"),
        None => "the child".to_owned(),
    };
    match (ask, verdict) {
        (_, Verdict::Done(text)) => Ok(text.clone()),
        (_, Verdict::Failed(text)) => Err(text.clone()),
        (Ask::Services { .. }, Verdict::Accepted { .. }) => {
            Ok(format!("{}: under way", ask.line()))
        }
        (Ask::Services { .. }, Verdict::AlreadyStopping(state)) => Ok(format!(
            "tend is already shutting down (state {}): every service is being stopped",
            state_name(*state)
        )),
        (Ask::Services { verb, .. }, Verdict::Refused(state)) => Err(format!(
            "tend is shutting down (state {}): no service is {} now",
            state_name(*state),
            match verb {
                ServiceVerb::Start => "started",
                ServiceVerb::Stop => "stopped",
                ServiceVerb::Restart => "restarted",
            }
        )),
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
            state_name(*state)
        )),
        (_, Verdict::Refused(State::Restarting)) => Err(
            "a restart is already under way (state restarting): this request was not carried \
             out; ask again once the child runs"
                .to_owned(),
        ),
        (_, Verdict::Refused(state)) => Err(format!(
            "tend is shutting down (state {}): there is nothing to restart",
            state_name(*state)
        )),
    }
}

/// An accepted request's answer; `request` is the request line (`restart`, `start web`).
fn accepted(request: &str, message: &str) -> String {
    json!({ "accepted": true, "request": request, "message": message }).to_string()
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
        assert_eq!(Verb::parse("restart"), Ok(Verb::Restart));
        assert_eq!(Verb::parse("stop\r"), Ok(Verb::Stop));
        assert_eq!(Verb::parse(" status "), Ok(Verb::Status));
        for bad in ["RESTART", "", "reboot", "status web", "reboot web"] {
            let error = Verb::parse(bad).expect_err(bad);
            assert!(error.starts_with("unknown request"), "{bad:?}: {error}");
        }
    }

    fn services(verb: ServiceVerb, names: &[&str]) -> Verb {
        let names = names.iter().map(|n| n.to_string()).collect();
        Verb::Services { verb, names }
    }

    #[test]
    fn requests_about_services_on_the_wire() {
        let cases = [
            ("start web", services(ServiceVerb::Start, &["web"])),
            ("stop web api", services(ServiceVerb::Stop, &["web", "api"])),
            ("restart --all", services(ServiceVerb::Restart, &[])),
            ("stop --all", services(ServiceVerb::Stop, &[])),
        ];
        for (line, verb) in cases {
            assert_eq!(verb.line(), line);
            assert_eq!(Verb::parse(line), Ok(verb.clone()), "{line}");
            assert_eq!(Verb::parse(&format!(" {line}\r")), Ok(verb), "{line}");
        }
        // Read as the command line reads them: lowercased, without repeats.
        assert_eq!(
            Verb::parse("start  WEB web"),
            Ok(services(ServiceVerb::Start, &["web"]))
        );
        // `stop` and `restart` without names keep their meaning: the main command.
        assert_eq!(Verb::parse("stop").map(|v| v.line()), Ok("stop".into()));
        for bad in [
            "start",
            "start --all web",
            "stop web --all",
            "start main",
            "restart we$b",
        ] {
            assert!(Verb::parse(bad).is_err(), "{bad:?}");
        }
        let line = Verb::parse("restart main").unwrap_err();
        assert!(line.contains("main command"), "{line}");
    }

    #[test]
    fn the_wait_for_a_verdict_depends_on_the_request() {
        assert_eq!(Ask::Restart.wait(), SUPERVISOR_WAIT);
        assert_eq!(Ask::Stop.wait(), SUPERVISOR_WAIT);
        let ask = Ask::Services {
            verb: ServiceVerb::Start,
            names: vec!["web".into()],
        };
        assert_eq!(ask.wait(), SERVICE_WAIT);
        assert_eq!(ask.line(), "start web");
        // Each client waits longer than its server does, so that it gets the server's
        // "no verdict" rather than no answer at all.
        assert!(CLIENT_TIMEOUT > SUPERVISOR_WAIT);
        assert!(SERVICE_CLIENT_TIMEOUT > SERVICE_WAIT);
        assert!(SERVICE_WAIT >= Duration::from_secs(60) + SUPERVISOR_WAIT);
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
            assert_eq!(judge(&Ask::Restart, state, pid), Verdict::Accepted { pid });
            assert_eq!(judge(&Ask::Stop, state, pid), Verdict::Accepted { pid });
        }
        // A restart under way (its stop, its delay): another restart is refused, a stop
        // is accepted (it ends tend instead of starting the new child).
        assert_eq!(
            judge(&Ask::Restart, State::Restarting, pid),
            Verdict::Refused(State::Restarting)
        );
        assert_eq!(
            judge(&Ask::Stop, State::Restarting, None),
            Verdict::Accepted { pid: None }
        );
        for state in [
            State::Draining,
            State::Stopping,
            State::Stopped,
            State::Failed,
        ] {
            assert_eq!(judge(&Ask::Restart, state, pid), Verdict::Refused(state));
            assert_eq!(
                judge(&Ask::Stop, state, pid),
                Verdict::AlreadyStopping(state)
            );
        }
    }

    #[test]
    fn requests_about_services_are_taken_unless_tend_shuts_down() {
        let ask = |verb| Ask::Services {
            verb,
            names: vec!["web".into()],
        };
        for state in [
            State::Initializing,
            State::Starting,
            State::Running,
            State::Restarting,
        ] {
            for verb in [ServiceVerb::Start, ServiceVerb::Stop, ServiceVerb::Restart] {
                // Taken, whatever the main command's child: answered when done.
                assert_eq!(
                    judge(&ask(verb), state, Some(42)),
                    Verdict::Accepted { pid: None }
                );
            }
        }
        for state in [State::Draining, State::Stopping] {
            assert_eq!(
                judge(&ask(ServiceVerb::Start), state, None),
                Verdict::Refused(state)
            );
            assert_eq!(
                judge(&ask(ServiceVerb::Restart), state, None),
                Verdict::Refused(state)
            );
            assert_eq!(
                judge(&ask(ServiceVerb::Stop), state, None),
                Verdict::AlreadyStopping(state)
            );
        }
    }

    #[test]
    fn verdicts_in_words() {
        let accepted = verdict_text(&Ask::Restart, &Verdict::Accepted { pid: Some(42) });
        assert!(accepted.is_ok_and(|m| m.contains("child pid 42")));
        let accepted = verdict_text(&Ask::Stop, &Verdict::Accepted { pid: None });
        assert!(accepted.is_ok_and(|m| m.contains("stop requested")));
        let refused = verdict_text(&Ask::Restart, &Verdict::Refused(State::Restarting));
        assert!(refused.is_err_and(|e| e.contains("already under way")));
        let refused = verdict_text(&Ask::Restart, &Verdict::Refused(State::Draining));
        assert!(refused.is_err_and(|e| e.contains("state draining")));
        let nothing = verdict_text(&Ask::Stop, &Verdict::AlreadyStopping(State::Stopping));
        assert!(nothing.is_ok_and(|m| m.contains("already shutting down")));
    }

    #[test]
    fn verdicts_on_services_in_words() {
        let stop = Ask::Services {
            verb: ServiceVerb::Stop,
            names: vec!["web".into()],
        };
        let done = Verdict::Done("web: stopped (and its dependents: api)".into());
        assert_eq!(
            verdict_text(&stop, &done),
            Ok("web: stopped (and its dependents: api)".into())
        );
        let failed = Verdict::Failed("web: not stopped: busy".into());
        assert_eq!(
            verdict_text(&stop, &failed),
            Err("web: not stopped: busy".into())
        );
        let refused = verdict_text(&stop, &Verdict::Refused(State::Draining));
        assert!(refused.is_err_and(|e| e.contains("no service is stopped now")));
        let under_way = verdict_text(&stop, &Verdict::Accepted { pid: None });
        assert_eq!(under_way, Ok("stop web: under way".into()));
        let nothing = verdict_text(&stop, &Verdict::AlreadyStopping(State::Stopping));
        assert!(nothing.is_ok_and(|m| m.contains("every service is being stopped")));
    }

    #[test]
    fn answers_are_one_json_line() {
        for line in [
            accepted("restart", "ok"),
            accepted("start web", "web: running\napi: running"),
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
