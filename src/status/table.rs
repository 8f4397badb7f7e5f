//! `tend status --table`: the snapshot for a person at a terminal, a line for the main
//! command and then one per service (sorted by name, as the snapshot has them), columns
//! aligned, `-` for what there is not.

use super::{LastExit, Snapshot};
use crate::policy::Health;
use crate::services::graph::MAIN;
use crate::signals::signal_name;

const HEADER: [&str; 7] = [
    "NAME",
    "STATE",
    "PID",
    "HEALTH",
    "RESTARTS",
    "LAST EXIT",
    "REASON",
];

pub fn render(snapshot: &Snapshot) -> String {
    let mut rows: Vec<[String; 7]> = Vec::with_capacity(snapshot.services.len() + 2);
    rows.push(HEADER.map(str::to_owned));
    // The main command's reason: why it is unhealthy, when it is.
    let main_reason = (snapshot.health == Health::Unhealthy)
        .then(|| snapshot.last_error.clone())
        .flatten();
    rows.push([
        MAIN.to_owned(),
        snapshot.state.name().to_owned(),
        optional(snapshot.child_pid),
        health(snapshot.health_check, snapshot.health),
        snapshot.restarts.to_string(),
        last_exit(snapshot.last_exit.as_ref()),
        text(main_reason.as_deref()),
    ]);
    for service in &snapshot.services {
        rows.push([
            text(Some(&service.name)),
            service.state.name().to_owned(),
            optional(service.pid),
            health(service.health_check, service.health),
            service.restarts.to_string(),
            last_exit(service.last_exit.as_ref()),
            text(service.reason.as_deref()),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn optional(value: Option<i32>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// The verdict's word with a health check, `-` without one.
fn health(configured: bool, health: Health) -> String {
    if configured {
        health.name().to_owned()
    } else {
        "-".to_owned()
    }
}

/// `0`, `1`, `143 (TERM)`; `-` before the first exit.
fn last_exit(exit: Option<&LastExit>) -> String {
    match exit {
        None => "-".to_owned(),
        Some(LastExit {
            exit_code,
            signal: Some(signal),
            ..
        }) => format!("{exit_code} ({})", signal_name(*signal)),
        Some(exit) => exit.exit_code.to_string(),
    }
}

/// Free text on one line of the table: control characters become spaces; `-` for none.
fn text(value: Option<&str>) -> String {
    match value {
        None | Some("") => "-".to_owned(),
        Some(text) => text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{ServiceStatus, State};

    fn exit(code: i32, signal: Option<i32>) -> Option<LastExit> {
        Some(LastExit {
            exit_code: code,
            signal,
            at: "t".into(),
        })
    }

    fn service(name: &str, state: State) -> ServiceStatus {
        ServiceStatus::plain(name, state)
    }

    #[test]
    fn the_main_command_then_each_service() {
        let snapshot = Snapshot {
            state: State::Running,
            child_pid: Some(7),
            health_check: true,
            health: Health::Healthy,
            restarts: 1,
            services: vec![
                ServiceStatus {
                    pid: Some(12),
                    health_check: true,
                    health: Health::Healthy,
                    ..service("api", State::Running)
                },
                ServiceStatus {
                    oneshot: true,
                    last_exit: exit(0, None),
                    reason: Some("completed".into()),
                    ..service("migrate", State::Stopped)
                },
                ServiceStatus {
                    restarts: 5,
                    last_exit: exit(137, Some(9)),
                    reason: Some("restarts exhausted".into()),
                    ..service("php_fpm", State::Failed)
                },
            ],
            ..Snapshot::new()
        };
        assert_eq!(
            render(&snapshot),
            "\
NAME     STATE    PID  HEALTH   RESTARTS  LAST EXIT   REASON
main     running  7    healthy  1         -           -
api      running  12   healthy  0         -           -
migrate  stopped  -    -        0         0           completed
php_fpm  failed   -    -        5         137 (KILL)  restarts exhausted
"
        );
    }

    #[test]
    fn without_services_one_line_for_the_main_command() {
        let snapshot = Snapshot {
            state: State::Running,
            health_check: true,
            health: Health::Unhealthy,
            last_error: Some("connection refused\non :8080".into()),
            ..Snapshot::new()
        };
        let table = render(&snapshot);
        assert_eq!(table.lines().count(), 2, "{table}");
        assert!(
            table.ends_with("unhealthy  0         -          connection refused on :8080\n"),
            "{table}"
        );
    }
}
