//! `tend check-config [--json]`: everything a start checks before it acts on the world
//! (the TEND_* values and the file TEND_CONFIG names, then the gate's environment
//! checks: TEND_USER, TEND_REQUIRE_ENV, TEND_ENSURE_DIRS as a prediction,
//! TEND_MIN_DISK_FREE, TEND_MIN_MEMORY), and the effective configuration with the paths
//! a start would use. Creates nothing.
//!
//! Output: the configuration on stdout, as plain text, or as JSON with `--json`
//! (whether stdout is a terminal or not: a script asks for JSON, so that what a user
//! reads on the screen and what `| grep` sees are the same). Problems go to stderr:
//! plain lines in text mode, `config_invalid`/`environment_invalid` events (as a start
//! logs them) with `--json`; exit 78 when there is any.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::lifecycle::ControlSocket;
use crate::config::{Config, ConfigError};
use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::shown::quoted;

pub fn main(env: Vec<(OsString, OsString)>, json: bool) -> i32 {
    let sources = crate::config::Sources::read(env);
    let (format, level) = sources.logging();
    crate::events::init(format == crate::config::LogFormat::Json, &level);
    // A bad value stands at its default, so that the checks after it still run and
    // every problem is told at once (a bad TEND_USER is not checked twice).
    let (config, errors) = sources.config();
    let mut problems: Vec<Problem> = errors.iter().map(config_problem).collect();
    problems.extend(service_users(&config));
    problems.extend(crate::startup::preview(&config).iter().map(|f| {
        // Named by the file's key when the value is the file's.
        let variable = config.file.place(f.variable).to_string();
        Problem {
            event: if f.variable == "TEND_USER" {
                Event::ConfigInvalid
            } else {
                Event::EnvironmentInvalid
            },
            text: format!("{variable}: {}", f.message),
            variable,
        }
    }));
    if !problems.is_empty() {
        return report(problems, json);
    }
    let document = effective(&config);
    if json {
        crate::outln!("{document:#}");
    } else {
        crate::out!("{}", as_text(&document));
    }
    0
}

/// Each service's own user (`TEND_SERVICE_<NAME>_USER`), resolved as TEND_USER is (the
/// services that inherit TEND_USER are checked with it).
fn service_users(config: &Config) -> Vec<Problem> {
    config
        .services
        .iter()
        .filter(|service| service.user.is_some() && service.user != config.startup.user)
        .filter_map(|service| {
            let spec = service.user.as_ref()?;
            let message = crate::users::resolve(spec).err()?;
            let variable = format!("{}_USER", service.variable);
            let variable = config.file.place(&variable).to_string();
            Some(Problem {
                event: Event::ConfigInvalid,
                text: format!("{variable}: {message}"),
                variable,
            })
        })
        .collect()
}

struct Problem {
    event: Event,
    variable: String,
    text: String,
}

fn config_problem(error: &ConfigError) -> Problem {
    Problem {
        event: Event::ConfigInvalid,
        variable: error.variable.clone(),
        text: error.to_string(),
    }
}

/// Every problem on stderr, then 78.
fn report(problems: Vec<Problem>, json: bool) -> i32 {
    let count = problems.len();
    let code = ExitCode::Config as i32;
    for problem in &problems {
        if json {
            emit!(error, problem.event, variable = %problem.variable, "{}", problem.text);
        } else {
            eprintln!("{}", problem.text);
        }
    }
    if json {
        emit!(
            error,
            Event::ConfigInvalid,
            count,
            "{count} problem(s): a start would exit {code}"
        );
    } else {
        eprintln!(
            "tend check-config: {count} problem(s): a start would exit {code} and start nothing"
        );
    }
    code
}

/// The configuration as `Config::to_json` has it, with the status file and the control
/// socket resolved to the paths a start would use.
fn effective(config: &Config) -> Value {
    let mut document = config.to_json();
    let status = status_path(config.status_file.as_deref());
    let socket = match (&config.interfaces.control_socket, &status) {
        (ControlSocket::Off, _) => "off".to_string(),
        (ControlSocket::Path(path), _) => path.display().to_string(),
        (ControlSocket::BesideStatus, Some(status)) => status
            .with_file_name(crate::control::SOCKET_NAME)
            .display()
            .to_string(),
        (ControlSocket::BesideStatus, None) => "off (no place for the status file)".into(),
    };
    document["status_file"] = match status {
        Some(path) => Value::from(path.display().to_string()),
        None => Value::from("none (no writable place; `tend health` would report unknown)"),
    };
    document["interfaces"]["control_socket"] = Value::from(socket);
    // The resolved paths come from the values too: every string shown is redacted.
    crate::redact::json(&mut document);
    document
}

/// TEND_STATUS_FILE, or the first default place a start could use: its directory is
/// there and trusted (a directory owned by us or root that nobody else can write), or
/// can be created.
fn status_path(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(path.to_path_buf());
    }
    crate::status::candidates()
        .into_iter()
        .find(|path| path.parent().is_some_and(usable_dir))
}

fn usable_dir(dir: &Path) -> bool {
    let (euid, egid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    match fs::symlink_metadata(dir) {
        Ok(_) => crate::fsafe::dir_trusted(dir, euid),
        Err(_) => dir
            .parent()
            .and_then(|p| fs::metadata(p).ok())
            .is_some_and(|p| {
                p.is_dir()
                    && crate::startup::writable_by(p.mode(), p.uid(), p.gid(), euid, egid, &[])
            }),
    }
}

/// One `name  value` line per setting, nested settings as `area.name`.
fn as_text(document: &Value) -> String {
    let mut lines = Vec::new();
    flatten("", document, &mut lines);
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::from(
        "configuration valid: a start passes every check it makes before acting \
         (dependencies and hooks are not tried)\n",
    );
    for (key, value) in lines {
        text.push_str(&format!("{key:<width$}  {value}\n"));
    }
    text
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, value, out);
            }
        }
        Value::Object(_) => out.push((prefix.into(), "(none)".into())),
        _ => out.push((prefix.into(), scalar(value))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        Value::String(text) => plain(text),
        Value::Array(items) if items.is_empty() => "(none)".into(),
        // Lists of lists (the services' start and stop waves): each in brackets.
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|item| format!("[{}]", scalar(item)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(_) => value.to_string(),
        other => other.to_string(),
    }
}

/// Text as it is, unless it needs escaping or has spaces at its ends.
fn plain(text: &str) -> String {
    let shown = quoted(text);
    if shown.len() == text.len() + 2 && text.trim() == text && !text.is_empty() {
        text.to_string()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_settings_become_dotted_lines() {
        let document = serde_json::json!({
            "a": 1, "b": {"c": "x y", "d": [], "e": null, "f": ["p", "q"]}, "g": "tab\there"
        });
        let text = as_text(&document);
        assert!(text.contains("\na    1\n"), "{text}");
        assert!(text.contains("\nb.c  x y\n"), "{text}");
        assert!(text.contains("\nb.d  (none)\n"), "{text}");
        assert!(text.contains("\nb.e  (none)\n"), "{text}");
        assert!(text.contains("\nb.f  p, q\n"), "{text}");
        assert!(text.contains("\ng    \"tab\\there\"\n"), "{text}");
        let waves = serde_json::json!({"order": [["a", "b"], ["c"]]});
        assert!(as_text(&waves).contains("\norder  [a, b], [c]\n"));
    }
}
