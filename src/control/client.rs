//! The asking side: `tend restart`, `tend stop` and `tend status --socket`. No runtime, no
//! configuration parsing: find the socket, send one line, print the answer.
//!
//! Exit codes: 0 the request was accepted; 1 it was refused, or no tend answered.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{client_paths, Verb, CLIENT_TIMEOUT};
use crate::config::values::format_duration;

/// Runs one request and returns the exit code.
pub fn main(verb: Verb) -> i32 {
    let word = verb.word();
    let paths = match client_paths(
        std::env::var_os("TEND_CONTROL_SOCKET"),
        std::env::var_os("TEND_STATUS_FILE"),
        crate::status::trusted_candidates(),
    ) {
        Ok(paths) => paths,
        Err(message) => {
            eprintln!("tend {word}: {message}");
            return 1;
        }
    };
    let Some(path) = pick(&paths) else {
        let looked = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "tend {word}: no control socket found (looked at {looked}): is tend running here, \
             with TEND_CONTROL_SOCKET not off? Set TEND_CONTROL_SOCKET or TEND_STATUS_FILE as tend has them"
        );
        return 1;
    };
    match ask(&path, verb) {
        Ok(answer) => report(verb, &path, &answer),
        Err(message) => {
            eprintln!("tend {word}: {message}");
            1
        }
    }
}

/// The first path where something exists; with a single path, that path (so that the
/// error names it).
fn pick(paths: &[PathBuf]) -> Option<PathBuf> {
    if let [only] = paths {
        return Some(only.clone());
    }
    paths
        .iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .cloned()
}

/// Sends the request and returns tend's answer line.
fn ask(path: &Path, verb: Verb) -> Result<String, String> {
    let shown = path.display();
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
    let timed_out = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!(
                "no answer from tend on {shown} within {}",
                format_duration(CLIENT_TIMEOUT)
            )
        }
        _ => format!("lost the connection to tend on {shown}: {e}"),
    };
    stream
        .set_read_timeout(Some(CLIENT_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
        .map_err(|e| format!("cannot set a timeout on {shown}: {e}"))?;
    // tend may refuse before reading (another user): a failed write still has an answer.
    let _ = stream.write_all(format!("{}\n", verb.word()).as_bytes());
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
fn report(verb: Verb, path: &Path, line: &str) -> i32 {
    let word = verb.word();
    let Ok(answer) = serde_json::from_str::<Value>(line) else {
        let shown: String = line.chars().take(200).collect();
        eprintln!(
            "tend {word}: unexpected answer on {}: {}",
            path.display(),
            crate::shown::quoted(&shown)
        );
        return 1;
    };
    if answer["accepted"] != Value::Bool(true) {
        let error = answer["error"].as_str().unwrap_or("no reason given");
        eprintln!("tend {word}: tend refused: {error}");
        return 1;
    }
    match verb {
        Verb::Status => crate::outln!("{}", answer["status"]),
        _ => crate::outln!("{}", answer["message"].as_str().unwrap_or("accepted")),
    }
    0
}
