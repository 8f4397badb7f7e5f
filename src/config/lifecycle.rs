//! Variables of the child's lifecycle after start-up: the restart policy for a child that
//! exits on its own, and the interfaces that report on it (HTTP endpoints, the control
//! socket, the final report).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::catalogue::{Var, VarSpec};
use super::parser::Parser;
use crate::duration::{format_duration, parse_duration};
use crate::policy::RestartPolicy;

pub(super) const RESTART: Var<RestartPolicy> = Var::new(
    "TEND_RESTART",
    "no",
    parse_policy,
    "when the child exits on its own: no, always, on-failure (non-zero or signal), unless-stopped",
);
pub(super) const RESTART_MAX_ATTEMPTS: Var<u32> = Var::new(
    "TEND_RESTART_MAX_ATTEMPTS",
    "5",
    parse_attempts,
    "restarts allowed within TEND_RESTART_WINDOW before tend gives up and exits (0: no limit)",
);
pub(super) const RESTART_DELAY: Var<Duration> = Var::new(
    "TEND_RESTART_DELAY",
    "1s",
    parse_duration,
    "base of the restart backoff: delay = base x 2^min(n, 5), n = restarts so far",
);
pub(super) const RESTART_MAX_DELAY: Var<Duration> = Var::new(
    "TEND_RESTART_MAX_DELAY",
    "5m",
    parse_duration,
    "cap of the restart backoff",
);
pub(super) const RESTART_WINDOW: Var<Duration> = Var::new(
    "TEND_RESTART_WINDOW",
    "60m",
    parse_duration,
    "the restart count starts afresh after this long without a restart",
);
const HTTP_ADDR: Var<Option<SocketAddr>> = Var::unset(
    "TEND_HTTP_ADDR",
    "(off)",
    |text| parse_addr(text).map(Some),
    "address for /livez, /readyz, /healthz, /status and /metrics, such as 0.0.0.0:9090",
);
const CONTROL_SOCKET: Var<ControlSocket> = Var::unset(
    "TEND_CONTROL_SOCKET",
    "control.sock beside the status file",
    parse_control_socket,
    "unix socket (mode 0600) for `tend restart` and `tend stop`; off disables it",
);
const REPORT_FILE: Var<Option<PathBuf>> = Var::unset(
    "TEND_REPORT_FILE",
    "(none)",
    |text| super::parse_absolute_path(text).map(Some),
    "where the JSON lifecycle report is written at exit",
);

pub(super) const VARIABLES: &[&VarSpec] = &[
    &RESTART.spec,
    &RESTART_MAX_ATTEMPTS.spec,
    &RESTART_DELAY.spec,
    &RESTART_MAX_DELAY.spec,
    &RESTART_WINDOW.spec,
    &HTTP_ADDR.spec,
    &CONTROL_SOCKET.spec,
    &REPORT_FILE.spec,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartConfig {
    pub policy: RestartPolicy,
    /// 0: no limit.
    pub max_attempts: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    pub window: Duration,
}

/// The settings of an environment that sets none of the variables.
impl Default for RestartConfig {
    fn default() -> Self {
        super::parser::defaults(RestartConfig::parse).0
    }
}

/// TEND_CONTROL_SOCKET.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ControlSocket {
    /// `control.sock` in the status file's directory: when the variable is unset.
    #[default]
    BesideStatus,
    Path(PathBuf),
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfacesConfig {
    pub http_addr: Option<SocketAddr>,
    pub control_socket: ControlSocket,
    pub report_file: Option<PathBuf>,
}

/// The settings of an environment that sets none of the variables.
impl Default for InterfacesConfig {
    fn default() -> Self {
        super::parser::defaults(RestartConfig::parse).1
    }
}

impl RestartConfig {
    pub(crate) fn parse(parser: &mut Parser) -> (Self, InterfacesConfig) {
        let restart = RestartConfig {
            policy: parser.read(&RESTART),
            max_attempts: parser.read(&RESTART_MAX_ATTEMPTS),
            delay: parser.read(&RESTART_DELAY),
            max_delay: parser.read(&RESTART_MAX_DELAY),
            window: parser.read(&RESTART_WINDOW),
        };
        let interfaces = InterfacesConfig {
            http_addr: parser.read(&HTTP_ADDR),
            control_socket: parser.read(&CONTROL_SOCKET),
            report_file: parser.read(&REPORT_FILE),
        };
        (restart, interfaces)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "policy": self.policy.name(),
            "max_attempts": self.max_attempts,
            "delay": format_duration(self.delay),
            "max_delay": format_duration(self.max_delay),
            "window": format_duration(self.window),
        })
    }
}

impl InterfacesConfig {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "http_addr": self.http_addr.map(|a| a.to_string()),
            "control_socket": match &self.control_socket {
                ControlSocket::BesideStatus => serde_json::json!("beside the status file"),
                ControlSocket::Path(path) => serde_json::json!(path),
                ControlSocket::Off => serde_json::json!("off"),
            },
            "report_file": self.report_file,
        })
    }
}

fn parse_policy(text: &str) -> Result<RestartPolicy, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "no" | "never" => Ok(RestartPolicy::No),
        "always" => Ok(RestartPolicy::Always),
        "on-failure" | "on_failure" => Ok(RestartPolicy::OnFailure),
        "unless-stopped" | "unless_stopped" => Ok(RestartPolicy::UnlessStopped),
        _ => Err("one of no, always, on-failure, unless-stopped".into()),
    }
}

fn parse_attempts(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| "a whole number of restarts, 0 for no limit".into())
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    // ":9090" is the usual shorthand for every address.
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_string(),
    };
    full.parse().map_err(|_| {
        "an IP address and port such as 0.0.0.0:9090, 127.0.0.1:9090, [::]:9090 or :9090".into()
    })
}

fn parse_control_socket(text: &str) -> Result<ControlSocket, String> {
    match text.trim() {
        t if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("false") => {
            Ok(ControlSocket::Off)
        }
        t => super::parse_absolute_path(t).map(ControlSocket::Path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> (RestartConfig, InterfacesConfig) {
        let config = crate::config::from_pairs(pairs).expect("valid");
        (config.restart, config.interfaces)
    }

    #[test]
    fn defaults() {
        let (r, i) = from(&[]);
        assert_eq!(r, RestartConfig::default());
        assert_eq!(i, InterfacesConfig::default());
        let expected = RestartConfig {
            policy: RestartPolicy::No,
            max_attempts: 5,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            window: Duration::from_secs(3600),
        };
        assert_eq!(r, expected);
        assert_eq!(i.http_addr, None);
        assert_eq!(i.control_socket, ControlSocket::BesideStatus);
        assert_eq!(i.report_file, None);
    }

    #[test]
    fn every_variable_parses() {
        let (r, i) = from(&[
            ("TEND_RESTART", "on-failure"),
            ("TEND_RESTART_MAX_ATTEMPTS", "0"),
            ("TEND_RESTART_DELAY", "200ms"),
            ("TEND_RESTART_MAX_DELAY", "2s"),
            ("TEND_RESTART_WINDOW", "10s"),
            ("TEND_HTTP_ADDR", ":9090"),
            ("TEND_CONTROL_SOCKET", "off"),
            ("TEND_REPORT_FILE", "/tmp/report.json"),
        ]);
        assert_eq!(r.policy, RestartPolicy::OnFailure);
        assert_eq!(r.max_attempts, 0);
        assert_eq!(r.delay, Duration::from_millis(200));
        assert_eq!(r.max_delay, Duration::from_secs(2));
        assert_eq!(r.window, Duration::from_secs(10));
        assert_eq!(i.http_addr, Some("0.0.0.0:9090".parse().expect("addr")));
        assert_eq!(i.control_socket, ControlSocket::Off);
        assert_eq!(i.report_file, Some(PathBuf::from("/tmp/report.json")));
        for policy in ["no", "always", "unless-stopped"] {
            assert_eq!(from(&[("TEND_RESTART", policy)]).0.policy.name(), policy);
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("TEND_RESTART", "sometimes"),
            ("TEND_RESTART_MAX_ATTEMPTS", "-1"),
            ("TEND_RESTART_DELAY", "soon"),
            ("TEND_RESTART_MAX_DELAY", "x"),
            ("TEND_RESTART_WINDOW", "1 hour"),
            ("TEND_HTTP_ADDR", "localhost"),
            ("TEND_CONTROL_SOCKET", "relative.sock"),
            ("TEND_REPORT_FILE", "report.json"),
        ] {
            let errors = crate::config::from_pairs(&[(name, value)]).expect_err(name);
            assert_eq!(errors[0].variable, name);
        }
    }
}
