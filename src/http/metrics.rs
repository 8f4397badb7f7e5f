//! `/metrics`: the snapshot in the Prometheus text exposition format (version 0.0.4).
//! Every metric has its HELP and TYPE lines; label values are fixed words, never input,
//! but for the `service` label of the `tend_service_*` families: a service's name (checked
//! by the configuration, and escaped anyway).
//!
//! The main command keeps its unlabelled families (`tend_state`, `tend_child_*`,
//! `tend_health_*`); each service gets the same facts in the `tend_service_*` families,
//! labelled `service="NAME"`. `main` is not repeated there: a sum over `tend_service_*`
//! counts the services alone, and nothing is counted twice.

use std::fmt::Write;

use super::routes::View;
use crate::policy::Health;
use crate::readiness::{self, Question};
use crate::status::{ServiceStatus, State};

/// Every state, in lifecycle order, for the one-hot `tend_state` gauge.
const STATES: [State; 8] = State::ALL;

const HEALTHS: [Health; 3] = [Health::Unknown, Health::Healthy, Health::Unhealthy];

pub fn render(view: &View<'_>) -> String {
    let s = view.snapshot;
    let mut out = Metrics(String::with_capacity(2048));
    out.family("tend_up", "gauge", "1 while tend answers.");
    out.sample("tend_up", "", 1);
    out.family(
        "tend_state",
        "gauge",
        "The lifecycle state: 1 for the current one, 0 for the others.",
    );
    for state in STATES {
        let label = format!("state=\"{}\"", state.name());
        out.sample("tend_state", &label, u8::from(state == s.state));
    }
    out.family(
        "tend_ready",
        "gauge",
        "1 when ready for traffic (as /readyz and `tend health`), else 0.",
    );
    let ready = readiness::judge(s, Question::Ready).0 == 0;
    out.sample("tend_ready", "", u8::from(ready));
    out.family(
        "tend_uptime_seconds",
        "gauge",
        "Seconds since tend started.",
    );
    out.sample("tend_uptime_seconds", "", view.uptime_seconds);
    out.family(
        "tend_child_restarts_total",
        "counter",
        "Restarts of the child by the restart policy or remediation.",
    );
    out.sample("tend_child_restarts_total", "", s.restarts);
    out.family(
        "tend_child_last_exit_code",
        "gauge",
        "Exit code of the child's last exit (128+N for signal N); absent before the first exit.",
    );
    if let Some(exit) = &s.last_exit {
        out.sample("tend_child_last_exit_code", "", exit.exit_code);
    }
    out.family(
        "tend_health_check_configured",
        "gauge",
        "1 when a health check (TEND_HEALTH_CHECK) is configured.",
    );
    out.sample("tend_health_check_configured", "", u8::from(s.health_check));
    out.family(
        "tend_health_status",
        "gauge",
        "The health verdict: 1 for the current one, 0 for the others.",
    );
    for health in HEALTHS {
        let label = format!("status=\"{}\"", health.name());
        out.sample("tend_health_status", &label, u8::from(health == s.health));
    }
    out.family(
        "tend_health_checks_total",
        "counter",
        "Health checks run, by result.",
    );
    out.sample(
        "tend_health_checks_total",
        "result=\"passed\"",
        s.checks_passed,
    );
    out.sample(
        "tend_health_checks_total",
        "result=\"failed\"",
        s.checks_failed,
    );
    out.family(
        "tend_health_consecutive_failures",
        "gauge",
        "Failed health checks in a row.",
    );
    out.sample(
        "tend_health_consecutive_failures",
        "",
        s.consecutive_failures,
    );
    out.family(
        "tend_health_check_duration_seconds",
        "gauge",
        "Duration of the last health check; absent before the first.",
    );
    if let Some(ms) = s.last_check_duration_ms {
        out.sample("tend_health_check_duration_seconds", "", ms as f64 / 1000.0);
    }
    out.family(
        "tend_orphans_reaped_total",
        "counter",
        "Processes re-parented to tend (not its own children) that it reaped.",
    );
    out.sample("tend_orphans_reaped_total", "", view.orphans_reaped);
    // Only with services: a run without them shows what it always showed.
    if !s.services.is_empty() {
        services(&mut out, &s.services);
    }
    out.0
}

/// The `tend_service_*` families, each with one sample (or one per state or verdict) per
/// service: all the samples of a family together, as the format requires.
fn services(out: &mut Metrics, services: &[ServiceStatus]) {
    let labels: Vec<String> = services
        .iter()
        .map(|s| format!("service=\"{}\"", label_value(&s.name)))
        .collect();
    let each = |out: &mut Metrics, name: &str, value: &dyn Fn(&ServiceStatus) -> u64| {
        for (service, label) in services.iter().zip(&labels) {
            out.sample(name, label, value(service));
        }
    };
    out.family(
        "tend_service_up",
        "gauge",
        "1 while a process of the service runs, else 0.",
    );
    each(out, "tend_service_up", &|s| u64::from(s.pid.is_some()));
    out.family(
        "tend_service_ready",
        "gauge",
        "1 when the service is ready (as `tend health NAME`): running and healthy, or a one-shot that completed.",
    );
    each(out, "tend_service_ready", &|s| {
        u64::from(readiness::service_ready(s).is_ok())
    });
    out.family(
        "tend_service_state",
        "gauge",
        "The service's state: 1 for the current one, 0 for the others.",
    );
    for (service, label) in services.iter().zip(&labels) {
        for state in STATES {
            let labels = format!("{label},state=\"{}\"", state.name());
            out.sample(
                "tend_service_state",
                &labels,
                u8::from(state == service.state),
            );
        }
    }
    out.family(
        "tend_service_oneshot",
        "gauge",
        "1 for a one-shot service (TEND_SERVICE_<NAME>_ONESHOT), which may end as completed.",
    );
    each(out, "tend_service_oneshot", &|s| u64::from(s.oneshot));
    out.family(
        "tend_service_restarts_total",
        "counter",
        "Restarts of the service by its restart policy or a request.",
    );
    each(out, "tend_service_restarts_total", &|s| {
        u64::from(s.restarts)
    });
    out.family(
        "tend_service_last_exit_code",
        "gauge",
        "Exit code of the service's last exit (128+N for signal N); absent before the first exit.",
    );
    for (service, label) in services.iter().zip(&labels) {
        if let Some(exit) = &service.last_exit {
            out.sample("tend_service_last_exit_code", label, exit.exit_code);
        }
    }
    out.family(
        "tend_service_health_check_configured",
        "gauge",
        "1 when the service has a health check (TEND_SERVICE_<NAME>_HEALTH_CHECK).",
    );
    each(out, "tend_service_health_check_configured", &|s| {
        u64::from(s.health_check)
    });
    out.family(
        "tend_service_health_status",
        "gauge",
        "The service's health verdict: 1 for the current one, 0 for the others.",
    );
    for (service, label) in services.iter().zip(&labels) {
        for health in HEALTHS {
            let labels = format!("{label},status=\"{}\"", health.name());
            out.sample(
                "tend_service_health_status",
                &labels,
                u8::from(health == service.health),
            );
        }
    }
    out.family(
        "tend_service_health_consecutive_failures",
        "gauge",
        "The service's failed health checks in a row.",
    );
    each(out, "tend_service_health_consecutive_failures", &|s| {
        u64::from(s.consecutive_failures)
    });
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
fn label_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = if labels.is_empty() {
            writeln!(self.0, "{name} {value}")
        } else {
            writeln!(self.0, "{name}{{{labels}}} {value}")
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{LastExit, Snapshot};
    use std::collections::HashMap;

    /// Parses the exposition text strictly enough to catch format slips: every sample
    /// belongs to the family announced by the HELP and TYPE just before it (a family's
    /// samples are together, each family announced once), names and labels are
    /// well-formed, and every value is a number.
    fn parse(text: &str) -> HashMap<String, f64> {
        let mut typed = HashMap::new();
        let mut samples = HashMap::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(["gauge", "counter"].contains(&kind), "{line}");
                assert!(
                    typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "{name} announced twice"
                );
                current = name.to_owned();
                continue;
            }
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or("");
                assert!(!typed.contains_key(name), "HELP after TYPE: {line}");
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("sample");
            let name = series.split('{').next().unwrap_or(series);
            assert!(typed.contains_key(name), "no TYPE before {line}");
            assert_eq!(name, current, "a sample away from its family: {line}");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{line}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .expect("labels in braces");
                    for pair in inner.split(',') {
                        let (key, quoted) = pair.split_once('=').expect("label=value");
                        assert!(key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
                        assert!(
                            quoted.len() >= 2 && quoted.starts_with('"') && quoted.ends_with('"')
                        );
                    }
                }
            }
            let value: f64 = value.parse().expect("number");
            assert!(samples.insert(series.to_owned(), value).is_none(), "{line}");
        }
        samples
    }

    #[test]
    fn state_labels_are_the_status_file_words() {
        for state in STATES {
            assert_eq!(serde_json::to_value(state).expect("json"), state.name());
        }
        for health in HEALTHS {
            assert_eq!(serde_json::to_value(health).expect("json"), health.name());
        }
    }

    #[test]
    fn renders_every_family_with_its_values() {
        let snapshot = Snapshot {
            state: State::Running,
            restarts: 2,
            health_check: true,
            health: Health::Unhealthy,
            consecutive_failures: 3,
            checks_passed: 7,
            checks_failed: 4,
            last_check_duration_ms: Some(1250),
            last_exit: Some(LastExit {
                exit_code: 137,
                signal: Some(9),
                at: String::new(),
            }),
            ..Snapshot::new()
        };
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 12.5,
            orphans_reaped: 5,
        };
        let m = parse(&render(&view));
        assert_eq!(m["tend_up"], 1.0);
        assert_eq!(m["tend_state{state=\"running\"}"], 1.0);
        assert_eq!(m["tend_state{state=\"draining\"}"], 0.0);
        let states: f64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("tend_state{"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(states, 1.0);
        assert_eq!(m["tend_ready"], 0.0);
        assert_eq!(m["tend_uptime_seconds"], 12.5);
        assert_eq!(m["tend_child_restarts_total"], 2.0);
        assert_eq!(m["tend_child_last_exit_code"], 137.0);
        assert_eq!(m["tend_health_status{status=\"unhealthy\"}"], 1.0);
        assert_eq!(m["tend_health_checks_total{result=\"passed\"}"], 7.0);
        assert_eq!(m["tend_health_checks_total{result=\"failed\"}"], 4.0);
        assert_eq!(m["tend_health_consecutive_failures"], 3.0);
        assert_eq!(m["tend_health_check_duration_seconds"], 1.25);
        assert_eq!(m["tend_orphans_reaped_total"], 5.0);
    }

    fn service(name: &str, state: State) -> ServiceStatus {
        ServiceStatus::plain(name, state)
    }

    #[test]
    fn without_services_there_is_no_service_family() {
        let snapshot = Snapshot {
            state: State::Running,
            ..Snapshot::new()
        };
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 1.0,
            orphans_reaped: 0,
        };
        let text = render(&view);
        assert!(!text.contains("tend_service"), "{text}");
        assert!(text.ends_with("tend_orphans_reaped_total 0\n"), "{text}");
    }

    #[test]
    fn each_service_is_labelled_by_its_name() {
        let snapshot = Snapshot {
            state: State::Running,
            child_pid: Some(7),
            restarts: 4,
            services: vec![
                ServiceStatus {
                    pid: Some(12),
                    restarts: 2,
                    health_check: true,
                    health: Health::Unhealthy,
                    consecutive_failures: 3,
                    last_exit: Some(LastExit {
                        exit_code: 143,
                        signal: Some(15),
                        at: String::new(),
                    }),
                    ..service("api", State::Running)
                },
                ServiceStatus {
                    oneshot: true,
                    reason: Some("completed".into()),
                    last_exit: Some(LastExit {
                        exit_code: 0,
                        signal: None,
                        at: String::new(),
                    }),
                    ..service("migrate", State::Stopped)
                },
            ],
            ..Snapshot::new()
        };
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 3.0,
            orphans_reaped: 0,
        };
        let text = render(&view);
        let m = parse(&text);
        // The main command's series are as they were, unlabelled.
        assert_eq!(m["tend_child_restarts_total"], 4.0);
        assert_eq!(m["tend_state{state=\"running\"}"], 1.0);
        assert!(!text.contains("service=\"main\""), "{text}");
        // api is up but unhealthy: not ready; migrate completed: ready, not up.
        assert_eq!(m["tend_service_up{service=\"api\"}"], 1.0);
        assert_eq!(m["tend_service_up{service=\"migrate\"}"], 0.0);
        assert_eq!(m["tend_service_ready{service=\"api\"}"], 0.0);
        assert_eq!(m["tend_service_ready{service=\"migrate\"}"], 1.0);
        assert_eq!(
            m["tend_service_state{service=\"api\",state=\"running\"}"],
            1.0
        );
        assert_eq!(
            m["tend_service_state{service=\"migrate\",state=\"stopped\"}"],
            1.0
        );
        for name in ["api", "migrate"] {
            let one_hot = |family: &str| -> f64 {
                let prefix = format!("{family}{{service=\"{name}\",");
                m.iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, v)| v)
                    .sum()
            };
            assert_eq!(one_hot("tend_service_state"), 1.0, "{name}");
            assert_eq!(one_hot("tend_service_health_status"), 1.0, "{name}");
        }
        assert_eq!(m["tend_service_oneshot{service=\"migrate\"}"], 1.0);
        assert_eq!(m["tend_service_restarts_total{service=\"api\"}"], 2.0);
        assert_eq!(m["tend_service_last_exit_code{service=\"api\"}"], 143.0);
        assert_eq!(m["tend_service_last_exit_code{service=\"migrate\"}"], 0.0);
        assert_eq!(
            m["tend_service_health_check_configured{service=\"api\"}"],
            1.0
        );
        assert_eq!(
            m["tend_service_health_status{service=\"api\",status=\"unhealthy\"}"],
            1.0
        );
        assert_eq!(
            m["tend_service_health_consecutive_failures{service=\"api\"}"],
            3.0
        );
        // tend_ready follows `tend health`: not ready while api is unhealthy.
        assert_eq!(m["tend_ready"], 0.0);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("php_fpm"), "php_fpm");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn absent_values_are_left_out_not_invented() {
        let snapshot = Snapshot::new();
        let view = View {
            snapshot: &snapshot,
            uptime_seconds: 0.0,
            orphans_reaped: 0,
        };
        let m = parse(&render(&view));
        assert!(!m.contains_key("tend_child_last_exit_code"));
        assert!(!m.contains_key("tend_health_check_duration_seconds"));
        assert_eq!(m["tend_state{state=\"initializing\"}"], 1.0);
    }
}
