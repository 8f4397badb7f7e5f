//! Variables of tend itself: how it stops the child, forwards signals, logs, and where
//! it keeps its status.

use std::path::PathBuf;
use std::time::Duration;

use super::catalogue::{Items, Var, VarSpec};
use super::values::parse_bool;
use super::{LogFormat, SignalTarget};
use crate::duration::parse_duration;
use crate::signals::{is_fault_signal, parse_signal, signal_name};
use crate::words::split_list;

pub(super) const SHUTDOWN_TIMEOUT: Var<Duration> = Var::new(
    "TEND_SHUTDOWN_TIMEOUT",
    "30s",
    parse_duration,
    "time the child gets after the stop signal before SIGKILL (0s = kill at once)",
);
pub(super) const LEFTOVER_GRACE: Var<Duration> = Var::new(
    "TEND_LEFTOVER_GRACE",
    "3s",
    parse_duration,
    "time other processes left behind get after SIGTERM before SIGKILL, once the child is gone (at most TEND_SHUTDOWN_TIMEOUT)",
);
pub(super) const DRAIN_DELAY: Var<Duration> = Var::new(
    "TEND_DRAIN_DELAY",
    "0s",
    parse_duration,
    "wait this long in state draining before forwarding the stop signal",
);
pub(super) const SUCCESS_EXIT_CODES: Var<Vec<i32>> = Var::unset(
    "TEND_SUCCESS_EXIT_CODES",
    "(none)",
    parse_exit_codes,
    "comma list of child exit codes that tend reports as 0, e.g. 143,130",
)
.items(Items::Commas);
pub(super) const SIGNAL_TARGET: Var<SignalTarget> = Var::new(
    "TEND_SIGNAL_TARGET",
    "child",
    parse_signal_target,
    "forward signals to the child (child) or its whole process group (group)",
);
pub(super) const SIGNAL_REWRITE: Var<Vec<(i32, i32)>> = Var::unset(
    "TEND_SIGNAL_REWRITE",
    "(none)",
    parse_rewrite,
    "FROM:TO pairs that change a received signal before forwarding, e.g. TERM:QUIT",
)
.items(Items::Commas);
pub(super) const SUBREAPER: Var<bool> = Var::new(
    "TEND_SUBREAPER",
    "true",
    parse_bool,
    "when not PID 1, register as child subreaper so orphans are reaped",
);
pub(super) const LOG_FORMAT: Var<LogFormat> = Var::new(
    "TEND_LOG_FORMAT",
    "json",
    parse_log_format,
    "json (one object per line on stderr) or text",
);
pub(super) const LOG_LEVEL: Var<String> = Var::new(
    "TEND_LOG_LEVEL",
    "info",
    parse_level,
    "trace, debug, info, warn or error",
);
/// Unset, the place is chosen at run time (`crate::status::place`): this is the first choice.
pub(super) const STATUS_FILE: Var<Option<PathBuf>> = Var::unset(
    "TEND_STATUS_FILE",
    "/run/tend/status.json",
    |text| super::parse_absolute_path(text).map(Some),
    "where the status snapshot is kept (/dev/shm/tend-UID first when /run is not a tmpfs; then /tmp)",
);

pub(super) const VARIABLES: &[&VarSpec] = &[
    &SHUTDOWN_TIMEOUT.spec,
    &LEFTOVER_GRACE.spec,
    &DRAIN_DELAY.spec,
    &SUCCESS_EXIT_CODES.spec,
    &SIGNAL_TARGET.spec,
    &SIGNAL_REWRITE.spec,
    &SUBREAPER.spec,
    &LOG_FORMAT.spec,
    &LOG_LEVEL.spec,
    &STATUS_FILE.spec,
];

fn parse_exit_codes(text: &str) -> Result<Vec<i32>, String> {
    split_list(text)
        .map(|item| item.parse::<u8>().map(i32::from))
        .collect::<Result<_, _>>()
        .map_err(|_| "a comma list of exit codes 0-255, such as 143,130".into())
}

fn parse_signal_target(text: &str) -> Result<SignalTarget, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "child" => Ok(SignalTarget::Child),
        "group" => Ok(SignalTarget::Group),
        _ => Err("child or group".into()),
    }
}

fn parse_rewrite(text: &str) -> Result<Vec<(i32, i32)>, String> {
    const EXPECTED: &str = "a comma list of FROM:TO signal pairs, such as TERM:QUIT,USR1:HUP";
    let mut pairs: Vec<(i32, i32)> = Vec::new();
    for item in split_list(text) {
        let (from, to) = item.split_once(':').ok_or(EXPECTED)?;
        let from = parse_signal(from).map_err(|e| format!("{EXPECTED} ({from}: {e})"))?;
        let to = parse_signal(to).map_err(|e| format!("{EXPECTED} ({to}: {e})"))?;
        for sig in [from, to] {
            if is_fault_signal(sig) || sig == libc::SIGKILL || sig == libc::SIGSTOP {
                return Err(format!(
                    "{EXPECTED}; {} cannot be caught or must not be forwarded",
                    signal_name(sig)
                ));
            }
        }
        if pairs.iter().any(|(seen, _)| *seen == from) {
            return Err(format!("{EXPECTED}; {} appears twice", signal_name(from)));
        }
        pairs.push((from, to));
    }
    Ok(pairs)
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "json" => Ok(LogFormat::Json),
        "text" => Ok(LogFormat::Text),
        _ => Err("json or text".into()),
    }
}

fn parse_level(text: &str) -> Result<String, String> {
    let level = text.trim().to_ascii_lowercase();
    match level.as_str() {
        "trace" | "debug" | "info" | "warn" | "error" => Ok(level),
        _ => Err("one of trace, debug, info, warn, error".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_rejects_uncatchable_and_duplicates() {
        for bad in [
            "TERM:KILL",
            "SEGV:TERM",
            "TERM",
            "TERM:QUIT,TERM:INT",
            "TERM:NOPE",
        ] {
            assert!(parse_rewrite(bad).is_err(), "{bad} should be rejected");
        }
    }
}
