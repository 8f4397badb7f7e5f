//! The asking side: `tend restart`, `tend stop`, `tend status --socket` and `tend
//! start|stop|restart NAME...|--all`. No runtime, no configuration parsing: find the
//! socket, send one line, print the answer.
//!
//! Exit codes: 0 the request was accepted; 1 it was refused, or no tend answered.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{client_paths, Verb, CLIENT_TIMEOUT, SERVICE_CLIENT_TIMEOUT};
use crate::duration::format_duration;
use crate::exit_code::ExitCode;
use crate::status::place::{allowed_uids, locate, Target};

/// Runs one request and returns the exit code.
pub fn main(verb: Verb, target: Target) -> i32 {
    if verb == Verb::Stop {
        // `docker exec c tend stop` runs inside tend's namespace: the stop it asks for
        // makes tend TERM every process left there, this client included, maybe before
        // it has read and printed the answer. It ignores TERM and ends on its own, within
        // CLIENT_TIMEOUT; INT and KILL still end it.
        crate::sys::signal::ignore(libc::SIGTERM);
    }
    let word = verb.word();
    let (path, allowed) = match socket(target) {
        Ok(found) => found,
        Err(message) => {
            eprintln!("tend {word}: {message}");
            return ExitCode::No as i32;
        }
    };
    match ask(&path, &verb, &allowed) {
        Ok(answer) => report(&verb, &path, &answer),
        Err(message) => {
            eprintln!("tend {word}: {message}");
            ExitCode::No as i32
        }
    }
}

/// The socket to ask, and the uids allowed to own it and listen on it. TEND_CONTROL_SOCKET
/// names it; else it is beside the asked-for tend's status file (`--pid` always is).
fn socket(target: Target) -> Result<(PathBuf, Vec<u32>), String> {
    let located = locate(target);
    let control = match target {
        Target::The => std::env::var_os("TEND_CONTROL_SOCKET"),
        Target::Pid(_) => None,
    };
    let status = located
        .as_ref()
        .ok()
        .map(|l| l.path.clone().into_os_string());
    let paths = client_paths(control, status, Vec::new())?;
    let tend_uid = located.as_ref().ok().and_then(|l| l.uid);
    match (paths.as_slice(), located) {
        ([path], _) => Ok((path.clone(), allowed_uids(own_uid(), tend_uid))),
        (_, Err(reason)) => Err(format!("no control socket found: {reason}")),
        (_, Ok(found)) => Err(format!(
            "no control socket beside {}: set TEND_CONTROL_SOCKET as tend has it",
            found.path.display()
        )),
    }
}

fn own_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The allowed owners in words, for a refusal.
fn expected(allowed: &[u32]) -> String {
    let uids: Vec<String> = allowed.iter().map(|u| format!("uid {u}")).collect();
    format!(
        "{} (root, yours, or the uid tend runs as by its status file)",
        uids.join(" or ")
    )
}

/// Before connecting: the path is a socket owned by an allowed uid. In a shared directory
/// such as /tmp, another user could have bound the path first, to answer in tend's name.
fn check_owner(path: &Path, allowed: &[u32]) -> Result<(), String> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(format!(
                "no control socket at {shown}: is tend running here, with TEND_CONTROL_SOCKET \
                 not off? Name a tend with --pid PID, TEND_STATUS_FILE or TEND_CONTROL_SOCKET"
            ))
        }
        Err(e) => return Err(format!("cannot inspect the control socket {shown}: {e}")),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "{shown} is not a socket: expected tend's control socket there (not trusted)"
        ));
    }
    if !allowed.contains(&meta.uid()) {
        return Err(format!(
            "refusing the control socket {shown}: it is owned by uid {}, expected {}; another \
             user may have bound it first",
            meta.uid(),
            expected(allowed)
        ));
    }
    Ok(())
}

/// After connecting: the process listening is an allowed uid (the socket file may have been
/// replaced since it was checked).
fn check_peer(stream: &UnixStream, path: &Path, allowed: &[u32]) -> Result<(), String> {
    let shown = path.display();
    // The listening process's, as recorded when it called listen.
    let (pid, uid) = crate::sys::io::peer_credentials(stream)
        .map_err(|e| format!("cannot read the peer credentials on {shown}: {e} (not trusted)"))?;
    if !allowed.contains(&uid) {
        return Err(format!(
            "refusing the control socket {shown}: the process listening on it (pid {pid}) runs \
             as uid {uid}, expected {}; it is not tend",
            expected(allowed)
        ));
    }
    Ok(())
}

/// How long the client waits for the answer: a request about services is answered when
/// its work is done.
fn patience(verb: &Verb) -> std::time::Duration {
    match verb {
        Verb::Services { .. } => SERVICE_CLIENT_TIMEOUT,
        _ => CLIENT_TIMEOUT,
    }
}

/// Sends the request and returns tend's answer line.
fn ask(path: &Path, verb: &Verb, allowed: &[u32]) -> Result<String, String> {
    let shown = path.display();
    check_owner(path, allowed)?;
    let mut stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => format!(
            "no control socket at {shown}: is tend running here, with TEND_CONTROL_SOCKET not off?"
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied on {shown}: only the user tend runs as, and root, may control it"
        ),
        ErrorKind::ConnectionRefused => format!(
            "nothing listens on {shown}: tend is not running (a socket left by a dead tend)"
        ),
        _ => format!("cannot connect to {shown}: {e}"),
    })?;
    check_peer(&stream, path, allowed)?;
    let patience = patience(verb);
    let timed_out = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!(
                "no answer from tend on {shown} within {}",
                format_duration(patience)
            )
        }
        _ => format!("lost the connection to tend on {shown}: {e}"),
    };
    stream
        .set_read_timeout(Some(patience))
        .and_then(|()| stream.set_write_timeout(Some(patience)))
        .map_err(|e| format!("cannot set a timeout on {shown}: {e}"))?;
    // tend may refuse before reading (another user): a failed write still has an answer.
    let _ = stream.write_all(format!("{}\n", verb.line()).as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    // Up to the first newline only: what follows (a reset, as tend closes) does not matter.
    let mut line = String::new();
    BufReader::new(stream.take(1 << 20))
        .read_line(&mut line)
        .map_err(timed_out)?;
    if line.trim().is_empty() {
        return Err(format!(
            "tend closed {shown} without an answer (busy, or exiting)"
        ));
    }
    Ok(line.trim_end().to_owned())
}

/// Prints the answer: the message or the snapshot on stdout, a refusal on stderr.
fn report(verb: &Verb, path: &Path, line: &str) -> i32 {
    let word = verb.word();
    let Ok(answer) = serde_json::from_str::<Value>(line) else {
        let shown: String = line.chars().take(200).collect();
        eprintln!(
            "tend {word}: unexpected answer on {}: {}",
            path.display(),
            crate::shown::quoted(&shown)
        );
        return ExitCode::No as i32;
    };
    if answer["accepted"] != Value::Bool(true) {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        match verb {
            // Refused, or the work asked for failed: the error says which, naming the service.
            Verb::Services { .. } => eprintln!("tend {}: {error}", verb.line()),
            _ => eprintln!("tend {word}: tend refused: {error}"),
        }
        return ExitCode::No as i32;
    }
    match verb {
        Verb::Status => crate::outln!("{}", answer["status"]),
        _ => crate::outln!("{}", answer["message"].as_str().unwrap_or("accepted")),
    }
    0
}
