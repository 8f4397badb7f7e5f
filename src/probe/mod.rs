//! Probes: one type, one grammar, used by dependency waiting and by health checks.
//!
//! `tcp://HOST:PORT` and `unix:///PATH` pass when a connection is accepted;
//! `http://HOST[:PORT]/PATH` on a 2xx or 3xx answer to GET; `file:///PATH` when the file
//! exists (and, with `?max_age=30s`, was modified within that age); `exec:CMD ARGS…` when
//! the command exits 0 (run directly, no shell, killed with its process group on timeout).
//!
//! An exec probe's stdout and stderr are captured, never written to tend's stderr (a
//! `PONG` per check would break the one-JSON-object-per-line log): dropped on a pass, a
//! redacted excerpt in the failure's message otherwise.

mod grammar;
mod http;
#[cfg(test)]
mod props;
mod resolve;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::net::UnixStream;

use crate::process::capture::Capture;
use crate::process::command::{self, RunError};
use crate::process::spawn::{Credentials, SpawnSpec};
use crate::process::Reaper;

pub use grammar::ACCEPTED_FORMS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Tcp {
        host: String,
        port: u16,
    },
    Unix {
        path: PathBuf,
    },
    Http(HttpTarget),
    File {
        path: PathBuf,
        max_age: Option<Duration>,
    },
    Exec {
        argv: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// Without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// Path and query, always starting with '/'.
    pub path: String,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// Why a check did not pass, in words fit for an event (never holding a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError(pub String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Probe {
    /// Parses one probe. The error names what is wrong and lists the accepted forms.
    pub fn parse(text: &str) -> Result<Probe, String> {
        grammar::parse(text).map_err(|expected| {
            format!(
                "{}: expected {expected}; a probe is one of {ACCEPTED_FORMS}",
                crate::shown::quoted(&crate::redact::value(text.trim()))
            )
        })
    }

    /// Runs the check once, within `timeout`, as tend's own user.
    pub async fn check(&self, timeout: Duration, reaper: &Reaper) -> Result<(), ProbeError> {
        self.check_as(timeout, reaper, None).await
    }

    /// Runs the check once; `exec:` probes run as `credentials` when given (TEND_USER).
    pub async fn check_as(
        &self,
        timeout: Duration,
        reaper: &Reaper,
        credentials: Option<&Credentials>,
    ) -> Result<(), ProbeError> {
        match self {
            Probe::Exec { argv } => exec(argv, timeout, reaper, credentials, Output::Capture).await,
            // The other probes are plain I/O; one deadline covers resolving and
            // connecting, and a name lookup that hangs is abandoned at it.
            _ => {
                let deadline = tokio::time::Instant::now() + timeout;
                match tokio::time::timeout_at(deadline, self.check_io(deadline)).await {
                    Ok(result) => result,
                    Err(_) => Err(ProbeError(format!(
                        "no answer within {}",
                        crate::duration::format_duration(timeout)
                    ))),
                }
            }
        }
    }

    /// Runs an `exec:` remediation step: as `check_as`, but its output passes through to
    /// tend's stderr, as a hook's does (a command run once, whose words the user wants).
    pub async fn run_step_as(
        &self,
        timeout: Duration,
        reaper: &Reaper,
        credentials: Option<&Credentials>,
    ) -> Result<(), ProbeError> {
        match self {
            Probe::Exec { argv } => {
                exec(argv, timeout, reaper, credentials, Output::PassThrough).await
            }
            _ => self.check_as(timeout, reaper, credentials).await,
        }
    }

    async fn check_io(&self, deadline: tokio::time::Instant) -> Result<(), ProbeError> {
        match self {
            Probe::Tcp { host, port } => resolve::connect(host, *port, deadline).await.map(drop),
            Probe::Unix { path } => UnixStream::connect(path)
                .await
                .map(drop)
                .map_err(|e| ProbeError(format!("cannot connect to {}: {e}", path.display()))),
            Probe::Http(target) => http::get(target, deadline).await,
            Probe::File { path, max_age } => file(path, *max_age),
            Probe::Exec { .. } => Ok(()),
        }
    }
}

fn file(path: &std::path::Path, max_age: Option<Duration>) -> Result<(), ProbeError> {
    let meta =
        std::fs::metadata(path).map_err(|e| ProbeError(format!("{}: {e}", path.display())))?;
    let Some(max_age) = max_age else {
        return Ok(());
    };
    let modified = meta
        .modified()
        .map_err(|e| ProbeError(format!("{}: no modification time: {e}", path.display())))?;
    // A file from the future (clock skew) counts as fresh rather than failing forever.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age <= max_age {
        Ok(())
    } else {
        Err(ProbeError(format!(
            "{} was last modified {:.1}s ago, more than max_age {:?}",
            path.display(),
            age.as_secs_f64(),
            max_age
        )))
    }
}

/// Where an exec command's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// Into a pipe tend reads (probes): an excerpt goes with a failure.
    Capture,
    /// Onto tend's stderr (remediation steps, like hooks).
    PassThrough,
}

async fn exec(
    argv: &[String],
    timeout: Duration,
    reaper: &Reaper,
    credentials: Option<&Credentials>,
    output: Output,
) -> Result<(), ProbeError> {
    let mut spec = SpawnSpec::new(argv.iter().map(Into::into).collect());
    spec.credentials = credentials.cloned();
    let program = crate::redact::word(&argv[0]);
    let (result, capture) = match output {
        Output::Capture => command::run_captured(reaper, spec, timeout).await,
        Output::PassThrough => (command::run(reaper, spec, timeout).await, None),
    };
    let message = match result {
        Ok(exit) if exit.code() == 0 => return Ok(()),
        Ok(exit) => match exit.signal() {
            Some(sig) => format!("{program} was killed by signal {sig}"),
            None => format!("{program} exited with code {}", exit.code()),
        },
        Err(RunError::TimedOut) => format!(
            "{program} still running after {}; killed its process group",
            crate::duration::format_duration(timeout)
        ),
        Err(error) => format!("cannot run {program}: {error}"),
    };
    Err(ProbeError(match capture.as_ref().and_then(excerpt) {
        Some(said) => format!("{message}; output: {said}"),
        None => message,
    }))
}

/// At most this many characters of a failed probe's output go into its message.
const EXCERPT_CHARS: usize = 512;

/// The captured output as one line (whitespace runs, newlines included, become one
/// space), URL passwords masked, cut at EXCERPT_CHARS with `…` when there was more.
/// None when the probe said nothing.
fn excerpt(capture: &Capture) -> Option<String> {
    let text = String::from_utf8_lossy(capture.kept());
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let truncated = capture.total > capture.kept().len();
    if truncated {
        // The capture may end inside a word: half a URL would escape the redaction.
        words.pop();
    }
    if words.is_empty() {
        return None;
    }
    // Masked before the cut, so that a cut cannot leave a password's head unmasked.
    let line = crate::redact::text(&words.join(" "));
    let mut cut: String = line.chars().take(EXCERPT_CHARS).collect();
    if truncated || cut.len() < line.len() {
        cut.push('…');
    }
    Some(cut)
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Tcp { host, port } => write!(f, "tcp://{}:{port}", bracket(host)),
            Probe::Unix { path } => write!(f, "unix://{}", path.display()),
            Probe::Http(t) => {
                f.write_str("http://")?;
                if let Some(user) = &t.user {
                    let masked = if t.password.is_some() { ":***" } else { "" };
                    write!(f, "{user}{masked}@")?;
                }
                write!(f, "{}:{}{}", bracket(&t.host), t.port, t.path)
            }
            Probe::File { path, max_age } => {
                write!(f, "file://{}", path.display())?;
                match max_age {
                    Some(age) => write!(f, "?max_age={}", crate::duration::format_duration(*age)),
                    None => Ok(()),
                }
            }
            Probe::Exec { argv } => {
                write!(f, "exec:{}", crate::redact::words(argv))
            }
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_back_and_redacts() {
        for text in [
            "tcp://db:5432",
            "tcp://[::1]:80",
            "unix:///run/a.sock",
            "http://api:8080/health?x=1",
            "file:///tmp/beat?max_age=30s",
            "file:///tmp/ready",
            "exec:sh -c 'exit 3'",
            "exec:echo 'it'\\''s'",
        ] {
            let probe = Probe::parse(text).expect(text);
            assert_eq!(probe.to_string(), text);
            assert_eq!(Probe::parse(&probe.to_string()), Ok(probe));
        }
        let secret = Probe::parse("http://admin:hunter2@api/x").expect("valid");
        assert_eq!(secret.to_string(), "http://admin:***@api:80/x");
        let exec = Probe::parse("exec:psql postgres://u:hunter2@db/app").expect("valid");
        assert!(!exec.to_string().contains("hunter2"), "{exec}");
    }

    #[test]
    fn parse_errors_list_the_forms_and_hide_passwords() {
        let error = Probe::parse("http://u:hunter2@db:notaport/").expect_err("bad port");
        assert!(error.contains("port 1-65535"), "{error}");
        assert!(error.contains(ACCEPTED_FORMS), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn file_probe_checks_age() {
        let path = std::env::temp_dir().join(format!("tend-probe-{}", std::process::id()));
        assert!(file(&path, None).is_err());
        std::fs::write(&path, "x").expect("write");
        assert_eq!(file(&path, None), Ok(()));
        assert_eq!(file(&path, Some(Duration::from_secs(60))), Ok(()));
        let old = SystemTime::now() - Duration::from_secs(120);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(old))
            .expect("set mtime");
        let error = file(&path, Some(Duration::from_secs(60))).expect_err("stale");
        assert!(error.0.contains("max_age"), "{error}");
        let _ = std::fs::remove_file(&path);
    }
}
