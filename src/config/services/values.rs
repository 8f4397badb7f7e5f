//! The grammars of the services' own settings and of `TEND_DEPENDS_ON` / `TEND_EXIT_WITH`
//! (the settings read as a container-wide twin use that one's parser).

use super::names::valid_name;
use super::{ExitWith, Output};
use crate::config::parser::Refused;
use crate::services::graph::{Condition, Dependency};
use crate::shown::quoted;
use crate::signals::{is_fault_signal, parse_signal, signal_name};
use crate::words::split_list;

pub(super) fn parse_dependencies(text: &str) -> Result<Vec<Dependency>, String> {
    const EXPECTED: &str = "a comma list of services, each NAME or NAME:CONDITION with \
                            CONDITION started (the default), healthy or completed, such as \
                            db:healthy,migrate:completed,cache";
    let mut list: Vec<Dependency> = Vec::new();
    for item in split_list(text) {
        let (name, condition) = match item.split_once(':') {
            Some((name, condition)) => (name.trim(), Some(condition.trim())),
            None => (item, None),
        };
        if !valid_name(&name.to_ascii_uppercase()) {
            return Err(format!(
                "{EXPECTED}; {} is no service name (letters, digits and single _)",
                quoted(name)
            ));
        }
        let condition = match condition {
            None => Condition::Started,
            Some(text) => Condition::parse(text)
                .ok_or_else(|| format!("{EXPECTED}; {} is no condition", quoted(text)))?,
        };
        let service = name.to_ascii_lowercase();
        if list.iter().any(|d| d.service == service) {
            return Err(format!("{EXPECTED}; {service} appears twice"));
        }
        list.push(Dependency { service, condition });
    }
    Ok(list)
}

pub(super) fn parse_exit_with(text: &str) -> Result<ExitWith, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "main" => Ok(ExitWith::Main),
        "all" => Ok(ExitWith::All),
        _ => Err("main or all".into()),
    }
}

pub(super) fn parse_output(text: &str) -> Result<Output, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "inherit" => Ok(Output::Inherit),
        "prefix" => Ok(Output::Prefix),
        _ => Err("inherit or prefix".into()),
    }
}

/// Any signal but the fault signals (tend never sends those) and STOP (a stopped service
/// would only wait for the kill).
pub(super) fn parse_stop_signal(text: &str) -> Result<i32, String> {
    let signal = parse_signal(text)?;
    if is_fault_signal(signal) || signal == libc::SIGSTOP {
        return Err(format!(
            "a signal that asks a process to stop, such as TERM, INT, QUIT or HUP; {} is not one",
            signal_name(signal)
        ));
    }
    Ok(signal)
}

/// One command, split into words as an `exec:` probe's is; control characters (other than
/// a tab) are refused as the hooks refuse them: a paste accident, passed on silently.
pub(super) fn parse_command(text: &str) -> Result<Vec<String>, String> {
    const EXPECTED: &str = "a command and its arguments, split into words as in sh (quotes \
                            and backslashes work, nothing is expanded), such as \
                            nginx -g 'daemon off;'";
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!("{EXPECTED} (one line, without control characters)"));
    }
    let words = crate::words::split_words(text).map_err(|e| format!("{EXPECTED}; expected {e}"))?;
    match words.first() {
        Some(program) if !program.is_empty() => Ok(words),
        _ => Err(EXPECTED.into()),
    }
}

/// `NAME=VALUE` items; quotes keep a comma or a space in a value. The messages never
/// repeat a value: a value is often a secret.
pub(super) fn parse_env(text: &str) -> Result<Vec<(String, String)>, Refused> {
    const EXPECTED: &str = "a comma list of NAME=VALUE, such as PORT=8080,MODE=prod (quote a \
                            value that holds a comma or a space: GREETING='a, b')";
    let refuse = |why: String| Refused::Quoting(vec![format!("{EXPECTED}; {why}")]);
    let items =
        crate::words::split_quoted_list(text).map_err(|e| refuse(format!("expected {e}")))?;
    let mut env: Vec<(String, String)> = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let n = n + 1;
        let word = match crate::words::split_words(item) {
            Ok(words) if words.len() == 1 => words.into_iter().next().unwrap_or_default(),
            Ok(_) => {
                return Err(refuse(format!(
                    "item {n} is not one word (quote its value)"
                )))
            }
            Err(e) => return Err(refuse(format!("item {n}: expected {e}"))),
        };
        let Some((name, value)) = word.split_once('=') else {
            return Err(refuse(format!("item {n} has no '='")));
        };
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(refuse(format!(
                "item {n}: {} is not a variable name (letters, digits, _)",
                quoted(name)
            )));
        }
        if env.iter().any(|(seen, _)| seen == name) {
            return Err(refuse(format!("{name} appears twice")));
        }
        env.push((name.to_string(), value.to_string()));
    }
    Ok(env)
}
