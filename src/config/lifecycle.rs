//! Variables of the child's lifecycle after start-up: the restart policy for a child that
//! exits on its own, and the interfaces that report on it (HTTP endpoints, the control
//! socket, the final report).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::catalogue::{var, VarSpec};
use super::parser::Parser;
use crate::duration::{format_duration, parse_duration};
use crate::policy::RestartPolicy;

pub const VARIABLES: &[VarSpec] = &[
    var(
        "TEND_RESTART",
        "no",
        "when the child exits on its own: no, always, on-failure (non-zero or signal), unless-stopped",
    ),
    var(
        "TEND_RESTART_MAX_ATTEMPTS",
        "5",
        "restarts allowed within TEND_RESTART_WINDOW before tend gives up and exits (0: no limit)",
    ),
    var(
        "TEND_RESTART_DELAY",
        "1s",
        "base of the restart backoff: delay = base x 2^min(n, 5), n = restarts so far",
    ),
    var(
        "TEND_RESTART_MAX_DELAY",
        "5m",
        "cap of the restart backoff",
    ),
    var(
        "TEND_RESTART_WINDOW",
        "60m",
        "the restart count starts afresh after this long without a restart",
    ),
    var(
        "TEND_HTTP_ADDR",
        "(off)",
        "address for /livez, /readyz, /healthz, /status and /metrics, such as 0.0.0.0:9090",
    ),
    var(
        "TEND_CONTROL_SOCKET",
        "control.sock beside the status file",
        "unix socket (mode 0600) for `tend restart` and `tend stop`; off disables it",
    ),
    var(
        "TEND_REPORT_FILE",
        "(none)",
        "where the JSON lifecycle report is written at exit",
    ),
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

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            policy: RestartPolicy::No,
            max_attempts: 5,
            delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            window: Duration::from_secs(3600),
        }
    }
}

/// TEND_CONTROL_SOCKET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlSocket {
    /// `control.sock` in the status file's directory.
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

impl Default for InterfacesConfig {
    fn default() -> Self {
        InterfacesConfig {
            http_addr: None,
            control_socket: ControlSocket::BesideStatus,
            report_file: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    restart: Option<String>,
    restart_max_attempts: Option<String>,
    restart_delay: Option<String>,
    restart_max_delay: Option<String>,
    restart_window: Option<String>,
    http_addr: Option<String>,
    control_socket: Option<String>,
    report_file: Option<String>,
}

impl RestartConfig {
    pub(crate) fn parse(parser: &mut Parser) -> (Self, InterfacesConfig) {
        let raw: Raw = parser.raw();
        let d = RestartConfig::default();
        let restart = RestartConfig {
            policy: parser.field("TEND_RESTART", raw.restart, d.policy, parse_policy),
            max_attempts: parser.field(
                "TEND_RESTART_MAX_ATTEMPTS",
                raw.restart_max_attempts,
                d.max_attempts,
                parse_attempts,
            ),
            delay: parser.field(
                "TEND_RESTART_DELAY",
                raw.restart_delay,
                d.delay,
                parse_duration,
            ),
            max_delay: parser.field(
                "TEND_RESTART_MAX_DELAY",
                raw.restart_max_delay,
                d.max_delay,
                parse_duration,
            ),
            window: parser.field(
                "TEND_RESTART_WINDOW",
                raw.restart_window,
                d.window,
                parse_duration,
            ),
        };
        let interfaces = InterfacesConfig {
            http_addr: parser.field("TEND_HTTP_ADDR", raw.http_addr, None, |s| {
                parse_addr(s).map(Some)
            }),
            control_socket: parser.field(
                "TEND_CONTROL_SOCKET",
                raw.control_socket,
                ControlSocket::BesideStatus,
                parse_control_socket,
            ),
            report_file: parser.field("TEND_REPORT_FILE", raw.report_file, None, |s| {
                super::parse_absolute_path(s).map(Some)
            }),
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
