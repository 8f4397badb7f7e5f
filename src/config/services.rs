//! Services (issue 14): `TEND_SERVICE_<NAME>=COMMAND ARGS…` declares one, and
//! `TEND_SERVICE_<NAME>_<SETTING>` sets it up. Each setting is read by the parser of its
//! container-wide twin where there is one (`TEND_SERVICE_WEB_USER` as `TEND_USER`), and
//! some take the twin's value when unset (the user, the shutdown bounds, the check and
//! backoff timings), never what is meant for the main command alone (its health check,
//! remediation, restart policy, dependencies). Also `TEND_DEPENDS_ON` (main's) and
//! `TEND_EXIT_WITH`.
//!
//! Naming: `<NAME>` is words of capitals and digits joined by single `_`, lowercase for
//! use (`TEND_SERVICE_PHP_FPM` is `php_fpm`). A variable `TEND_SERVICE_<X>_<Y>` is a
//! setting of `<X>` when `TEND_SERVICE_<X>` is set (then `<Y>` must be a known setting,
//! or the variable is an error with "did you mean"); otherwise it declares the service
//! `<X>_<Y>`, unless `<Y>` is a setting's name (then `TEND_SERVICE_<X>` is missing: an
//! error too). So a service's name never begins with another's followed by `_`, nor ends
//! with `_` and a setting. An empty `TEND_SERVICE_<NAME>=` disables the service (empty
//! means unset, as for every variable): its settings are then accepted and ignored.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use super::catalogue::{Var, VarSpec};
use super::general::{SHUTDOWN_TIMEOUT, SIGNAL_TARGET};
use super::health::{
    HealthConfig, CHECK, FAILURE_THRESHOLD, INTERVAL, REMEDIATION, STARTUP_TIMEOUT, START_INTERVAL,
    START_PERIOD, SUCCESS_THRESHOLD, TIMEOUT,
};
use super::lifecycle::{
    RestartConfig, RESTART, RESTART_DELAY, RESTART_MAX_ATTEMPTS, RESTART_MAX_DELAY, RESTART_WINDOW,
};
use super::parser::{Parser, Refused};
use super::startup::USER;
use super::values::parse_bool;
use super::{Config, ConfigError, SignalTarget};
use crate::duration::format_duration;
use crate::policy::RestartPolicy;
use crate::services::graph::{cycle_text, Condition, Dependency, Graph, GraphError, Node, MAIN};
use crate::shown::quoted;
use crate::signals::{is_fault_signal, parse_signal, signal_name};
use crate::users::UserSpec;
use crate::words::split_list;

/// The prefix of every service variable.
pub const PREFIX: &str = "TEND_SERVICE_";

pub(super) const DEPENDS_ON: Var<Vec<Dependency>> = Var::unset(
    "TEND_DEPENDS_ON",
    "(none)",
    parse_dependencies,
    "services the main command waits for: NAME[:started|healthy|completed], comma separated (see TEND_SERVICE_<NAME>)",
);
pub(super) const EXIT_WITH: Var<ExitWith> = Var::new(
    "TEND_EXIT_WITH",
    "main",
    parse_exit_with,
    "with services: tend ends when the main command ends (main) or when every service has ended (all)",
);

pub(super) const VARIABLES: &[&VarSpec] = &[&DEPENDS_ON.spec, &EXIT_WITH.spec];

/// The declaration itself: `TEND_SERVICE_<NAME>`.
const COMMAND: Var<Vec<String>> = Var::unset(
    "TEND_SERVICE_<NAME>",
    "(none)",
    parse_command,
    "declares the service: its command and arguments, split into words as an exec: probe (no shell)",
);
const ONESHOT: Var<bool> = Var::new(
    "TEND_SERVICE_<NAME>_ONESHOT",
    "false",
    parse_bool,
    "a task that runs to completion (a migration): `completed` may be asked of it",
);
const STOP_SIGNAL: Var<i32> = Var::new(
    "TEND_SERVICE_<NAME>_STOP_SIGNAL",
    "TERM",
    parse_stop_signal,
    "the signal that asks the service to stop",
);
const WORKDIR: Var<Option<PathBuf>> = Var::unset(
    "TEND_SERVICE_<NAME>_WORKDIR",
    "(tend's own)",
    |text| super::parse_absolute_path(text).map(Some),
    "the directory the service starts in (absolute)",
);
const ENV: Var<Vec<(String, String)>, Refused> = Var::unset(
    "TEND_SERVICE_<NAME>_ENV",
    "(none)",
    parse_env,
    "variables added to the service's environment: NAME=VALUE, comma separated",
);
const OUTPUT: Var<Output> = Var::new(
    "TEND_SERVICE_<NAME>_OUTPUT",
    "inherit",
    parse_output,
    "inherit (stdout and stderr pass through untouched) or prefix (each line begins with the service's name)",
);

/// Every setting of a service, as `TEND_SERVICE_<NAME>_<SETTING>`: its own, and the
/// container-wide twins read under the service's name (`suffix` gives `<SETTING>`).
pub(super) const SETTINGS: &[&VarSpec] = &[
    &DEPENDS_ON.spec,
    &ONESHOT.spec,
    &RESTART.spec,
    &RESTART_MAX_ATTEMPTS.spec,
    &RESTART_DELAY.spec,
    &RESTART_MAX_DELAY.spec,
    &RESTART_WINDOW.spec,
    &CHECK.spec,
    &INTERVAL.spec,
    &START_INTERVAL.spec,
    &TIMEOUT.spec,
    &START_PERIOD.spec,
    &FAILURE_THRESHOLD.spec,
    &SUCCESS_THRESHOLD.spec,
    &STARTUP_TIMEOUT.spec,
    &REMEDIATION.spec,
    &USER.spec,
    &STOP_SIGNAL.spec,
    &SHUTDOWN_TIMEOUT.spec,
    &SIGNAL_TARGET.spec,
    &WORKDIR.spec,
    &ENV.spec,
    &OUTPUT.spec,
];

/// The `<SETTING>` of a service setting: `USER` for `TEND_USER`, `ONESHOT` for
/// `TEND_SERVICE_<NAME>_ONESHOT`.
fn suffix(spec: &VarSpec) -> &'static str {
    let name = spec.name;
    name.strip_prefix("TEND_SERVICE_<NAME>_")
        .or_else(|| name.strip_prefix("TEND_"))
        .unwrap_or(name)
}

/// Every `<SETTING>` a service takes.
pub fn setting_names() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|spec| suffix(spec))
}

/// When tend ends while it runs services (TEND_EXIT_WITH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitWith {
    /// When the main command exits, everything stops (s6-overlay's rule).
    Main,
    /// When every service has ended.
    All,
}

impl ExitWith {
    pub fn name(self) -> &'static str {
        match self {
            ExitWith::Main => "main",
            ExitWith::All => "all",
        }
    }
}

/// What becomes of a service's stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Passed through untouched: the service writes to tend's own.
    Inherit,
    /// Copied line by line, each line prefixed with the service's name (as compose does).
    Prefix,
}

impl Output {
    pub fn name(self) -> &'static str {
        match self {
            Output::Inherit => "inherit",
            Output::Prefix => "prefix",
        }
    }
}

/// One service, every setting merged: its own where set, else the container-wide value
/// where it inherits one, else the default.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Lowercase, as in events and commands: `php_fpm`.
    pub name: String,
    /// The declaring variable, `TEND_SERVICE_PHP_FPM`: its settings append `_<SETTING>`.
    pub variable: String,
    pub command: Vec<String>,
    pub depends_on: Vec<Dependency>,
    pub oneshot: bool,
    pub restart: RestartConfig,
    /// `health.check` is the service's own or none; the remediation too.
    pub health: HealthConfig,
    pub user: Option<UserSpec>,
    pub stop_signal: i32,
    pub shutdown_timeout: Duration,
    pub signal_target: SignalTarget,
    pub workdir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub output: Output,
}

impl ServiceConfig {
    /// The settings as `tend check-config` prints them. The values of `env` are not
    /// shown (they are often secrets), only the names.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "command": crate::redact::words(&self.command),
            "depends_on": dependencies_json(&self.depends_on),
            "oneshot": self.oneshot,
            "restart": self.restart.to_json(),
            "health": self.health.to_json(),
            "user": self.user.as_ref().map(user_text),
            "stop_signal": signal_name(self.stop_signal),
            "shutdown_timeout": format_duration(self.shutdown_timeout),
            "signal_target": match self.signal_target {
                SignalTarget::Child => "child",
                SignalTarget::Group => "group",
            },
            "workdir": self.workdir,
            "env": self.env.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
            "output": self.output.name(),
        })
    }
}

fn user_text(spec: &UserSpec) -> String {
    match &spec.group {
        Some(group) => format!("{}:{group}", spec.user),
        None => spec.user.clone(),
    }
}

fn dependencies_json(list: &[Dependency]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

impl Config {
    /// Whether any variable of services is set: only then does `tend check-config` show
    /// them (the output of a configuration without them stays as it was).
    pub fn has_services(&self) -> bool {
        !self.services.is_empty() || !self.depends_on.is_empty() || self.exit_with != ExitWith::Main
    }

    /// The services and the main command as the graph's nodes (main named `main`).
    fn nodes(&self) -> Vec<Node<'_>> {
        let main = Node {
            name: MAIN,
            depends_on: &self.depends_on,
            health_check: self.health.check.is_some(),
            oneshot: false,
        };
        std::iter::once(main)
            .chain(self.services.iter().map(|service| Node {
                name: &service.name,
                depends_on: &service.depends_on,
                health_check: service.health.check.is_some(),
                oneshot: service.oneshot,
            }))
            .collect()
    }

    /// The dependency graph of the services and the main command.
    pub fn service_graph(&self) -> Result<Graph, Vec<GraphError>> {
        Graph::new(&self.nodes())
    }

    /// The services part of `tend check-config`'s document: added to it only when
    /// `has_services`.
    pub(super) fn services_json(&self) -> serde_json::Value {
        let services: serde_json::Map<String, serde_json::Value> = self
            .services
            .iter()
            .map(|s| (s.name.clone(), s.to_json()))
            .collect();
        let (start, stop) = match self.service_graph() {
            Ok(graph) => (
                serde_json::json!(graph.start_waves()),
                serde_json::json!(graph.stop_waves()),
            ),
            Err(_) => (serde_json::Value::Null, serde_json::Value::Null),
        };
        serde_json::json!({
            "depends_on": dependencies_json(&self.depends_on),
            "exit_with": self.exit_with.name(),
            "services": services,
            "start_order": start,
            "stop_order": stop,
        })
    }
}

/// Reads every service declared among `names` (every `TEND_SERVICE_*` name in the
/// environment, set or empty), recording what is wrong with the names and the values;
/// then the dependency graph's errors, each named by the `DEPENDS_ON` variable whose
/// dependency is wrong. With no such name (`names` empty) and no TEND_DEPENDS_ON, nothing
/// is done.
pub(super) fn read(parser: &mut Parser, names: &[String], config: &mut Config) {
    if names.is_empty() && config.depends_on.is_empty() {
        return;
    }
    let (declared, name_errors) = classify(names);
    for error in name_errors {
        parser.push(error);
    }
    let mut disabled = BTreeSet::new();
    for rest in declared {
        let variable = format!("{PREFIX}{rest}");
        if !parser.is_set(&variable) {
            disabled.insert(rest.to_ascii_lowercase());
            continue;
        }
        let service = read_service(parser, rest, variable, config);
        config.services.push(service);
    }
    config.services.sort_by(|a, b| a.name.cmp(&b.name));
    if let Err(errors) = config.service_graph() {
        for error in errors {
            if let Some(error) = graph_error(parser, config, &disabled, &error) {
                parser.push(error);
            }
        }
    }
}

/// Reads a service's settings under its own names.
struct Reader<'p, 'a> {
    parser: &'p mut Parser<'a>,
    /// `TEND_SERVICE_WEB`.
    variable: String,
}

impl Reader<'_, '_> {
    fn name(&self, spec: &VarSpec) -> String {
        if spec.name == COMMAND.spec.name {
            self.variable.clone()
        } else {
            format!("{}_{}", self.variable, suffix(spec))
        }
    }

    /// A setting without a container-wide value to take: its own, else its default.
    fn own<T, E: Into<Refused>>(&mut self, var: &Var<T, E>) -> T {
        let name = self.name(&var.spec);
        self.parser.read_as(var, &name, || var.default_value())
    }

    /// A setting that takes the container-wide value when unset.
    fn or<T, E: Into<Refused>>(&mut self, var: &Var<T, E>, container: T) -> T {
        let name = self.name(&var.spec);
        self.parser.read_as(var, &name, || container)
    }
}

fn read_service(parser: &mut Parser, rest: &str, variable: String, c: &Config) -> ServiceConfig {
    let mut r = Reader { parser, variable };
    let restart = RestartConfig {
        policy: r.own(&RESTART),
        max_attempts: r.or(&RESTART_MAX_ATTEMPTS, c.restart.max_attempts),
        delay: r.or(&RESTART_DELAY, c.restart.delay),
        max_delay: r.or(&RESTART_MAX_DELAY, c.restart.max_delay),
        window: r.or(&RESTART_WINDOW, c.restart.window),
    };
    let health = HealthConfig {
        check: r.own(&CHECK),
        interval: r.or(&INTERVAL, c.health.interval),
        start_interval: r.or(&START_INTERVAL, c.health.start_interval),
        timeout: r.or(&TIMEOUT, c.health.timeout),
        thresholds: crate::policy::Thresholds {
            start_period: r.or(&START_PERIOD, c.health.thresholds.start_period),
            failure: r.or(&FAILURE_THRESHOLD, c.health.thresholds.failure),
            success: r.or(&SUCCESS_THRESHOLD, c.health.thresholds.success),
        },
        remediation: r.own(&REMEDIATION),
        startup_timeout: r.or(&STARTUP_TIMEOUT, c.health.startup_timeout),
    };
    let service = ServiceConfig {
        name: rest.to_ascii_lowercase(),
        command: r.own(&COMMAND),
        depends_on: r.own(&DEPENDS_ON),
        oneshot: r.own(&ONESHOT),
        restart,
        health,
        user: r.or(&USER, c.startup.user.clone()),
        stop_signal: r.own(&STOP_SIGNAL),
        shutdown_timeout: r.or(&SHUTDOWN_TIMEOUT, c.shutdown_timeout),
        signal_target: r.or(&SIGNAL_TARGET, c.signal_target),
        workdir: r.own(&WORKDIR),
        env: r.own(&ENV),
        output: r.own(&OUTPUT),
        variable: r.variable,
    };
    let endless = matches!(
        service.restart.policy,
        RestartPolicy::Always | RestartPolicy::UnlessStopped
    );
    if service.oneshot && endless {
        let name = format!("{}_{}", service.variable, suffix(&RESTART.spec));
        let value = parser.text(&name).unwrap_or_default().to_string();
        parser.refuse(
            &name,
            &value,
            format!(
                "no or on-failure: a one-shot ({}_{}=true) runs to completion",
                service.variable,
                suffix(&ONESHOT.spec)
            ),
        );
    }
    service
}

/// Sorts the `TEND_SERVICE_*` names into declarations (the `<NAME>` of each, in order)
/// and errors, by the rule in the module's comment. Shorter names first, so that a
/// service is known before the names that begin with it are read.
fn classify(names: &[String]) -> (Vec<&str>, Vec<ConfigError>) {
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
    let hint = match super::suggest::closest(setting, setting_names()) {
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
fn valid_name(rest: &str) -> bool {
    !rest.is_empty()
        && rest.split('_').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

/// A graph error as a configuration error about the `DEPENDS_ON` variable of the service
/// whose dependencies are wrong; `None` when the error only repeats one already recorded
/// (a `healthy` asked of a service whose health check was refused).
fn graph_error(
    parser: &Parser,
    config: &Config,
    disabled: &BTreeSet<String>,
    error: &GraphError,
) -> Option<ConfigError> {
    let service = error.service();
    let variables = |name: &str| -> (String, String) {
        // (the declaring prefix for its settings, its DEPENDS_ON variable)
        match config.services.iter().find(|s| s.name == name) {
            Some(s) => (
                format!("{}_", s.variable),
                format!("{}_{}", s.variable, suffix(&DEPENDS_ON.spec)),
            ),
            None => ("TEND_".into(), DEPENDS_ON.spec.name.into()),
        }
    };
    let (_, variable) = variables(service);
    // As given (a DEPENDS_ON whose graph is checked was accepted by its parser: it is set).
    let value = parser.text(&variable).unwrap_or_default().to_string();
    let expected = match error {
        GraphError::Cycle(names) => format!(
            "no dependency cycle, but {} is one (a service cannot wait for itself, even \
             through others)",
            cycle_text(names)
        ),
        GraphError::Unknown { dependency, .. } => {
            let known: Vec<&str> = config
                .services
                .iter()
                .map(|s| s.name.as_str())
                .chain([MAIN])
                .filter(|name| *name != service)
                .collect();
            let hint = if disabled.contains(dependency) {
                format!(
                    "; it is disabled ({PREFIX}{} is empty)",
                    dependency.to_ascii_uppercase()
                )
            } else {
                match super::suggest::closest(dependency, known.iter().copied()) {
                    Some(close) => format!("; did you mean {close}?"),
                    None => String::new(),
                }
            };
            format!(
                "services declared with {PREFIX}<NAME>, or main ({}); {} is none{hint}",
                known.join(", "),
                quoted(dependency)
            )
        }
        GraphError::NoHealthCheck { dependency, .. } => {
            let check = format!("{}{}", variables(dependency).0, suffix(&CHECK.spec));
            if parser.has_error(&check) {
                return None;
            }
            format!("healthy only of a service with a health check, and {dependency} has none ({check})")
        }
        GraphError::NotOneshot { dependency, .. } => {
            if dependency == MAIN {
                "completed only of a one-shot, and main is never one".into()
            } else {
                let oneshot = format!("{}{}", variables(dependency).0, suffix(&ONESHOT.spec));
                if parser.has_error(&oneshot) {
                    return None;
                }
                format!(
                    "completed only of a one-shot, and {dependency} is not one ({oneshot}=true)"
                )
            }
        }
    };
    Some(ConfigError {
        variable,
        value: Some(value),
        expected,
    })
}

fn parse_dependencies(text: &str) -> Result<Vec<Dependency>, String> {
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

fn parse_exit_with(text: &str) -> Result<ExitWith, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "main" => Ok(ExitWith::Main),
        "all" => Ok(ExitWith::All),
        _ => Err("main or all".into()),
    }
}

fn parse_output(text: &str) -> Result<Output, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "inherit" => Ok(Output::Inherit),
        "prefix" => Ok(Output::Prefix),
        _ => Err("inherit or prefix".into()),
    }
}

/// Any signal but the fault signals (tend never sends those) and STOP (a stopped service
/// would only wait for the kill).
fn parse_stop_signal(text: &str) -> Result<i32, String> {
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
fn parse_command(text: &str) -> Result<Vec<String>, String> {
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
fn parse_env(text: &str) -> Result<Vec<(String, String)>, Refused> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::from_pairs;

    /// The container-wide variables a service takes the value of when its own is unset, as
    /// the documentation lists them (a test holds the two together).
    const INHERITED: &[&str] = &[
        "TEND_RESTART_MAX_ATTEMPTS",
        "TEND_RESTART_DELAY",
        "TEND_RESTART_MAX_DELAY",
        "TEND_RESTART_WINDOW",
        "TEND_HEALTH_INTERVAL",
        "TEND_HEALTH_START_INTERVAL",
        "TEND_HEALTH_TIMEOUT",
        "TEND_HEALTH_START_PERIOD",
        "TEND_HEALTH_FAILURE_THRESHOLD",
        "TEND_HEALTH_SUCCESS_THRESHOLD",
        "TEND_STARTUP_TIMEOUT",
        "TEND_USER",
        "TEND_SHUTDOWN_TIMEOUT",
        "TEND_SIGNAL_TARGET",
    ];

    fn valid(pairs: &[(&str, &str)]) -> Config {
        from_pairs(pairs).unwrap_or_else(|errors| panic!("{pairs:?}: {errors:?}"))
    }

    fn refused(pairs: &[(&str, &str)]) -> Vec<ConfigError> {
        from_pairs(pairs).expect_err("refused")
    }

    fn service<'a>(config: &'a Config, name: &str) -> &'a ServiceConfig {
        config
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no service {name} in {:?}", config.services))
    }

    /// The errors, one line each, as the user reads them.
    fn text(errors: &[ConfigError]) -> String {
        errors.iter().map(|e| format!("{e}\n")).collect()
    }

    #[test]
    fn services_are_declared_named_in_lowercase_and_sorted() {
        let config = valid(&[
            ("TEND_SERVICE_WEB", "nginx -g 'daemon off;'"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm, MIGRATE:Completed"),
            ("TEND_SERVICE_WEB_USER", "www:www"),
            ("TEND_SERVICE_WEB_OUTPUT", "prefix"),
            ("TEND_SERVICE_WEB_ENV", "PORT=8080, GREETING='a, b',EMPTY="),
            ("TEND_SERVICE_WEB_WORKDIR", "/srv"),
            ("TEND_SERVICE_WEB_STOP_SIGNAL", "SIGQUIT"),
            ("TEND_SERVICE_PHP_FPM", "php-fpm -F"),
            ("TEND_SERVICE_MIGRATE", "migrate up"),
            ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
            ("TEND_SERVICE_MIGRATE_RESTART", "on-failure"),
        ]);
        let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["migrate", "php_fpm", "web"]);
        let web = service(&config, "web");
        assert_eq!(web.variable, "TEND_SERVICE_WEB");
        assert_eq!(web.command, ["nginx", "-g", "daemon off;"]);
        let deps: Vec<String> = web.depends_on.iter().map(ToString::to_string).collect();
        assert_eq!(deps, ["php_fpm:started", "migrate:completed"]);
        assert_eq!(web.user.as_ref().map(user_text).as_deref(), Some("www:www"));
        assert_eq!(web.output, Output::Prefix);
        let env: Vec<(&str, &str)> = web
            .env
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, [("PORT", "8080"), ("GREETING", "a, b"), ("EMPTY", "")]);
        assert_eq!(web.workdir, Some(PathBuf::from("/srv")));
        assert_eq!(web.stop_signal, libc::SIGQUIT);
        let migrate = service(&config, "migrate");
        assert!(migrate.oneshot);
        assert_eq!(migrate.restart.policy, RestartPolicy::OnFailure);
        let php = service(&config, "php_fpm");
        assert_eq!(php.stop_signal, libc::SIGTERM);
        assert_eq!(php.output, Output::Inherit);
        assert!(!php.oneshot && php.workdir.is_none() && php.env.is_empty());
        let graph = config.service_graph().expect("valid graph");
        assert_eq!(
            graph.start_waves(),
            [vec!["main", "migrate", "php_fpm"], vec!["web"]]
        );
    }

    #[test]
    fn without_services_nothing_changes() {
        let plain = valid(&[]);
        assert!(plain.services.is_empty() && plain.depends_on.is_empty());
        assert_eq!(plain.exit_with, ExitWith::Main);
        assert!(!plain.has_services());
        let document = plain.to_json();
        for key in ["services", "depends_on", "exit_with", "start_order"] {
            assert!(document.get(key).is_none(), "{key} in {document}");
        }
        let with = valid(&[("TEND_SERVICE_DB", "postgres"), ("TEND_EXIT_WITH", "all")]);
        let document = with.to_json();
        assert_eq!(document["exit_with"], "all");
        assert_eq!(document["start_order"], serde_json::json!([["db", "main"]]));
        assert_eq!(document["stop_order"], serde_json::json!([["db", "main"]]));
        assert_eq!(document["services"]["db"]["command"], "postgres");
    }

    #[test]
    fn a_setting_of_a_declared_service_must_be_known() {
        let errors = refused(&[
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_USR", "www"),
            ("TEND_SERVICE_WEB_HEALTHCHECK", "tcp://x:1"),
            ("TEND_SERVICE_WEB_FPM", "php-fpm"),
        ]);
        let shown = text(&errors);
        assert_eq!(errors.len(), 3, "{shown}");
        assert!(
            shown.contains("TEND_SERVICE_WEB_USR: ")
                && shown.contains("did you mean TEND_SERVICE_WEB_USER?"),
            "{shown}"
        );
        assert!(
            shown.contains("did you mean TEND_SERVICE_WEB_HEALTH_CHECK?"),
            "{shown}"
        );
        // Not near any setting: the settings are listed, and the rule said.
        let fpm = errors
            .iter()
            .find(|e| e.variable == "TEND_SERVICE_WEB_FPM")
            .expect("named");
        assert!(fpm.expected.contains("DEPENDS_ON, ONESHOT"), "{fpm}");
        assert!(
            fpm.expected.contains("cannot begin with another's"),
            "{fpm}"
        );
        assert!(fpm.value.is_none(), "a name error shows no value: {fpm}");
    }

    #[test]
    fn a_setting_without_its_service_is_no_service() {
        let errors = refused(&[
            ("TEND_SERVICE_WEB_USER", "www"),
            ("TEND_SERVICE_WBE", "nginx"),
        ]);
        assert_eq!(errors.len(), 1, "{}", text(&errors));
        assert_eq!(errors[0].variable, "TEND_SERVICE_WEB_USER");
        assert!(
            errors[0].expected.contains("TEND_SERVICE_WEB is not set"),
            "{}",
            errors[0]
        );
        // A name that is a setting's, alone, is a service's name like any other.
        let config = valid(&[("TEND_SERVICE_USER", "useradd-daemon")]);
        assert_eq!(config.services[0].name, "user");
    }

    #[test]
    fn names_are_capitals_digits_and_single_underscores() {
        for bad in [
            "TEND_SERVICE_web",
            "TEND_SERVICE_",
            "TEND_SERVICE__WEB",
            "TEND_SERVICE_WEB_",
            "TEND_SERVICE_A__B",
            "TEND_SERVICE_PHP-FPM",
            "TEND_SERVICE_WÉB",
        ] {
            let errors = refused(&[(bad, "x")]);
            assert_eq!(errors.len(), 1, "{bad}: {}", text(&errors));
            assert_eq!(errors[0].variable, bad);
            assert!(
                errors[0].expected.contains("capitals and digits"),
                "{}",
                errors[0]
            );
        }
        let errors = refused(&[("TEND_SERVICE_MAIN", "x")]);
        assert!(errors[0]
            .expected
            .contains("main is the command after `--`"));
        let config = valid(&[("TEND_SERVICE_2ND_WORKER_3", "worker")]);
        assert_eq!(config.services[0].name, "2nd_worker_3");
    }

    #[test]
    fn an_empty_declaration_disables_the_service_and_its_settings() {
        let config = valid(&[
            ("TEND_SERVICE_CACHE", ""),
            ("TEND_SERVICE_CACHE_USER", "redis"),
            ("TEND_SERVICE_CACHE_RESTART", "always"),
        ]);
        assert!(config.services.is_empty());
        let errors = refused(&[
            ("TEND_SERVICE_CACHE", " "),
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "cache"),
        ]);
        assert_eq!(errors.len(), 1, "{}", text(&errors));
        assert!(
            errors[0]
                .expected
                .contains("it is disabled (TEND_SERVICE_CACHE is empty)"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn graph_errors_name_the_depends_on_variable_and_the_services() {
        let errors = refused(&[
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "php_fpm"),
            ("TEND_SERVICE_PHP_FPM", "php-fpm"),
            (
                "TEND_SERVICE_PHP_FPM_DEPENDS_ON",
                "web,dbb,cache:healthy,cron:completed",
            ),
            ("TEND_SERVICE_DB", "postgres"),
            ("TEND_SERVICE_CACHE", "redis"),
            ("TEND_SERVICE_CRON", "crond -f"),
        ]);
        let shown = text(&errors);
        assert_eq!(errors.len(), 4, "{shown}");
        assert!(
            errors
                .iter()
                .all(|e| e.variable == "TEND_SERVICE_PHP_FPM_DEPENDS_ON"),
            "{shown}"
        );
        for needle in [
            "php_fpm → web → php_fpm",
            "\"dbb\" is none; did you mean db?",
            "healthy only of a service with a health check, and cache has none (TEND_SERVICE_CACHE_HEALTH_CHECK)",
            "completed only of a one-shot, and cron is not one (TEND_SERVICE_CRON_ONESHOT=true)",
            "TEND_SERVICE_PHP_FPM_DEPENDS_ON=\"web,dbb,cache:healthy,cron:completed\"",
        ] {
            assert!(shown.contains(needle), "{needle} missing from\n{shown}");
        }
    }

    #[test]
    fn main_depends_through_tend_depends_on() {
        let config = valid(&[
            ("TEND_DEPENDS_ON", "db:healthy,migrate:completed"),
            ("TEND_SERVICE_DB", "postgres"),
            ("TEND_SERVICE_DB_HEALTH_CHECK", "tcp://127.0.0.1:5432"),
            ("TEND_SERVICE_MIGRATE", "migrate"),
            ("TEND_SERVICE_MIGRATE_ONESHOT", "yes"),
            ("TEND_SERVICE_MIGRATE_DEPENDS_ON", "db:healthy"),
            ("TEND_SERVICE_SIDECAR", "shipper"),
            ("TEND_SERVICE_SIDECAR_DEPENDS_ON", "main"),
        ]);
        let graph = config.service_graph().expect("valid");
        assert_eq!(
            graph.start_waves(),
            [vec!["db"], vec!["migrate"], vec!["main"], vec!["sidecar"]]
        );
        for (pairs, needle) in [
            (&[("TEND_DEPENDS_ON", "ghost")][..], "\"ghost\" is none"),
            (&[("TEND_DEPENDS_ON", "main")], "main → main"),
            (
                &[
                    ("TEND_SERVICE_X", "x"),
                    ("TEND_SERVICE_X_DEPENDS_ON", "main:healthy"),
                ],
                "main has none (TEND_HEALTH_CHECK)",
            ),
            (
                &[
                    ("TEND_SERVICE_X", "x"),
                    ("TEND_SERVICE_X_DEPENDS_ON", "main:completed"),
                ],
                "main is never one",
            ),
        ] {
            let errors = refused(pairs);
            assert_eq!(errors.len(), 1, "{pairs:?}: {}", text(&errors));
            assert!(errors[0].to_string().contains(needle), "{}", errors[0]);
        }
        let errors = refused(&[("TEND_DEPENDS_ON", "ghost")]);
        assert_eq!(errors[0].variable, "TEND_DEPENDS_ON");
        let main_healthy = valid(&[
            ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:80"),
            ("TEND_SERVICE_X", "x"),
            ("TEND_SERVICE_X_DEPENDS_ON", "main:healthy"),
        ]);
        assert_eq!(main_healthy.services.len(), 1);
    }

    #[test]
    fn a_refused_health_check_is_not_reported_twice() {
        let errors = refused(&[
            ("TEND_SERVICE_DB", "postgres"),
            ("TEND_SERVICE_DB_HEALTH_CHECK", "db:5432"),
            ("TEND_SERVICE_WEB", "nginx"),
            ("TEND_SERVICE_WEB_DEPENDS_ON", "db:healthy"),
        ]);
        assert_eq!(errors.len(), 1, "{}", text(&errors));
        assert_eq!(errors[0].variable, "TEND_SERVICE_DB_HEALTH_CHECK");
    }

    #[test]
    fn dependency_lists_are_checked() {
        for (value, needle) in [
            ("db:ready", "\"ready\" is no condition"),
            ("db,db:healthy", "db appears twice"),
            ("php-fpm", "\"php-fpm\" is no service name"),
            ("db:", "\"\" is no condition"),
        ] {
            let errors = refused(&[("TEND_DEPENDS_ON", value)]);
            assert_eq!(errors.len(), 1, "{value}: {}", text(&errors));
            assert!(errors[0].expected.contains(needle), "{}", errors[0]);
        }
    }

    #[test]
    fn a_one_shot_is_not_restarted_forever() {
        let errors = refused(&[
            ("TEND_SERVICE_MIGRATE", "migrate"),
            ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
            ("TEND_SERVICE_MIGRATE_RESTART", "always"),
        ]);
        assert_eq!(errors.len(), 1, "{}", text(&errors));
        assert_eq!(
            errors[0].to_string(),
            "TEND_SERVICE_MIGRATE_RESTART=\"always\": expected no or on-failure: a one-shot \
             (TEND_SERVICE_MIGRATE_ONESHOT=true) runs to completion"
        );
    }

    #[test]
    fn every_setting_is_read() {
        // A setting in SETTINGS that `read_service` does not read would be accepted and ignored.
        for setting in setting_names() {
            let variable = format!("TEND_SERVICE_SVC_{setting}");
            let errors = refused(&[
                ("TEND_SERVICE_SVC", "svc"),
                (&variable, "\u{1}invalid\u{1}"),
            ]);
            assert!(
                errors.iter().any(|e| e.variable == variable),
                "{variable} accepted a nonsense value: {}",
                text(&errors)
            );
        }
        let errors = refused(&[("TEND_SERVICE_SVC", "svc \u{1}")]);
        assert_eq!(errors[0].variable, "TEND_SERVICE_SVC");
        for bad in ["''", "'open", "a;b", "a\nb"] {
            let errors = refused(&[("TEND_SERVICE_SVC", bad)]);
            assert_eq!(errors[0].variable, "TEND_SERVICE_SVC", "{bad}");
        }
    }

    /// A value for each container-wide twin, other than its default.
    const SAMPLES: &[(&str, &str)] = &[
        ("TEND_DEPENDS_ON", "svc"),
        ("TEND_RESTART", "always"),
        ("TEND_RESTART_MAX_ATTEMPTS", "9"),
        ("TEND_RESTART_DELAY", "7s"),
        ("TEND_RESTART_MAX_DELAY", "9m"),
        ("TEND_RESTART_WINDOW", "2h"),
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_HEALTH_INTERVAL", "3s"),
        ("TEND_HEALTH_START_INTERVAL", "2s"),
        ("TEND_HEALTH_TIMEOUT", "4s"),
        ("TEND_HEALTH_START_PERIOD", "5s"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "7"),
        ("TEND_HEALTH_SUCCESS_THRESHOLD", "6"),
        ("TEND_STARTUP_TIMEOUT", "9s"),
        ("TEND_REMEDIATION", "exit"),
        ("TEND_USER", "4321"),
        ("TEND_SHUTDOWN_TIMEOUT", "5s"),
        ("TEND_SIGNAL_TARGET", "group"),
    ];

    #[test]
    fn a_service_inherits_exactly_the_listed_container_values() {
        let plain = valid(&[("TEND_SERVICE_SVC", "svc")]);
        let before = service(&plain, "svc").to_json();
        let twins: Vec<&str> = SETTINGS
            .iter()
            .map(|spec| spec.name)
            .filter(|name| !name.starts_with(PREFIX))
            .collect();
        let sampled: Vec<&str> = SAMPLES.iter().map(|(name, _)| *name).collect();
        assert_eq!(twins, sampled, "a sample for every twin");
        for (name, value) in SAMPLES {
            let config = valid(&[("TEND_SERVICE_SVC", "svc"), (name, value)]);
            let after = service(&config, "svc").to_json();
            assert_eq!(
                before != after,
                INHERITED.contains(name),
                "{name}={value}: {before} vs {after}"
            );
        }
        // What is meant for the main command alone stays its own.
        let config = valid(&[
            ("TEND_SERVICE_SVC", "svc"),
            ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
            ("TEND_USER", "4321"),
        ]);
        let svc = service(&config, "svc");
        assert!(svc.health.check.is_none());
        assert_eq!(svc.user.as_ref().map(user_text).as_deref(), Some("4321"));
        // A service's own value wins.
        let config = valid(&[
            ("TEND_SERVICE_SVC", "svc"),
            ("TEND_SERVICE_SVC_USER", "1"),
            ("TEND_USER", "4321"),
        ]);
        assert_eq!(
            service(&config, "svc")
                .user
                .as_ref()
                .map(user_text)
                .as_deref(),
            Some("1")
        );
    }

    #[test]
    fn the_reference_lists_every_setting_and_what_it_inherits() {
        let reference = include_str!("../../docs/reference.md");
        for spec in SETTINGS {
            let row = format!("| `_{}` | ", suffix(spec));
            let cells: Vec<&str> = reference
                .lines()
                .find_map(|line| line.strip_prefix(&row))
                .unwrap_or_else(|| panic!("docs/reference.md misses the row of {}", spec.name))
                .split(" | ")
                .collect();
            let twin = !spec.name.starts_with(PREFIX);
            if twin {
                assert_eq!(cells[0], format!("`{}`", spec.name), "read as its twin");
            }
            let inherits = cells[1].contains(&format!("the value of `{}`", spec.name));
            assert_eq!(
                inherits,
                INHERITED.contains(&spec.name),
                "{}: {}",
                spec.name,
                cells[1]
            );
        }
        let rows = reference.lines().filter(|l| l.starts_with("| `_")).count();
        assert_eq!(rows, SETTINGS.len(), "a row for each setting, no more");
    }

    #[test]
    fn env_errors_never_show_a_value() {
        for value in [
            "A=hunter2 x",
            "hunter2",
            "A=1,A=hunter2",
            "A='hunter2",
            "1A=hunter2",
        ] {
            let errors = refused(&[("TEND_SERVICE_SVC", "svc"), ("TEND_SERVICE_SVC_ENV", value)]);
            assert_eq!(errors.len(), 1, "{value}: {}", text(&errors));
            assert_eq!(errors[0].variable, "TEND_SERVICE_SVC_ENV");
            assert!(!errors[0].to_string().contains("hunter2"), "{}", errors[0]);
        }
        let config = valid(&[
            ("TEND_SERVICE_SVC", "svc"),
            ("TEND_SERVICE_SVC_ENV", "PASSWORD=hunter2"),
        ]);
        assert!(!config.to_json().to_string().contains("hunter2"));
    }

    #[test]
    fn stop_signals_and_other_values() {
        for (setting, value) in [
            ("STOP_SIGNAL", "SEGV"),
            ("STOP_SIGNAL", "STOP"),
            ("STOP_SIGNAL", "NOPE"),
            ("OUTPUT", "tee"),
            ("WORKDIR", "srv"),
            ("ONESHOT", "maybe"),
        ] {
            let variable = format!("TEND_SERVICE_SVC_{setting}");
            let errors = refused(&[("TEND_SERVICE_SVC", "svc"), (&variable, value)]);
            assert_eq!(errors.len(), 1, "{variable}={value}: {}", text(&errors));
            assert_eq!(errors[0].variable, variable);
        }
        let config = valid(&[
            ("TEND_SERVICE_SVC", "svc"),
            ("TEND_SERVICE_SVC_STOP_SIGNAL", "KILL"),
        ]);
        assert_eq!(config.services[0].stop_signal, libc::SIGKILL);
        assert!(refused(&[("TEND_EXIT_WITH", "any")])[0]
            .expected
            .contains("main or all"));
    }
}
