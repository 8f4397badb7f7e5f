//! `TEND_CONFIG`: a TOML file of the same settings as the `TEND_*` variables. It is a
//! second source of those variables, merged under the environment before the one parser
//! runs: each key stands for a variable (`shutdown_timeout` for TEND_SHUTDOWN_TIMEOUT,
//! `[services.web]`'s `restart_delay` for TEND_SERVICE_WEB_RESTART_DELAY, its `command`
//! for TEND_SERVICE_WEB), each value becomes the text that variable would hold, and a
//! variable set in the environment wins. So no setting is read twice, and every rule of
//! the variables holds in the file.
//!
//! An empty variable is no value, as everywhere: the file's applies. One exception keeps
//! what compose files do with images: an empty `TEND_SERVICE_<NAME>=` still disables the
//! service, the file's too.
//!
//! Errors about a value from the file name the file, the line and the key
//! (`/etc/tend/tend.toml:3: services.web.restart_delay="soon": expected …`) instead of
//! the variable.

mod document;
mod merge;
mod read;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::catalogue::{Var, VarSpec};
use super::{Config, ConfigError};

pub(super) const CONFIG: Var<Option<PathBuf>> = Var::unset(
    "TEND_CONFIG",
    "(none)",
    |text| super::parse_absolute_path(text).map(Some),
    "a TOML file of these settings, with a [services.NAME] table per service; a variable set in the environment wins over it",
);

pub(super) const VARIABLES: &[&VarSpec] = &[&CONFIG.spec];

/// Variables the file cannot set, and why.
pub(super) fn environment_only(variable: &str) -> Option<&'static str> {
    const CLIENTS: &str = "`tend health`, `tend status`, `tend stop` and `tend restart` \
                           read it to find tend, and they do not read the file";
    match variable {
        "TEND_CONFIG" => Some("it names this file"),
        "TEND_STATUS_FILE" | "TEND_CONTROL_SOCKET" => Some(CLIENTS),
        "TEND_FAULT_INJECT" => Some("a hook of the test suite"),
        _ => None,
    }
}

/// The settings of a configuration file: each as the variable it sets.
#[derive(Debug, Clone)]
pub struct Settings {
    /// As given in TEND_CONFIG, for the messages.
    path: String,
    entries: Vec<Entry>,
    tables: Vec<Table>,
    /// What is wrong with the file itself: unreadable, not TOML, unknown keys, values
    /// of no usable type. The values are checked by their variables' parsers.
    errors: Vec<ConfigError>,
}

/// One setting of the file.
#[derive(Debug, Clone)]
struct Entry {
    /// `TEND_SERVICE_WEB_RESTART_DELAY`.
    variable: String,
    /// `services.web.restart_delay`.
    key: String,
    line: usize,
    /// The text the variable would hold.
    value: String,
    role: Role,
}

/// What an entry's variable is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    /// A container-wide setting.
    Container,
    /// A service's `command`: its declaration, `TEND_SERVICE_<NAME>`.
    Declares,
    /// A setting of the service this variable declares (`TEND_SERVICE_<NAME>`).
    Of(String),
}

/// A service's table, `[services.NAME]`.
#[derive(Debug, Clone)]
struct Table {
    /// Its declaration, `TEND_SERVICE_<NAME>`.
    variable: String,
    /// `/etc/tend/tend.toml:7: services.web`.
    label: String,
    /// Whether it has a `command` (accepted or not).
    command: bool,
}

impl Settings {
    /// The file at `path` (the only I/O here), or the one error that it cannot be read.
    pub fn load(path: &Path) -> Settings {
        let shown = path.display().to_string();
        match read::text(path) {
            Ok(text) => Settings::parse(&shown, &text),
            Err(problem) => Settings {
                errors: vec![ConfigError {
                    variable: CONFIG.spec.name.into(),
                    value: Some(shown.clone()),
                    expected: format!("a readable TOML file; {problem}"),
                }],
                path: shown,
                entries: Vec::new(),
                tables: Vec::new(),
            },
        }
    }

    /// The settings in `text`, the content of the file at `path`.
    pub fn parse(path: &str, text: &str) -> Settings {
        let document = document::read(path, text);
        Settings {
            path: path.into(),
            entries: document.entries,
            tables: document.tables,
            errors: document.errors,
        }
    }

    fn label(&self, entry: &Entry) -> String {
        format!("{}:{}: {}", self.path, entry.line, entry.key)
    }
}

/// The file TEND_CONFIG names in `env` (the first of each name), when it is valid (a
/// value refused is reported by the parser).
fn named(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    let (_, value) = env.iter().find(|(name, _)| name == CONFIG.spec.name)?;
    let text = value.to_str()?;
    if text.trim().is_empty() {
        return None;
    }
    CONFIG.parse(text).ok().flatten()
}

/// Where the values came from, as `tend check-config` shows it.
#[derive(Debug, Clone, Default)]
pub struct FileUse {
    /// The keys whose values are used.
    pub keys: Vec<String>,
    /// The keys whose variables the environment sets: `shutdown_timeout
    /// (TEND_SHUTDOWN_TIMEOUT)`.
    pub overridden: Vec<String>,
    /// Each variable whose value is the file's, with where it is
    /// (`/etc/tend/tend.toml:3: restart`).
    places: BTreeMap<String, String>,
}

impl FileUse {
    /// How a message names the setting `variable`: the place in the file its value comes
    /// from, else the variable.
    pub fn place<'a>(&'a self, variable: &'a str) -> &'a str {
        self.places.get(variable).map_or(variable, String::as_str)
    }
}

/// The configuration's sources: the environment's TEND_* variables, and the file
/// TEND_CONFIG names, read once.
pub struct Sources {
    env: Vec<(OsString, OsString)>,
    file: Option<Settings>,
}

impl Sources {
    /// Reads the file the environment names, if any: the only I/O of the configuration.
    pub fn read(env: Vec<(OsString, OsString)>) -> Sources {
        let env: Vec<_> = super::first_of_each(env).collect();
        let file = named(&env).map(|path| Settings::load(&path));
        Sources { env, file }
    }

    /// The environment `env` and a file of `text`, for the tests.
    #[cfg(test)]
    pub(super) fn of_text(
        env: impl IntoIterator<Item = (OsString, OsString)>,
        path: &str,
        text: &str,
    ) -> Sources {
        Sources {
            env: super::first_of_each(env).collect(),
            file: Some(Settings::parse(path, text)),
        }
    }

    /// The logging settings, leniently (`config::logging_from_vars`), from both sources.
    pub fn logging(&self) -> (super::LogFormat, String) {
        match &self.file {
            Some(file) => super::logging_from_vars(&merge::merge(self.env.clone(), file).vars),
            None => super::logging_from_vars(&self.env),
        }
    }

    /// The configuration, and every problem found in either source.
    pub fn config(self) -> (Config, Vec<ConfigError>) {
        match &self.file {
            Some(file) => merge::config(self.env, file),
            None => Config::read_vars(self.env),
        }
    }
}
