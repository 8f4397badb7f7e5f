//! Variables of the health check: one probe run on an interval, judged with
//! Kubernetes-style thresholds (see `crate::policy`).

use crate::shown::quoted;
use std::time::Duration;

use super::catalogue::{Items, Var, VarSpec};
use super::parser::{Parser, Refused};
use crate::duration::{format_duration, parse_duration};
use crate::policy::{Step, Thresholds};
use crate::probe::Probe;

pub(super) const CHECK: Var<Option<Probe>, Refused> = Var::unset(
    "TEND_HEALTH_CHECK",
    "(none)",
    parse_probe,
    "one probe run while the child runs (tcp://, unix://, http://, file://, exec: as TEND_USER)",
);
pub(super) const INTERVAL: Var<Duration> = Var::new(
    "TEND_HEALTH_INTERVAL",
    "10s",
    positive,
    "time between the starts of two health checks once the child is running",
);
pub(super) const START_INTERVAL: Var<Duration> = Var::new(
    "TEND_HEALTH_START_INTERVAL",
    "1s",
    positive,
    "time between health checks while starting (until the first pass or TEND_STARTUP_TIMEOUT); failures then do not count",
);
pub(super) const TIMEOUT: Var<Duration> = Var::new(
    "TEND_HEALTH_TIMEOUT",
    "5s",
    positive,
    "time one health check may take before it counts as failed",
);
pub(super) const START_PERIOD: Var<Duration> = Var::new(
    "TEND_HEALTH_START_PERIOD",
    "0s",
    parse_duration,
    "failures within this long of the child's start do not count, even after the first pass",
);
pub(super) const FAILURE_THRESHOLD: Var<u32> = Var::new(
    "TEND_HEALTH_FAILURE_THRESHOLD",
    "3",
    count,
    "consecutive failed checks that make the child unhealthy",
);
pub(super) const SUCCESS_THRESHOLD: Var<u32> = Var::new(
    "TEND_HEALTH_SUCCESS_THRESHOLD",
    "1",
    count,
    "consecutive passed checks that make it healthy again",
);
pub(super) const STARTUP_TIMEOUT: Var<Duration> = Var::new(
    "TEND_STARTUP_TIMEOUT",
    "60s",
    positive,
    "with a health check: time for the first pass; past it the next remediation step is taken",
);
pub(super) const REMEDIATION: Var<Vec<Step>> = Var::new(
    "TEND_REMEDIATION",
    "restart",
    parse_steps,
    "steps taken in order while unhealthy, one per failure threshold: exec:COMMAND, restart, exit (75), or none",
).items(Items::Commas);

pub(super) const VARIABLES: &[&VarSpec] = &[
    &CHECK.spec,
    &INTERVAL.spec,
    &START_INTERVAL.spec,
    &TIMEOUT.spec,
    &START_PERIOD.spec,
    &FAILURE_THRESHOLD.spec,
    &SUCCESS_THRESHOLD.spec,
    &STARTUP_TIMEOUT.spec,
    &REMEDIATION.spec,
];

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub check: Option<Probe>,
    pub interval: Duration,
    /// While `starting`: time between checks, whose failures do not count.
    pub start_interval: Duration,
    pub timeout: Duration,
    pub thresholds: Thresholds,
    pub remediation: Vec<Step>,
    pub startup_timeout: Duration,
}

/// The settings of an environment that sets none of the variables.
impl Default for HealthConfig {
    fn default() -> Self {
        super::parser::defaults(HealthConfig::parse)
    }
}

impl HealthConfig {
    pub(crate) fn parse(parser: &mut Parser) -> Self {
        HealthConfig {
            check: parser.read(&CHECK),
            interval: parser.read(&INTERVAL),
            start_interval: parser.read(&START_INTERVAL),
            timeout: parser.read(&TIMEOUT),
            thresholds: Thresholds {
                start_period: parser.read(&START_PERIOD),
                failure: parser.read(&FAILURE_THRESHOLD),
                success: parser.read(&SUCCESS_THRESHOLD),
            },
            remediation: parser.read(&REMEDIATION),
            startup_timeout: parser.read(&STARTUP_TIMEOUT),
        }
    }

    /// The effective settings, as `tend check-config` prints them (the probe redacted).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "check": self.check.as_ref().map(ToString::to_string),
            "interval": format_duration(self.interval),
            "start_interval": format_duration(self.start_interval),
            "timeout": format_duration(self.timeout),
            "start_period": format_duration(self.thresholds.start_period),
            "failure_threshold": self.thresholds.failure,
            "success_threshold": self.thresholds.success,
            "startup_timeout": format_duration(self.startup_timeout),
            "remediation": self.remediation.iter().map(step_text).collect::<Vec<_>>(),
        })
    }
}

/// The probe's error quotes the (redacted) value itself, as for TEND_WAIT_FOR: shown
/// with the value's passwords hidden.
fn parse_probe(text: &str) -> Result<Option<Probe>, Refused> {
    Probe::parse(text)
        .map(Some)
        .map_err(|error| Refused::Quoting(vec![error]))
}

fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    const EXPECTED: &str = "a comma list of steps among exec:COMMAND, restart and exit, or none";
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    crate::words::split_list(text)
        .map(|item| match item.to_ascii_lowercase().as_str() {
            _ if item.starts_with("exec:") => match Probe::parse(item) {
                Ok(probe) => Ok(Step::Exec(probe)),
                Err(error) => Err(format!("{EXPECTED}; {error}")),
            },
            "restart" => Ok(Step::Restart),
            "exit" => Ok(Step::Exit),
            _ => Err(format!("{EXPECTED}; {} is not one", quoted(item))),
        })
        .collect()
}

fn step_text(step: &Step) -> String {
    match step {
        Step::Exec(probe) => probe.to_string(),
        other => other.name().to_string(),
    }
}

fn positive(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("a duration above zero, such as 500ms or 10s".into()),
        d => Ok(d),
    }
}

fn count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err("a whole number of checks, 1 or more".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<HealthConfig, Vec<crate::config::ConfigError>> {
        crate::config::from_pairs(pairs).map(|c| c.health)
    }

    #[test]
    fn defaults() {
        let h = from(&[]).expect("defaults");
        assert!(h.check.is_none());
        assert_eq!(h.interval, Duration::from_secs(10));
        assert_eq!(h.start_interval, Duration::from_secs(1));
        assert_eq!(h.timeout, Duration::from_secs(5));
        assert_eq!(h.thresholds, HealthConfig::default().thresholds);
        let expected = Thresholds {
            start_period: Duration::ZERO,
            failure: 3,
            success: 1,
        };
        assert_eq!(h.thresholds, expected);
        assert_eq!(h.remediation, [Step::Restart]);
        assert_eq!(h.startup_timeout, Duration::from_secs(60));
    }

    #[test]
    fn every_variable_parses() {
        let h = from(&[
            ("TEND_HEALTH_CHECK", "exec:test -f /tmp/ok"),
            ("TEND_HEALTH_INTERVAL", "200ms"),
            ("TEND_HEALTH_START_INTERVAL", "250ms"),
            ("TEND_HEALTH_TIMEOUT", "1s"),
            ("TEND_HEALTH_START_PERIOD", "30s"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "2"),
            ("TEND_HEALTH_SUCCESS_THRESHOLD", "4"),
            ("TEND_REMEDIATION", "exec:/app/flush --all, restart, exit"),
        ])
        .expect("valid");
        assert_eq!(
            h.check.map(|p| p.to_string()).as_deref(),
            Some("exec:test -f /tmp/ok")
        );
        assert_eq!(h.interval, Duration::from_millis(200));
        assert_eq!(h.start_interval, Duration::from_millis(250));
        assert_eq!(h.thresholds.start_period, Duration::from_secs(30));
        assert_eq!((h.thresholds.failure, h.thresholds.success), (2, 4));
        let flush = Probe::parse("exec:/app/flush --all").expect("probe");
        assert_eq!(
            h.remediation,
            [Step::Exec(flush), Step::Restart, Step::Exit]
        );
        let none = from(&[("TEND_REMEDIATION", "none")]).expect("none");
        assert!(none.remediation.is_empty());
    }

    #[test]
    fn bad_values_are_reported_without_passwords() {
        for (name, value) in [
            ("TEND_HEALTH_CHECK", "http://u:hunter2@x:bad/"),
            ("TEND_HEALTH_INTERVAL", "0s"),
            ("TEND_HEALTH_START_INTERVAL", "0s"),
            ("TEND_HEALTH_TIMEOUT", "soon"),
            ("TEND_HEALTH_START_PERIOD", "-1s"),
            ("TEND_HEALTH_FAILURE_THRESHOLD", "0"),
            ("TEND_HEALTH_SUCCESS_THRESHOLD", "many"),
            ("TEND_REMEDIATION", "restart,pray"),
            ("TEND_REMEDIATION", "exec:"),
            ("TEND_STARTUP_TIMEOUT", "0s"),
        ] {
            let errors = from(&[(name, value)]).expect_err(name);
            assert_eq!(errors[0].variable, name);
            assert!(!errors[0].to_string().contains("hunter2"), "{}", errors[0]);
        }
    }
}
