//! Variables of the startup gate: environment checks, dependency waiting, pre-start
//! hooks and the user to run as.

use crate::shown::quoted;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::catalogue::{var, VarSpec};
use super::parser::Parser;
use super::values::parse_size;
use crate::duration::{format_duration, parse_duration};
use crate::probe::Probe;
use crate::users::{parse_spec, UserSpec};
use crate::words::split_list;

pub const VARIABLES: &[VarSpec] = &[
    var(
        "TEND_REQUIRE_ENV",
        "(none)",
        "comma list of variables that must be set and non-empty (values are never logged)",
    ),
    var(
        "TEND_ENSURE_DIRS",
        "(none)",
        "comma list of directories to create (with parents) and check writable; owned by TEND_USER",
    ),
    var(
        "TEND_MIN_DISK_FREE",
        "(none)",
        "PATH:SIZE pairs, comma separated: free space needed at each path, e.g. /data:500MB",
    ),
    var(
        "TEND_MIN_MEMORY",
        "(none)",
        "memory the container must have (cgroup v1/v2 limit, else RAM), e.g. 256MB",
    ),
    var(
        "TEND_WAIT_FOR",
        "(none)",
        "comma list of probes that must pass before the child starts (tcp://, unix://, http://, file://, exec:)",
    ),
    var(
        "TEND_WAIT_OPTIONAL",
        "(none)",
        "comma list of probes waited for, but whose failure is only a warning",
    ),
    var(
        "TEND_WAIT_TIMEOUT",
        "60s",
        "how long to wait for dependencies; a required one still down then exits 69",
    ),
    var(
        "TEND_WAIT_INTERVAL_MAX",
        "5s",
        "longest pause between attempts (backoff starts at 100ms and doubles)",
    ),
    var(
        "TEND_WAIT_PROBE_TIMEOUT",
        "5s",
        "time one attempt of a dependency probe may take",
    ),
    var(
        "TEND_PRE_START",
        "(none)",
        "commands run in order before the child (';' or newline separated, no shell); one failing exits 71",
    ),
    var(
        "TEND_POST_STOP",
        "(none)",
        "cleanup commands run after the child is gone, and when a pre-start hook fails",
    ),
    var(
        "TEND_HOOK_TIMEOUT",
        "30s",
        "time each pre-start or post-stop command may take before its process group is killed",
    ),
    var(
        "TEND_USER",
        "(tend's own)",
        "run the child and health probes as name, uid, name:group or uid:gid (hooks stay root)",
    ),
];

#[derive(Debug, Clone)]
pub struct StartupConfig {
    pub require_env: Vec<String>,
    pub ensure_dirs: Vec<PathBuf>,
    pub min_disk_free: Vec<(PathBuf, u64)>,
    pub min_memory: Option<u64>,
    pub wait_for: Vec<Probe>,
    pub wait_optional: Vec<Probe>,
    pub wait_timeout: Duration,
    pub wait_interval_max: Duration,
    pub wait_probe_timeout: Duration,
    pub pre_start: Vec<Vec<String>>,
    pub post_stop: Vec<Vec<String>>,
    pub hook_timeout: Duration,
    pub user: Option<UserSpec>,
}

impl StartupConfig {
    /// Whether the gate may take long: dependencies to wait for or hooks to run.
    pub fn takes_time(&self) -> bool {
        !(self.wait_for.is_empty() && self.wait_optional.is_empty() && self.pre_start.is_empty())
    }
}

impl Default for StartupConfig {
    fn default() -> Self {
        StartupConfig {
            require_env: Vec::new(),
            ensure_dirs: Vec::new(),
            min_disk_free: Vec::new(),
            min_memory: None,
            wait_for: Vec::new(),
            wait_optional: Vec::new(),
            wait_timeout: Duration::from_secs(60),
            wait_interval_max: Duration::from_secs(5),
            wait_probe_timeout: Duration::from_secs(5),
            pre_start: Vec::new(),
            post_stop: Vec::new(),
            hook_timeout: Duration::from_secs(30),
            user: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    require_env: Option<String>,
    ensure_dirs: Option<String>,
    min_disk_free: Option<String>,
    min_memory: Option<String>,
    wait_for: Option<String>,
    wait_optional: Option<String>,
    wait_timeout: Option<String>,
    wait_interval_max: Option<String>,
    wait_probe_timeout: Option<String>,
    pre_start: Option<String>,
    post_stop: Option<String>,
    hook_timeout: Option<String>,
    user: Option<String>,
}

impl StartupConfig {
    pub(crate) fn parse(parser: &mut Parser) -> Self {
        let raw: Raw = parser.raw();
        let d = StartupConfig::default();
        StartupConfig {
            require_env: parser.field(
                "TEND_REQUIRE_ENV",
                raw.require_env,
                d.require_env,
                parse_names,
            ),
            ensure_dirs: parser.field(
                "TEND_ENSURE_DIRS",
                raw.ensure_dirs,
                d.ensure_dirs,
                parse_paths,
            ),
            min_disk_free: parser.field(
                "TEND_MIN_DISK_FREE",
                raw.min_disk_free,
                d.min_disk_free,
                parse_disk_free,
            ),
            min_memory: parser.field("TEND_MIN_MEMORY", raw.min_memory, None, |s| {
                parse_size(s).map(Some)
            }),
            wait_for: probes(parser, "TEND_WAIT_FOR", raw.wait_for),
            wait_optional: probes(parser, "TEND_WAIT_OPTIONAL", raw.wait_optional),
            wait_timeout: parser.field(
                "TEND_WAIT_TIMEOUT",
                raw.wait_timeout,
                d.wait_timeout,
                parse_duration,
            ),
            wait_interval_max: parser.field(
                "TEND_WAIT_INTERVAL_MAX",
                raw.wait_interval_max,
                d.wait_interval_max,
                positive,
            ),
            wait_probe_timeout: parser.field(
                "TEND_WAIT_PROBE_TIMEOUT",
                raw.wait_probe_timeout,
                d.wait_probe_timeout,
                positive,
            ),
            pre_start: parser.field("TEND_PRE_START", raw.pre_start, Vec::new(), parse_hooks),
            post_stop: parser.field("TEND_POST_STOP", raw.post_stop, Vec::new(), parse_hooks),
            hook_timeout: parser.field(
                "TEND_HOOK_TIMEOUT",
                raw.hook_timeout,
                d.hook_timeout,
                positive,
            ),
            user: parser.field("TEND_USER", raw.user, None, |s| parse_spec(s).map(Some)),
        }
    }

    /// The effective settings, as `tend check-config` prints them (probes redacted).
    pub fn to_json(&self) -> serde_json::Value {
        let probes = |list: &[Probe]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        let commands = |list: &[Vec<String>]| {
            list.iter()
                .map(|c| crate::redact::words(c))
                .collect::<Vec<_>>()
        };
        serde_json::json!({
            "require_env": self.require_env,
            "ensure_dirs": self.ensure_dirs,
            "min_disk_free": self.min_disk_free.iter()
                .map(|(path, size)| format!("{}:{size}", path.display())).collect::<Vec<_>>(),
            "min_memory": self.min_memory,
            "wait_for": probes(&self.wait_for),
            "wait_optional": probes(&self.wait_optional),
            "wait_timeout": format_duration(self.wait_timeout),
            "wait_interval_max": format_duration(self.wait_interval_max),
            "wait_probe_timeout": format_duration(self.wait_probe_timeout),
            "pre_start": commands(&self.pre_start),
            "post_stop": commands(&self.post_stop),
            "hook_timeout": format_duration(self.hook_timeout),
            "user": self.user.as_ref().map(|u| match &u.group {
                Some(g) => format!("{}:{g}", u.user),
                None => u.user.clone(),
            }),
        })
    }
}

/// Probe lists are parsed by hand rather than with `Parser::field`, whose error would
/// repeat the raw value: a URL password must never reach the log.
fn probes(parser: &mut Parser, variable: &str, raw: Option<String>) -> Vec<Probe> {
    let Some(text) = raw else { return Vec::new() };
    let items = match crate::words::split_quoted_list(&text) {
        Ok(items) => items,
        Err(expected) => {
            parser.error(
                variable,
                Some(text),
                format!("a comma list of probes with {expected}"),
            );
            return Vec::new();
        }
    };
    let mut list = Vec::new();
    let pieces = crate::redact::Pieces::of(&text);
    for item in items {
        match Probe::parse(&item) {
            Ok(probe) => list.push(probe),
            Err(error) => parser.error_hiding(variable, &pieces, &error),
        }
    }
    list
}

fn positive(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("a duration above zero, such as 500ms or 5s".into()),
        d => Ok(d),
    }
}

fn parse_names(text: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = split_list(text).map(Into::into).collect();
    let valid = |n: &str| {
        n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    match names.iter().find(|n| !valid(n)) {
        Some(bad) => Err(format!(
            "a comma list of variable names (letters, digits, _), such as DATABASE_URL,API_KEY; {} is not one",
            quoted(bad)
        )),
        None => Ok(names),
    }
}

fn parse_paths(text: &str) -> Result<Vec<PathBuf>, String> {
    split_list(text)
        .map(|item| {
            super::parse_absolute_path(item).map_err(|_| {
                format!(
                    "a comma list of absolute paths; {} is not absolute",
                    quoted(item)
                )
            })
        })
        .collect()
}

fn parse_disk_free(text: &str) -> Result<Vec<(PathBuf, u64)>, String> {
    const EXPECTED: &str = "a comma list of PATH:SIZE, such as /app/data:500MB";
    split_list(text)
        .map(|item| {
            let (path, size) = item.rsplit_once(':').ok_or(EXPECTED)?;
            let path = super::parse_absolute_path(path)
                .map_err(|_| format!("{EXPECTED}; {} is not absolute", quoted(path)))?;
            let size = parse_size(size)
                .map_err(|e| format!("{EXPECTED}; {}: expected {e}", quoted(size)))?;
            Ok((path, size))
        })
        .collect()
}

/// Hooks: commands separated by `;` or newlines, each split into words without a shell.
fn parse_hooks(text: &str) -> Result<Vec<Vec<String>>, String> {
    const EXPECTED: &str =
        "commands separated by ';' or newlines, such as: migrate --up; touch /tmp/ready";
    // Control characters are almost always a paste accident; they would be passed on silently.
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(format!("{EXPECTED} (without control characters)"));
    }
    crate::words::split_commands(&text.replace('\r', ""))
        .map_err(|missing| format!("{EXPECTED}; a quote is open: expected {missing}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<StartupConfig, Vec<crate::config::ConfigError>> {
        crate::config::from_pairs(pairs).map(|c| c.startup)
    }

    #[test]
    fn defaults() {
        let s = from(&[]).expect("defaults");
        assert_eq!(s.wait_timeout, Duration::from_secs(60));
        assert_eq!(s.wait_interval_max, Duration::from_secs(5));
        assert_eq!(s.hook_timeout, Duration::from_secs(30));
        assert!(s.wait_for.is_empty() && s.pre_start.is_empty() && s.user.is_none());
    }

    #[test]
    fn every_variable_parses() {
        let s = from(&[
            ("TEND_REQUIRE_ENV", "DATABASE_URL, API_KEY"),
            ("TEND_ENSURE_DIRS", "/app/data,/app/logs"),
            ("TEND_MIN_DISK_FREE", "/app/data:500MB"),
            ("TEND_MIN_MEMORY", "256MiB"),
            ("TEND_WAIT_FOR", "tcp://db:5432, exec:sh -c 'a,b'"),
            ("TEND_WAIT_OPTIONAL", "http://cache/"),
            ("TEND_WAIT_TIMEOUT", "10s"),
            ("TEND_PRE_START", "migrate --up\ntouch '/tmp/a b'; true"),
            ("TEND_POST_STOP", "rm -f /tmp/x"),
            ("TEND_USER", "app:staff"),
        ])
        .expect("valid");
        assert_eq!(s.require_env, ["DATABASE_URL", "API_KEY"]);
        assert_eq!(s.min_disk_free, [(PathBuf::from("/app/data"), 500_000_000)]);
        assert_eq!(s.min_memory, Some(256 << 20));
        assert_eq!(s.wait_for.len(), 2);
        assert_eq!(s.wait_for[1].to_string(), "exec:sh -c 'a,b'");
        assert_eq!(s.pre_start.len(), 3);
        assert_eq!(s.pre_start[1], ["touch", "/tmp/a b"]);
        assert_eq!(s.user.as_ref().map(|u| u.user.as_str()), Some("app"));
    }

    #[test]
    fn bad_probes_are_reported_each_without_passwords() {
        let errors = from(&[
            ("TEND_WAIT_FOR", "tcp://db, http://u:hunter2@x:bad/"),
            ("TEND_WAIT_OPTIONAL", "redis:6379"),
            ("TEND_HOOK_TIMEOUT", "0s"),
        ])
        .expect_err("bad");
        assert_eq!(errors.len(), 4, "{errors:?}");
        let text: String = errors.iter().map(|e| format!("{e}\n")).collect();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("tcp://HOST:PORT"),
            "accepted forms listed: {text}"
        );
        assert!(text.contains("\"redis:6379\""), "{text}");
    }

    #[test]
    fn bad_values() {
        for (name, value) in [
            ("TEND_REQUIRE_ENV", "GOOD,not-a-name"),
            ("TEND_ENSURE_DIRS", "relative/dir"),
            ("TEND_MIN_DISK_FREE", "/data"),
            ("TEND_MIN_DISK_FREE", "/data:lots"),
            ("TEND_MIN_MEMORY", "256 pages"),
            ("TEND_PRE_START", "echo 'open"),
            ("TEND_USER", "a b"),
            ("TEND_WAIT_INTERVAL_MAX", "0"),
        ] {
            let errors = from(&[(name, value)]).expect_err(name);
            assert_eq!(errors[0].variable, name);
        }
    }
}
