//! What each path answers, as a pure function of the method, the path and what tend
//! knows: no I/O here, so that every answer can be unit-tested.

use hyper::{Method, StatusCode};

use super::metrics;
use crate::readiness::{self, Question};
use crate::status::Snapshot;

/// What the endpoints read: the latest snapshot plus the counters kept outside it.
pub struct View<'a> {
    pub snapshot: &'a Snapshot,
    /// Seconds since tend started.
    pub uptime_seconds: f64,
    pub orphans_reaped: u64,
}

/// One answer, before it becomes an HTTP response.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// The `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
/// The Prometheus text exposition format.
pub const METRICS: &str = "text/plain; version=0.0.4; charset=utf-8";
const ALLOWED: &str = "GET, HEAD";

/// The paths served; anything else is 404.
const PATHS: [&str; 5] = ["/livez", "/readyz", "/healthz", "/status", "/metrics"];

pub fn respond(method: &Method, path: &str, view: &View<'_>) -> Reply {
    if !PATHS.contains(&path) {
        return text(
            StatusCode::NOT_FOUND,
            format!("not found: {path}; try one of {}", PATHS.join(", ")),
        );
    }
    if method != Method::GET && method != Method::HEAD {
        return Reply {
            allow: Some(ALLOWED),
            ..text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} not allowed on {path}: use GET or HEAD"),
            )
        };
    }
    match path {
        "/livez" => judged(view.snapshot, Question::Live),
        // /healthz is the older Kubernetes name of the same question as /readyz.
        "/readyz" | "/healthz" => judged(view.snapshot, Question::Ready),
        "/status" => match serde_json::to_string(view.snapshot) {
            Ok(mut json) => {
                json.push('\n');
                Reply {
                    status: StatusCode::OK,
                    content_type: JSON,
                    body: json,
                    allow: None,
                }
            }
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the status snapshot as JSON: {error}"),
            ),
        },
        _ => Reply {
            status: StatusCode::OK,
            content_type: METRICS,
            body: metrics::render(view),
            allow: None,
        },
    }
}

/// The answer `tend health` (or `tend health --live`) would give, as 200 or 503.
fn judged(snapshot: &Snapshot, question: Question) -> Reply {
    let (code, reason) = readiness::judge(snapshot, question);
    let status = if code == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    text(status, reason)
}

fn text(status: StatusCode, mut body: String) -> Reply {
    body.push('\n');
    Reply {
        status,
        content_type: TEXT,
        body,
        allow: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Health;
    use crate::status::State;

    fn snapshot(state: State, check: bool, health: Health) -> Snapshot {
        Snapshot {
            state,
            health_check: check,
            health,
            ..Snapshot::new()
        }
    }

    fn get(path: &str, snapshot: &Snapshot) -> Reply {
        let view = View {
            snapshot,
            uptime_seconds: 1.5,
            orphans_reaped: 0,
        };
        respond(&Method::GET, path, &view)
    }

    #[test]
    fn readiness_follows_tend_health_in_every_state() {
        for state in State::ALL {
            for (check, health) in [
                (false, Health::Unknown),
                (true, Health::Unknown),
                (true, Health::Healthy),
                (true, Health::Unhealthy),
            ] {
                let s = snapshot(state, check, health);
                for (path, question) in [
                    ("/readyz", Question::Ready),
                    ("/healthz", Question::Ready),
                    ("/livez", Question::Live),
                ] {
                    let reply = get(path, &s);
                    let (code, reason) = readiness::judge(&s, question);
                    assert_eq!(reply.status == StatusCode::OK, code == 0, "{path} {s:?}");
                    assert_eq!(reply.body, format!("{reason}\n"));
                }
            }
        }
    }

    #[test]
    fn ready_only_when_running_and_passing() {
        let ok = |s: &Snapshot| get("/readyz", s).status;
        assert_eq!(
            ok(&snapshot(State::Running, false, Health::Unknown)),
            StatusCode::OK
        );
        assert_eq!(
            ok(&snapshot(State::Running, true, Health::Healthy)),
            StatusCode::OK
        );
        for s in [
            snapshot(State::Running, true, Health::Unhealthy),
            snapshot(State::Starting, false, Health::Unknown),
            snapshot(State::Restarting, false, Health::Unknown),
            snapshot(State::Draining, true, Health::Healthy),
            snapshot(State::Stopping, true, Health::Healthy),
        ] {
            assert_eq!(ok(&s), StatusCode::SERVICE_UNAVAILABLE, "{s:?}");
        }
        let draining = get(
            "/readyz",
            &snapshot(State::Draining, false, Health::Unknown),
        );
        assert_eq!(draining.body, "not ready: state draining\n");
        let live = get("/livez", &snapshot(State::Draining, false, Health::Unknown));
        assert_eq!(live.status, StatusCode::OK);
    }

    #[test]
    fn unknown_paths_and_methods() {
        let s = snapshot(State::Running, false, Health::Unknown);
        let view = View {
            snapshot: &s,
            uptime_seconds: 0.0,
            orphans_reaped: 0,
        };
        let missing = respond(&Method::GET, "/nope", &view);
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("/readyz"), "{}", missing.body);
        let post = respond(&Method::POST, "/readyz", &view);
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.allow, Some("GET, HEAD"));
        assert_eq!(
            respond(&Method::HEAD, "/livez", &view).status,
            StatusCode::OK
        );
    }

    #[test]
    fn status_is_the_snapshot_as_json() {
        let s = snapshot(State::Draining, false, Health::Unknown);
        let reply = get("/status", &s);
        assert_eq!(reply.content_type, "application/json");
        let value: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        assert_eq!(value["state"], "draining");
        assert_eq!(value["pid"], std::process::id());
        assert!(value.get("services").is_none(), "{}", reply.body);
    }

    #[test]
    fn status_carries_the_services_and_readyz_judges_them() {
        let mut s = snapshot(State::Running, false, Health::Unknown);
        s.services.push(crate::status::ServiceStatus {
            name: "web".into(),
            state: State::Initializing,
            pid: None,
            oneshot: false,
            restarts: 0,
            last_exit: None,
            health_check: true,
            health: Health::Unknown,
            consecutive_failures: 0,
            reason: None,
        });
        let reply = get("/status", &s);
        let value: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
        assert_eq!(value["services"][0]["name"], "web");
        assert_eq!(value["services"][0]["state"], "initializing");
        assert_eq!(value["services"][0]["health_check"], true);
        // The snapshot as the status file has it: the same document, byte for byte.
        assert_eq!(reply.body, format!("{}\n", s.to_json()));
        let ready = get("/readyz", &s);
        assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready.body, "not ready: service web: state initializing\n");
        // Alive all the same: liveness is tend's own.
        assert_eq!(get("/livez", &s).status, StatusCode::OK);
    }
}
