//! The naming rule of service variables (see the module above): which `TEND_SERVICE_*`
//! names declare a service, which set one up, and which are errors.

use std::collections::BTreeSet;

use super::{setting_names, PREFIX};
use crate::config::ConfigError;

/// Sorts the `TEND_SERVICE_*` names into declarations (the `<NAME>` of each, in order)
/// and errors, by the rule in `config::services`' comment. Shorter names first, so that a
/// service is known before the names that begin with it are read.
pub(super) fn classify(names: &[String]) -> (Vec<&str>, Vec<ConfigError>) {
    let mut rests: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|name| Some((name.as_str(), name.strip_prefix(PREFIX)?)))
        .collect();
    rests.sort_by_key(|&(_, rest)| (rest.len(), rest));
    let settings: BTreeSet<&str> = setting_names().collect();
    let mut declared: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    let error = |name: &str, expected: String| ConfigError {
        variable: name.to_string(),
        value: None,
        expected,
    };
    for (name, rest) in rests {
        if !valid_name(rest) {
            errors.push(error(
                name,
                "a service name after TEND_SERVICE_: words of capitals and digits joined \
                 by single _, such as TEND_SERVICE_PHP_FPM"
                    .into(),
            ));
            continue;
        }
        let splits = || {
            rest.match_indices('_')
                .map(|(at, _)| (&rest[..at], &rest[at + 1..]))
        };
        if let Some((service, setting)) = splits().find(|(s, _)| declared.contains(s)) {
            if !settings.contains(setting) {
                errors.push(error(name, unknown_setting(service, setting)));
            }
            continue;
        }
        if rest == "MAIN" {
            errors.push(error(
                name,
                "another name: main is the command after `--` (TEND_DEPENDS_ON sets its \
                 dependencies)"
                    .into(),
            ));
            continue;
        }
        if let Some((service, setting)) = splits().find(|(_, s)| settings.contains(s)) {
            errors.push(error(
                name,
                format!(
                    "the setting {setting} of a service {service}, but {PREFIX}{service} is not \
                     set: declare it ({PREFIX}{service}=COMMAND), or name this service otherwise \
                     (a service's name cannot end in _{setting})"
                ),
            ));
            continue;
        }
        declared.push(rest);
    }
    (declared, errors)
}

fn unknown_setting(service: &str, setting: &str) -> String {
    let lower = service.to_ascii_lowercase();
    let hint = match crate::config::suggest::closest(setting, setting_names()) {
        Some(known) => format!("did you mean {PREFIX}{service}_{known}?"),
        None => format!(
            "the settings are {}",
            setting_names().collect::<Vec<_>>().join(", ")
        ),
    };
    format!(
        "a setting of the service {lower} ({PREFIX}{service} is set), and {setting} is none; \
         {hint} (a service's name cannot begin with another's and _)"
    )
}

/// `PHP_FPM`: capitals and digits, words joined by single `_`.
pub(in crate::config) fn valid_name(rest: &str) -> bool {
    !rest.is_empty()
        && rest.split('_').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}
