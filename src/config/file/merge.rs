//! The merge: the file's variables added under the environment's, read by the one parser,
//! and its errors named by the file's keys.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};

use super::{FileUse, Role, Settings};
use crate::config::{services, Config, ConfigError};

/// The environment and the file together.
pub(super) struct Merged {
    /// The variables, the file's among them.
    pub vars: Vec<(OsString, OsString)>,
    used: FileUse,
    /// The file's services that nothing declares.
    undeclared: Vec<ConfigError>,
}

/// The environment's variables (first of each name), with the file's added where the
/// environment has none: unset, or empty (but an empty declaration of a service disables
/// it, the file's too). The settings of a service nothing declares are left out: its
/// table is the error.
pub(super) fn merge(env: Vec<(OsString, OsString)>, file: &Settings) -> Merged {
    let given: BTreeMap<&OsStr, bool> = env
        .iter()
        .map(|(name, value)| (name.as_os_str(), is_empty(value)))
        .collect();
    let in_env = |variable: &str| given.contains_key(OsStr::new(variable));
    let in_file = |variable: &str| {
        file.entries
            .iter()
            .any(|e| e.role == Role::Declares && e.variable == variable)
    };
    let mut used = FileUse::default();
    let mut taken = Vec::new();
    for entry in &file.entries {
        if let Role::Of(service) = &entry.role {
            if !in_env(service) && !in_file(service) {
                continue;
            }
        }
        match given.get(OsStr::new(&entry.variable)) {
            Some(empty) if !empty || entry.role == Role::Declares => used
                .overridden
                .push(format!("{} ({})", entry.key, entry.variable)),
            _ => {
                used.places
                    .insert(entry.variable.clone(), file.label(entry));
                used.keys.push(entry.key.clone());
                taken.push((entry.variable.as_str().into(), entry.value.as_str().into()));
            }
        }
    }
    let undeclared = undeclared(file, in_env);
    let vars = env
        .into_iter()
        .filter(|(name, _)| name.to_str().is_none_or(|n| !used.places.contains_key(n)))
        .chain(taken)
        .collect();
    Merged {
        vars,
        used,
        undeclared,
    }
}

/// The tables of services without a `command` whose declaration the environment does
/// not have either.
fn undeclared(file: &Settings, in_env: impl Fn(&str) -> bool) -> Vec<ConfigError> {
    file.tables
        .iter()
        .filter(|table| !table.command && !in_env(&table.variable))
        .map(|table| ConfigError {
            variable: table.label.clone(),
            value: None,
            expected: format!(
                "expected a command = \"PROGRAM ARGS…\": it declares the service (else \
                 {} in the environment does)",
                table.variable
            ),
        })
        .collect()
}

/// Empty or blanks: no value (a value that is not UTF-8 is one, refused later).
fn is_empty(value: &OsStr) -> bool {
    value.to_str().is_some_and(|text| text.trim().is_empty())
}

/// The configuration read from the environment and `file` together.
pub(super) fn config(
    env: Vec<(OsString, OsString)>,
    file: &Settings,
) -> (Config, Vec<ConfigError>) {
    let merged = merge(env, file);
    let (mut config, parsed) = Config::read_vars(merged.vars);
    let used = merged.used;
    let mut errors = file.errors.clone();
    errors.extend(merged.undeclared);
    errors.extend(parsed.into_iter().map(|mut error| {
        error.variable = used.place(&error.variable).to_string();
        error
    }));
    errors.extend(swallowed_services(file, &used, &config, &errors));
    config.file = used;
    (config, errors)
}

/// The file's services that were read as another's settings: `[services.web_user]` beside
/// `[services.web]` is TEND_SERVICE_WEB_USER, web's user (the variables' naming rule,
/// `config::services`). The environment has no way to tell them apart; the file's tables
/// do, so this is an error rather than a surprise.
fn swallowed_services(
    file: &Settings,
    used: &FileUse,
    config: &Config,
    errors: &[ConfigError],
) -> Vec<ConfigError> {
    let reported: BTreeSet<&str> = errors.iter().map(|e| e.variable.as_str()).collect();
    let mut found = Vec::new();
    // An empty command declares nothing (it disables the service, as in the environment).
    let declarations = file
        .entries
        .iter()
        .filter(|e| e.role == Role::Declares && !e.value.trim().is_empty());
    for entry in declarations {
        let Some(label) = used.places.get(&entry.variable) else {
            continue;
        };
        let name = entry.variable[services::PREFIX.len()..].to_ascii_lowercase();
        if reported.contains(label.as_str()) || config.services.iter().any(|s| s.name == name) {
            continue;
        }
        let owner = config
            .services
            .iter()
            .find(|s| name.starts_with(&format!("{}_", s.name)));
        let expected = match owner {
            Some(owner) => format!(
                "another service name: {} is read as a setting of the service {} \
                 (a service's name cannot begin with another's and _)",
                entry.variable, owner.name
            ),
            None => format!(
                "another service name: {} is not read as one",
                entry.variable
            ),
        };
        found.push(ConfigError {
            variable: label.clone(),
            value: None,
            expected,
        });
    }
    found
}
