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

use super::catalogue::{Items, Var, VarSpec};
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
use crate::services::graph::{cycle_text, Dependency, Graph, GraphError, Node, MAIN};
use crate::shown::quoted;
use crate::signals::signal_name;
use crate::users::UserSpec;
use names::classify;
pub(in crate::config) use names::valid_name;
use values::{
    parse_command, parse_dependencies, parse_env, parse_exit_with, parse_output, parse_stop_signal,
};

mod names;
#[cfg(test)]
mod tests;
mod values;

/// The prefix of every service variable.
pub const PREFIX: &str = "TEND_SERVICE_";

pub(super) const DEPENDS_ON: Var<Vec<Dependency>> = Var::unset(
    "TEND_DEPENDS_ON",
    "(none)",
    parse_dependencies,
    "services the main command waits for: NAME[:started|healthy|completed], comma separated (see TEND_SERVICE_<NAME>)",
).items(Items::Commas);
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
).items(Items::Words);
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
)
.items(Items::Env);
const OUTPUT: Var<Output> = Var::new(
    "TEND_SERVICE_<NAME>_OUTPUT",
    "inherit",
    parse_output,
    "inherit (stdout and stderr pass through untouched) or prefix (each line begins with the service's name)",
);

/// Every setting of a service, as `TEND_SERVICE_<NAME>_<SETTING>`: its own, and the
/// container-wide twins read under the service's name (`suffix` gives `<SETTING>`); the
/// health check's are all of `health::VARIABLES`, in their order.
pub(super) fn settings() -> impl Iterator<Item = &'static VarSpec> {
    const BEFORE_HEALTH: &[&VarSpec] = &[
        &DEPENDS_ON.spec,
        &ONESHOT.spec,
        &RESTART.spec,
        &RESTART_MAX_ATTEMPTS.spec,
        &RESTART_DELAY.spec,
        &RESTART_MAX_DELAY.spec,
        &RESTART_WINDOW.spec,
    ];
    const AFTER_HEALTH: &[&VarSpec] = &[
        &USER.spec,
        &STOP_SIGNAL.spec,
        &SHUTDOWN_TIMEOUT.spec,
        &SIGNAL_TARGET.spec,
        &WORKDIR.spec,
        &ENV.spec,
        &OUTPUT.spec,
    ];
    [BEFORE_HEALTH, super::health::VARIABLES, AFTER_HEALTH]
        .into_iter()
        .flatten()
        .copied()
}

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
    settings().map(suffix)
}

/// The setting `<SETTING>` of a service (`RESTART_DELAY`), for the configuration file.
pub(in crate::config) fn setting(name: &str) -> Option<&'static VarSpec> {
    settings().find(|spec| suffix(spec) == name)
}

/// The declaration `TEND_SERVICE_<NAME>`, for the configuration file's `command`.
pub(in crate::config) fn declaration() -> &'static VarSpec {
    &COMMAND.spec
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

impl ServiceConfig {
    /// The configuration the service's lifecycle runs with: the container's, with the
    /// service's own settings in place of the main command's, and nothing of the run's
    /// (gate, hooks, services, drain delay: the run has them). Its stop signal is what a
    /// stop is rewritten into.
    pub fn lifecycle_config(&self, run: &Config) -> Config {
        let stop = self.stop_signal;
        Config {
            restart: self.restart.clone(),
            health: self.health.clone(),
            shutdown_timeout: self.shutdown_timeout,
            signal_target: self.signal_target,
            signal_rewrite: (stop != libc::SIGTERM)
                .then_some((libc::SIGTERM, stop))
                .into_iter()
                .collect(),
            drain_delay: Duration::ZERO,
            startup: super::startup::StartupConfig {
                user: self.user.clone(),
                ..Default::default()
            },
            depends_on: Vec::new(),
            services: Vec::new(),
            ..run.clone()
        }
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
