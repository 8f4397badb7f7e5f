//! `Config`: every `TEND_*` variable parsed into one typed struct, with every error found
//! reported at once. Reading the environment is the caller's job; this module only turns
//! name/value pairs into a `Config` or a list of `ConfigError`s, and `Sources` adds the
//! file TEND_CONFIG names (`file`: the same variables, under the environment's). Each
//! variable is declared once, as a `Var` in the file of its area (see `catalogue`).
//!
//! tend reads the values itself, each through its `Var`, not with envy: envy needs a struct
//! of raw strings, which named every variable a second time.

mod catalogue;
pub mod file;
mod general;
pub mod health;
pub mod lifecycle;
mod parser;
#[cfg(test)]
pub(crate) mod props;
pub mod security;
pub mod services;
pub mod startup;
mod suggest;
pub mod values;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::duration::format_duration;
use crate::signals::signal_name;
pub use catalogue::variables;
pub use file::Sources;
use general::*;
use parser::Parser;
pub use suggest::closest as closest_name;

/// Where forwarded signals go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTarget {
    /// The child process alone (the default, as tini does without `-g`).
    Child,
    /// The child's whole process group; the child then runs in a session of its own.
    Group,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub success_exit_codes: Vec<i32>,
    pub subreaper: bool,
    pub signal_target: SignalTarget,
    /// Pairs of (received, forwarded as).
    pub signal_rewrite: Vec<(i32, i32)>,
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
    /// TERM-to-KILL time for the processes left once the child is gone (as configured:
    /// see `leftover_grace`).
    pub leftover_grace: Duration,
    pub log_format: LogFormat,
    pub log_level: String,
    pub status_file: Option<PathBuf>,
    pub startup: startup::StartupConfig,
    pub health: health::HealthConfig,
    pub restart: lifecycle::RestartConfig,
    pub interfaces: lifecycle::InterfacesConfig,
    pub security: security::SecurityConfig,
    /// The main command's dependencies (TEND_DEPENDS_ON).
    pub depends_on: Vec<crate::services::graph::Dependency>,
    pub exit_with: services::ExitWith,
    /// The services (TEND_SERVICE_<NAME>), sorted by name; empty unless declared.
    pub services: Vec<services::ServiceConfig>,
    /// TEND_CONFIG: the configuration file.
    pub config_file: Option<PathBuf>,
    /// Which of the file's settings are used, and which the environment overrides.
    pub file: file::FileUse,
}

/// One variable that could not be used, with the value seen and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    /// The offending value; `None` when showing it could leak something or it is absent.
    pub value: Option<String>,
    pub expected: String,
}

/// Shown redacted whoever built it (`Parser::error` redacts too, for the fields).
impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected = crate::redact::text(&self.expected);
        match &self.value {
            Some(value) => {
                let value = crate::shown::quoted(&crate::redact::value(value));
                write!(f, "{}={value}: expected {expected}", self.variable)
            }
            None => write!(f, "{}: {expected}", self.variable),
        }
    }
}

impl Config {
    /// Builds the configuration from environment pairs (all of them: non-`TEND_` ones are
    /// ignored), without a file. Returns every problem found, not just the first. The
    /// program reads through `Sources`; the tests, of everything, through this.
    #[cfg(test)]
    pub fn from_vars<I>(vars: I) -> Result<Config, Vec<ConfigError>>
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let (config, errors) = Config::with_errors(vars);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// The configuration with the default in place of each bad value, and the errors
    /// (as `tend check-config` has them, to go on checking the rest).
    #[cfg(test)]
    pub fn with_errors<I>(vars: I) -> (Config, Vec<ConfigError>)
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        Config::read_vars(first_of_each(vars))
    }

    /// `with_errors` with the settings of a configuration file under the variables: the
    /// file's text given, for the tests (`Sources` reads the file).
    #[cfg(test)]
    pub fn with_file_text<I>(vars: I, path: &str, text: &str) -> (Config, Vec<ConfigError>)
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        Sources::of_text(vars, path, text).config()
    }

    /// Reads variables already reduced to the first of each name.
    fn read_vars<I>(vars: I) -> (Config, Vec<ConfigError>)
    where
        I: IntoIterator<Item = (OsString, OsString)>,
    {
        let mut errors = Vec::new();
        let mut tend_vars = BTreeMap::new();
        // Every TEND_SERVICE_* name, set or empty: which are services is known once all
        // are seen (`services::read`).
        let mut service_names = Vec::new();
        for (name, value) in vars {
            let name = match name.to_str() {
                Some(name) if name.starts_with("TEND_") => name,
                Some(_) => continue,
                None if name.as_bytes().starts_with(b"TEND_") => {
                    errors.push(non_utf8_name(&name));
                    continue;
                }
                None => continue,
            };
            if name.starts_with(services::PREFIX) {
                service_names.push(name.to_string());
            } else if variables().all(|spec| spec.name != name) {
                errors.push(unknown_variable(name));
                continue;
            }
            match value.into_string() {
                // An empty value means "use the default", as compose files often set them.
                Ok(value) if value.trim().is_empty() => {}
                Ok(value) => {
                    tend_vars.insert(name.to_string(), value);
                }
                Err(_) => errors.push(ConfigError {
                    variable: name.to_string(),
                    value: None,
                    expected: "a UTF-8 value".into(),
                }),
            }
        }
        let mut parser = Parser::new(&tend_vars, &mut errors);
        let mut config = build(&mut parser);
        services::read(&mut parser, &service_names, &mut config);
        (config, errors)
    }

    /// The effective configuration, as `tend check-config` prints it: every string in it
    /// redacted, whichever setting it comes from.
    pub fn to_json(&self) -> serde_json::Value {
        let mut document = self.settings_json();
        crate::redact::json(&mut document);
        document
    }

    fn settings_json(&self) -> serde_json::Value {
        let mut document = self.container_json();
        if let (Some(path), Some(document)) = (&self.config_file, document.as_object_mut()) {
            let file = serde_json::json!({
                "path": path,
                "settings": self.file.keys,
                "overridden_by_environment": self.file.overridden,
            });
            document.insert("config_file".into(), file);
        }
        if self.has_services() {
            if let (Some(document), serde_json::Value::Object(services)) =
                (document.as_object_mut(), self.services_json())
            {
                document.extend(services);
            }
        }
        document
    }

    fn container_json(&self) -> serde_json::Value {
        let rewrite: BTreeMap<String, String> = self
            .signal_rewrite
            .iter()
            .map(|(from, to)| (signal_name(*from), signal_name(*to)))
            .collect();
        serde_json::json!({
            "success_exit_codes": self.success_exit_codes,
            "subreaper": self.subreaper,
            "signal_target": match self.signal_target {
                SignalTarget::Child => "child",
                SignalTarget::Group => "group",
            },
            "signal_rewrite": rewrite,
            "drain_delay": format_duration(self.drain_delay),
            "shutdown_timeout": format_duration(self.shutdown_timeout),
            "leftover_grace": format_duration(self.leftover_grace),
            "log_format": match self.log_format {
                LogFormat::Json => "json",
                LogFormat::Text => "text",
            },
            "log_level": self.log_level,
            "status_file": self.status_file,
            "startup": self.startup.to_json(),
            "health": self.health.to_json(),
            "restart": self.restart.to_json(),
            "interfaces": self.interfaces.to_json(),
            "security": self.security.to_json(),
        })
    }

    /// The TERM-to-KILL grace of the processes left behind (TEND_LEFTOVER_GRACE), never
    /// longer than TEND_SHUTDOWN_TIMEOUT.
    pub fn bounded_leftover_grace(&self) -> Duration {
        self.leftover_grace.min(self.shutdown_timeout)
    }

    /// The signal to forward for a received one, after `TEND_SIGNAL_REWRITE`.
    pub fn rewrite(&self, received: i32) -> i32 {
        self.signal_rewrite
            .iter()
            .find(|(from, _)| *from == received)
            .map_or(received, |(_, to)| *to)
    }

    /// TERM and INT always begin the shutdown; QUIT does too unless it is rewritten into
    /// something else (then the user wants it delivered, not obeyed).
    pub fn is_stop_signal(&self, received: i32) -> bool {
        match received {
            libc::SIGTERM | libc::SIGINT => true,
            libc::SIGQUIT => self.rewrite(received) == libc::SIGQUIT,
            _ => false,
        }
    }
}

/// A configuration from literal pairs, for the tests of every configuration area.
#[cfg(test)]
pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Result<Config, Vec<ConfigError>> {
    Config::from_vars(
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    )
}

/// The environment with every name after its first occurrence dropped. An environment
/// can hold a name twice (execve takes any list); getenv(3), and with it every program
/// in the container (the child, `tend health`, std's `env::var`), finds the first, so
/// tend reads the first too: one value per name, the same one everywhere.
fn first_of_each<I>(vars: I) -> impl Iterator<Item = (OsString, OsString)>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    // Not a HashSet: its random keys cost a getrandom call on every start.
    let mut seen = std::collections::BTreeSet::new();
    vars.into_iter()
        .filter(move |(name, _)| seen.insert(name.clone()))
}

/// A `TEND_` name that is not UTF-8 is no variable tend knows: refused like a typo
/// rather than ignored (the user meant something by it).
fn non_utf8_name(name: &OsStr) -> ConfigError {
    ConfigError {
        variable: name.to_string_lossy().into_owned(),
        value: None,
        expected: "not a tend variable: the name is not UTF-8 (shown with U+FFFD for the \
                   bytes that are not); tend variables are ASCII"
            .into(),
    }
}

fn unknown_variable(name: &str) -> ConfigError {
    let expected = match suggest::closest(name, variables().map(|spec| spec.name)) {
        Some(known) => format!("not a tend variable; did you mean {known}?"),
        None => match misspelled_service(name) {
            Some(meant) => format!("not a tend variable; did you mean {meant}?"),
            None => "not a tend variable; `tend --help` lists them all".into(),
        },
    };
    ConfigError {
        variable: name.to_string(),
        value: None,
        expected,
    }
}

/// `TEND_SERVICES_WEB` for `TEND_SERVICE_WEB`: the first two words near the prefix.
fn misspelled_service(name: &str) -> Option<String> {
    let mut words = name.splitn(3, '_');
    let (first, second, rest) = (words.next()?, words.next()?, words.next()?);
    let prefix = format!("{first}_{second}_");
    suggest::closest(&prefix, std::iter::once(services::PREFIX))?;
    Some(format!("{}{rest}", services::PREFIX))
}

fn build(parser: &mut Parser) -> Config {
    let (restart, interfaces) = lifecycle::RestartConfig::parse(parser);
    let config = Config {
        restart,
        interfaces,
        success_exit_codes: parser.read(&SUCCESS_EXIT_CODES),
        subreaper: parser.read(&SUBREAPER),
        signal_target: parser.read(&SIGNAL_TARGET),
        signal_rewrite: parser.read(&SIGNAL_REWRITE),
        drain_delay: parser.read(&DRAIN_DELAY),
        shutdown_timeout: parser.read(&SHUTDOWN_TIMEOUT),
        leftover_grace: parser.read(&LEFTOVER_GRACE),
        log_format: parser.read(&LOG_FORMAT),
        log_level: parser.read(&LOG_LEVEL),
        status_file: parser.read(&STATUS_FILE),
        startup: startup::StartupConfig::parse(parser),
        health: health::HealthConfig::parse(parser),
        security: security::SecurityConfig::parse(parser),
        depends_on: parser.read(&services::DEPENDS_ON),
        exit_with: parser.read(&services::EXIT_WITH),
        // Read by `services::read`, which needs every name first.
        services: Vec::new(),
        config_file: parser.read(&file::CONFIG),
        file: file::FileUse::default(),
    };
    #[cfg(debug_assertions)]
    parser.read(&catalogue::FAULT_INJECT);
    config
}

pub(crate) fn parse_absolute_path(text: &str) -> Result<PathBuf, String> {
    match path_setting(OsStr::new(text)) {
        Some(path) if path.is_absolute() => Ok(path),
        _ => Err("an absolute path".into()),
    }
}

/// A path variable (TEND_STATUS_FILE, TEND_CONTROL_SOCKET) as tend reads it, and as its
/// client commands (`tend health`, `tend status`, `tend restart`, `tend stop`) must read
/// it to find the same file: trimmed, and `None` (the default) when empty or blank.
pub fn path_setting(value: &OsStr) -> Option<PathBuf> {
    let path = match value.to_str() {
        Some(text) => PathBuf::from(text.trim()),
        // tend itself refuses a non-UTF-8 value; a client does with it what it can.
        None => PathBuf::from(OsStr::from_bytes(value.as_bytes().trim_ascii())),
    };
    (!path.as_os_str().is_empty()).then_some(path)
}

/// The path variable `name` from the environment, read as `path_setting` reads it.
pub fn path_var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).as_deref().and_then(path_setting)
}

/// Reads just the logging variables, leniently, so that logging exists before the full
/// configuration is validated (its errors must be logged in the chosen format).
pub fn logging_from_vars(vars: &[(OsString, OsString)]) -> (LogFormat, String) {
    let mut format = None;
    let mut level = None;
    for (name, value) in first_of_each(vars.iter().cloned()) {
        let value = value.to_string_lossy();
        match name.to_str() {
            Some(name) if name == LOG_FORMAT.spec.name => format = LOG_FORMAT.parse(&value).ok(),
            Some(name) if name == LOG_LEVEL.spec.name => level = LOG_LEVEL.parse(&value).ok(),
            _ => {}
        }
    }
    (
        format.unwrap_or_else(|| LOG_FORMAT.default_value()),
        level.unwrap_or_else(|| LOG_LEVEL.default_value()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let config = Config::from_vars(vars(&[("PATH", "/bin")])).expect("defaults");
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(config.drain_delay, Duration::ZERO);
        assert!(config.subreaper);
        assert_eq!(config.signal_target, SignalTarget::Child);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn path_settings_are_trimmed_and_blank_means_the_default() {
        use std::os::unix::ffi::OsStrExt;
        let setting = |s: &str| path_setting(OsStr::new(s));
        assert_eq!(
            setting("/x/status.json "),
            Some(PathBuf::from("/x/status.json"))
        );
        assert_eq!(setting("\t/x/s.json\n"), Some(PathBuf::from("/x/s.json")));
        assert_eq!(setting(""), None);
        assert_eq!(setting("  "), None);
        assert_eq!(
            path_setting(OsStr::from_bytes(b" /x/\xff ")),
            Some(PathBuf::from(OsStr::from_bytes(b"/x/\xff")))
        );
        // tend reads its own variable the same way.
        let config = Config::from_vars(vars(&[("TEND_STATUS_FILE", " /x/status.json ")]));
        assert_eq!(
            config.expect("valid").status_file,
            Some(PathBuf::from("/x/status.json"))
        );
        let config = Config::from_vars(vars(&[("TEND_STATUS_FILE", " ")]));
        assert_eq!(config.expect("valid").status_file, None);
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let errors = Config::from_vars(vars(&[
            ("TEND_SHUTDOWN_TIMEOUT", "banana"),
            ("TEND_SUCCESS_EXIT_CODES", "143,999"),
            ("TEND_SIGNAL_TARGET", "everyone"),
            ("TEND_SHUTDOWN_TIMOUT", "5s"),
        ]))
        .expect_err("four errors");
        let names: Vec<_> = errors.iter().map(|e| e.variable.as_str()).collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        for name in [
            "TEND_SHUTDOWN_TIMEOUT",
            "TEND_SUCCESS_EXIT_CODES",
            "TEND_SIGNAL_TARGET",
            "TEND_SHUTDOWN_TIMOUT",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        let typo = errors
            .iter()
            .find(|e| e.variable == "TEND_SHUTDOWN_TIMOUT")
            .expect("typo reported");
        assert!(typo.expected.contains("did you mean TEND_SHUTDOWN_TIMEOUT"));
        let bad = errors
            .iter()
            .find(|e| e.variable == "TEND_SHUTDOWN_TIMEOUT")
            .expect("bad duration reported");
        assert_eq!(bad.value.as_deref(), Some("banana"));
    }

    #[test]
    fn a_misspelled_service_prefix_is_named() {
        for (name, meant) in [
            ("TEND_SERVICES_WEB", "TEND_SERVICE_WEB"),
            ("TEND_SERVCE_PHP_FPM", "TEND_SERVICE_PHP_FPM"),
        ] {
            let errors = Config::from_vars(vars(&[(name, "x")])).expect_err(name);
            assert!(
                errors[0]
                    .expected
                    .contains(&format!("did you mean {meant}?")),
                "{}",
                errors[0]
            );
        }
        let errors = Config::from_vars(vars(&[("TEND_WHATEVER_X", "x")])).expect_err("unknown");
        assert!(errors[0].expected.contains("`tend --help` lists them all"));
    }

    #[test]
    fn rewrite_and_stop_signals() {
        let config = Config::from_vars(vars(&[("TEND_SIGNAL_REWRITE", "TERM:QUIT,SIGQUIT:usr1")]))
            .expect("valid");
        assert_eq!(config.rewrite(libc::SIGTERM), libc::SIGQUIT);
        assert_eq!(config.rewrite(libc::SIGHUP), libc::SIGHUP);
        assert!(config.is_stop_signal(libc::SIGTERM));
        assert!(!config.is_stop_signal(libc::SIGQUIT), "QUIT is rewritten");
        assert!(!config.is_stop_signal(libc::SIGHUP));
        let plain = Config::from_vars(vars(&[])).expect("valid");
        assert!(plain.is_stop_signal(libc::SIGQUIT));
    }

    #[test]
    fn the_leftover_grace_defaults_to_3s_and_never_exceeds_the_shutdown_timeout() {
        let plain = Config::from_vars(vars(&[])).expect("valid");
        assert_eq!(plain.bounded_leftover_grace(), Duration::from_secs(3));
        let short = Config::from_vars(vars(&[("TEND_SHUTDOWN_TIMEOUT", "1s")])).expect("valid");
        assert_eq!(short.bounded_leftover_grace(), Duration::from_secs(1));
        let set = Config::from_vars(vars(&[("TEND_LEFTOVER_GRACE", "500ms")])).expect("valid");
        assert_eq!(set.bounded_leftover_grace(), Duration::from_millis(500));
        assert_eq!(set.to_json()["leftover_grace"], "500ms");
        assert!(Config::from_vars(vars(&[("TEND_LEFTOVER_GRACE", "soon")])).is_err());
    }

    #[test]
    fn logging_reads_the_first_of_a_variable_given_twice() {
        let env = vars(&[
            ("TEND_LOG_FORMAT", "text"),
            ("TEND_LOG_FORMAT", "json"),
            ("TEND_LOG_LEVEL", "debug"),
            ("TEND_LOG_LEVEL", "error"),
        ]);
        assert_eq!(logging_from_vars(&env), (LogFormat::Text, "debug".into()));
    }

    #[test]
    fn empty_values_mean_default() {
        let config = Config::from_vars(vars(&[("TEND_SHUTDOWN_TIMEOUT", "")])).expect("valid");
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn every_catalogued_variable_is_read() {
        // A variable in the catalogue that `build` does not read would be accepted and ignored.
        for spec in variables() {
            let error = Config::from_vars(vars(&[(spec.name, "\u{1}invalid\u{1}")]));
            let accepted_anything = matches!(spec.name, "TEND_STATUS_FILE" | "TEND_FAULT_INJECT");
            assert!(
                error.is_err() || accepted_anything,
                "{} accepted a nonsense value",
                spec.name
            );
        }
    }
}
