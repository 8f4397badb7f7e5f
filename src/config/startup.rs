//! Variables of the startup gate: environment checks, dependency waiting, pre-start
//! hooks and the user to run as.

use crate::shown::quoted;
use std::path::PathBuf;
use std::time::Duration;

use super::catalogue::{Items, Var, VarSpec};
use super::parser::{Parser, Refused};
use super::values::parse_size;
use crate::duration::{format_duration, parse_duration};
use crate::probe::Probe;
use crate::users::{parse_spec, UserSpec};
use crate::words::split_list;

const REQUIRE_ENV: Var<Vec<String>> = Var::unset(
    "TEND_REQUIRE_ENV",
    "(none)",
    parse_names,
    "comma list of variables that must be set and non-empty (values are never logged)",
)
.items(Items::Commas);
const ENSURE_DIRS: Var<Vec<PathBuf>> = Var::unset(
    "TEND_ENSURE_DIRS",
    "(none)",
    parse_paths,
    "comma list of directories to create (with parents) and check writable; owned by TEND_USER",
)
.items(Items::Commas);
const MIN_DISK_FREE: Var<Vec<(PathBuf, u64)>> = Var::unset(
    "TEND_MIN_DISK_FREE",
    "(none)",
    parse_disk_free,
    "PATH:SIZE pairs, comma separated: free space needed at each path, e.g. /data:500MB",
)
.items(Items::Commas);
const MIN_MEMORY: Var<Option<u64>> = Var::unset(
    "TEND_MIN_MEMORY",
    "(none)",
    |text| parse_size(text).map(Some),
    "memory the container must have (cgroup v1/v2 limit, else RAM), e.g. 256MB",
);
const WAIT_FOR: Var<Vec<Probe>, Refused> = Var::unset(
    "TEND_WAIT_FOR",
    "(none)",
    parse_probes,
    "comma list of probes that must pass before the child starts (tcp://, unix://, http://, file://, exec:)",
).items(Items::QuotedCommas);
const WAIT_OPTIONAL: Var<Vec<Probe>, Refused> = Var::unset(
    "TEND_WAIT_OPTIONAL",
    "(none)",
    parse_probes,
    "comma list of probes waited for, but whose failure is only a warning",
)
.items(Items::QuotedCommas);
const WAIT_TIMEOUT: Var<Duration> = Var::new(
    "TEND_WAIT_TIMEOUT",
    "60s",
    parse_duration,
    "how long to wait for dependencies; a required one still down then exits 69",
);
const WAIT_INTERVAL_MAX: Var<Duration> = Var::new(
    "TEND_WAIT_INTERVAL_MAX",
    "5s",
    positive,
    "longest pause between attempts (backoff starts at 100ms and doubles)",
);
const WAIT_PROBE_TIMEOUT: Var<Duration> = Var::new(
    "TEND_WAIT_PROBE_TIMEOUT",
    "5s",
    positive,
    "time one attempt of a dependency probe may take",
);
const PRE_START: Var<Vec<Vec<String>>> = Var::unset(
    "TEND_PRE_START",
    "(none)",
    parse_hooks,
    "commands run in order before the child (';' or newline separated, no shell); one failing exits 71",
).items(Items::Lines);
const POST_STOP: Var<Vec<Vec<String>>> = Var::unset(
    "TEND_POST_STOP",
    "(none)",
    parse_hooks,
    "cleanup commands run after the child is gone, and when a pre-start hook fails",
)
.items(Items::Lines);
const HOOK_TIMEOUT: Var<Duration> = Var::new(
    "TEND_HOOK_TIMEOUT",
    "30s",
    positive,
    "time each pre-start or post-stop command may take before its process group is killed",
);
pub(super) const USER: Var<Option<UserSpec>> = Var::unset(
    "TEND_USER",
    "(tend's own)",
    |text| parse_spec(text).map(Some),
    "run the child and health probes as name, uid, name:group or uid:gid (hooks stay root)",
);

pub(super) const VARIABLES: &[&VarSpec] = &[
    &REQUIRE_ENV.spec,
    &ENSURE_DIRS.spec,
    &MIN_DISK_FREE.spec,
    &MIN_MEMORY.spec,
    &WAIT_FOR.spec,
    &WAIT_OPTIONAL.spec,
    &WAIT_TIMEOUT.spec,
    &WAIT_INTERVAL_MAX.spec,
    &WAIT_PROBE_TIMEOUT.spec,
    &PRE_START.spec,
    &POST_STOP.spec,
    &HOOK_TIMEOUT.spec,
    &USER.spec,
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

/// The settings of an environment that sets none of the variables.
impl Default for StartupConfig {
    fn default() -> Self {
        super::parser::defaults(StartupConfig::parse)
    }
}

impl StartupConfig {
    pub(crate) fn parse(parser: &mut Parser) -> Self {
        StartupConfig {
            require_env: parser.read(&REQUIRE_ENV),
            ensure_dirs: parser.read(&ENSURE_DIRS),
            min_disk_free: parser.read(&MIN_DISK_FREE),
            min_memory: parser.read(&MIN_MEMORY),
            wait_for: parser.read(&WAIT_FOR),
            wait_optional: parser.read(&WAIT_OPTIONAL),
            wait_timeout: parser.read(&WAIT_TIMEOUT),
            wait_interval_max: parser.read(&WAIT_INTERVAL_MAX),
            wait_probe_timeout: parser.read(&WAIT_PROBE_TIMEOUT),
            pre_start: parser.read(&PRE_START),
            post_stop: parser.read(&POST_STOP),
            hook_timeout: parser.read(&HOOK_TIMEOUT),
            user: parser.read(&USER),
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

/// A probe's error quotes the (redacted) item itself: a URL password in the value must
/// never reach the log, so each is shown with the value's passwords hidden.
fn parse_probes(text: &str) -> Result<Vec<Probe>, Refused> {
    let items = crate::words::split_quoted_list(text)
        .map_err(|expected| Refused::Expected(format!("a comma list of probes with {expected}")))?;
    let mut list = Vec::new();
    let mut errors = Vec::new();
    for item in items {
        match Probe::parse(&item) {
            Ok(probe) => list.push(probe),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(list)
    } else {
        Err(Refused::Quoting(errors))
    }
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
