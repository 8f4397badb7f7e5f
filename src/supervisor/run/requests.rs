//! `tend start|stop|restart NAME…|--all`: the run carries them out with the dependency
//! rules applied, and answers each when its work is done (the request is parked in the
//! edges meanwhile). Pure, as the rest of the run.
//!
//! - `stop`: the services named and every service that depends on them, dependents first
//!   (as at the end of the run); refused when the main command depends on one of them
//!   (`tend stop` without a name stops everything). Answered once all have ended.
//! - `start`: the services named, and what they need that has ended, started afresh as
//!   their conditions hold. Answered once each named one is up (running, healthy with a
//!   health check, completed for a one-shot) or has failed; the client waits up to its
//!   bound (90 s) for that.
//! - `restart`: a stop as above, then a start of the same services.

use std::collections::BTreeSet;

use super::{Run, UnitId, MAIN_UNIT};
use crate::control::{self, Ask, ServiceVerb, Verdict};
use crate::policy::Health;
use crate::services::graph::{self, MAIN};
use crate::supervisor::action::Action;
use crate::supervisor::input::Now;
use crate::supervisor::step::Phase;

/// A request under way.
#[derive(Debug)]
pub(super) struct Pending {
    id: u64,
    verb: ServiceVerb,
    /// The services asked for.
    named: Vec<UnitId>,
    /// What is stopped first (named + dependents), for `stop` and `restart`.
    stopping: Vec<UnitId>,
    /// The stop is over: for `restart`, the start has begun.
    started: bool,
}

impl Run {
    /// A request about services: judged, refused at once, or taken and parked.
    pub(super) fn service_request(&mut self, ask: Ask, now: Now, out: &mut Vec<(UnitId, Action)>) {
        let verdict = control::judge(&ask, self.main.snapshot.state, None);
        let Ask::Services { verb, names } = ask else {
            return;
        };
        if !matches!(verdict, Verdict::Accepted { .. }) || self.winding.is_some() {
            return out.push((MAIN_UNIT, Action::Answer(verdict)));
        }
        let named = self.named(&names);
        let stopping = match verb {
            ServiceVerb::Start => Vec::new(),
            ServiceVerb::Stop | ServiceVerb::Restart => self.with_dependents(&named),
        };
        if let Some(refusal) = self.main_depends_on(&stopping) {
            return out.push((MAIN_UNIT, Action::Answer(Verdict::Failed(refusal))));
        }
        self.next_request += 1;
        let id = self.next_request;
        out.push((MAIN_UNIT, Action::Park(id)));
        for &n in &stopping {
            self.units[n - 1].asked_stop = true;
        }
        let pending = Pending {
            id,
            verb,
            named,
            stopping,
            started: false,
        };
        if verb == ServiceVerb::Start {
            self.start_again(&pending.named);
        }
        self.requests.push(pending);
        self.settle(now, out);
    }

    /// The units of `names` (every service when empty): the server checked them.
    fn named(&self, names: &[String]) -> Vec<UnitId> {
        let all = 1..=self.units.len();
        all.filter(|&n| names.is_empty() || names.contains(&self.units[n - 1].name))
            .collect()
    }

    /// `named` and every service that depends on them, directly or not.
    fn with_dependents(&self, named: &[UnitId]) -> Vec<UnitId> {
        let Some(graph) = &self.graph else {
            return named.to_vec();
        };
        let mut found: BTreeSet<UnitId> = named.iter().copied().collect();
        let mut todo = named.to_vec();
        while let Some(n) = todo.pop() {
            for dependent in graph.dependents(&self.units[n - 1].name) {
                if let Some(d) = self.unit_named(dependent) {
                    if found.insert(d) {
                        todo.push(d);
                    }
                }
            }
        }
        found.into_iter().collect()
    }

    /// `named` and everything they need, directly or not.
    fn with_dependencies(&self, named: &[UnitId]) -> Vec<UnitId> {
        let Some(graph) = &self.graph else {
            return named.to_vec();
        };
        let mut found: BTreeSet<UnitId> = named.iter().copied().collect();
        let mut todo = named.to_vec();
        while let Some(n) = todo.pop() {
            for (dependency, _) in graph.dependencies(&self.units[n - 1].name) {
                if let Some(d) = self.unit_named(dependency) {
                    if found.insert(d) {
                        todo.push(d);
                    }
                }
            }
        }
        found.into_iter().collect()
    }

    fn unit_named(&self, name: &str) -> Option<UnitId> {
        let at = self.units.iter().position(|u| u.name == name);
        at.map(|i| i + 1)
    }

    /// Why the stop is refused: the main command depends on a service it would stop.
    fn main_depends_on(&self, stopping: &[UnitId]) -> Option<String> {
        let graph = self.graph.as_ref()?;
        let needed = graph.dependencies(MAIN);
        let mut todo: Vec<&str> = needed.iter().map(|(name, _)| *name).collect();
        let mut seen = BTreeSet::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name) {
                continue;
            }
            let unit = self.unit_named(name);
            if unit.is_some_and(|n| stopping.contains(&n)) {
                return Some(format!(
                    "the main command depends on {name}: stopping it would stop the main command; \
                     `tend stop` (no name) stops everything"
                ));
            }
            todo.extend(graph.dependencies(name).into_iter().map(|(d, _)| d));
        }
        None
    }

    /// Makes the ended among `named` and what they need new again: they start as their
    /// conditions hold. A unit that runs, or still waits to start, is left as it is.
    fn start_again(&mut self, named: &[UnitId]) {
        for n in self.with_dependencies(named) {
            let unit = &mut self.units[n - 1];
            if unit.end.is_none() {
                continue;
            }
            let mut fresh = unit.fresh.clone();
            fresh.snapshot.restarts = unit.state.snapshot.restarts;
            fresh.snapshot.last_exit = unit.state.snapshot.last_exit.clone();
            fresh.version = unit.state.version + 1;
            unit.state = fresh;
            unit.end = None;
            unit.stopping = false;
            unit.asked_stop = false;
            self.shown += 1;
        }
    }

    /// Carries the requests on: a finished stop turns into a restart's start; a finished
    /// request is answered. True when something moved.
    pub(super) fn requests_progress(&mut self, out: &mut Vec<(UnitId, Action)>) -> bool {
        let mut moved = false;
        let mut at = 0;
        while at < self.requests.len() {
            let stopped = self.requests[at]
                .stopping
                .iter()
                .all(|&n| self.units[n - 1].end.is_some());
            let request = &self.requests[at];
            if request.verb == ServiceVerb::Restart && stopped && !request.started {
                let named = request.stopping.clone();
                self.requests[at].started = true;
                self.start_again(&named);
                moved = true;
            }
            match self.outcome(&self.requests[at], stopped) {
                Some(verdict) => {
                    let request = self.requests.remove(at);
                    out.push((MAIN_UNIT, Action::AnswerParked(request.id, verdict)));
                    moved = true;
                }
                None => at += 1,
            }
        }
        moved
    }

    /// The answer, once the work is over.
    fn outcome(&self, request: &Pending, stopped: bool) -> Option<Verdict> {
        if request.verb == ServiceVerb::Stop {
            return stopped.then(|| Verdict::Done(self.stop_text(request)));
        }
        if request.verb == ServiceVerb::Restart && !request.started {
            return None;
        }
        let mut lines = Vec::new();
        let mut failed = false;
        let units = match request.verb {
            ServiceVerb::Restart => &request.stopping,
            _ => &request.named,
        };
        for &n in units {
            let unit = &self.units[n - 1];
            match self.up(n) {
                None => return None,
                Some(Ok(what)) => lines.push(format!("{}: {what}", unit.name)),
                Some(Err(why)) => {
                    failed = true;
                    lines.push(format!("{}: {why}", unit.name));
                }
            }
        }
        let text = lines.join("\n");
        Some(if failed {
            Verdict::Failed(text)
        } else {
            Verdict::Done(text)
        })
    }

    /// Whether a started unit is up (Ok), will not be (Err), or not yet (None).
    fn up(&self, n: UnitId) -> Option<Result<String, String>> {
        let unit = &self.units[n - 1];
        if let Some(end) = &unit.end {
            return Some(match end.graph {
                graph::State::Completed => Ok(end.reason.clone()),
                _ => Err(end.reason.clone()),
            });
        }
        let state = &unit.state;
        let running = state.child.is_some() && state.phase == Phase::Up;
        let healthy = !state.snapshot.health_check || state.snapshot.health == Health::Healthy;
        (running && healthy).then(|| {
            Ok(format!(
                "running as pid {}",
                state.snapshot.child_pid.unwrap_or(0)
            ))
        })
    }

    fn stop_text(&self, request: &Pending) -> String {
        let named: Vec<&str> = request
            .named
            .iter()
            .map(|&n| self.units[n - 1].name.as_str())
            .collect();
        let others: Vec<&str> = request
            .stopping
            .iter()
            .filter(|n| !request.named.contains(n))
            .map(|&n| self.units[n - 1].name.as_str())
            .collect();
        match others.is_empty() {
            true => format!("{}: stopped", named.join(", ")),
            false => format!(
                "{}: stopped (and their dependents: {})",
                named.join(", "),
                others.join(", ")
            ),
        }
    }

    /// The user's stop of the services marked `asked_stop`, dependents first.
    pub(super) fn stop_what_was_asked(
        &mut self,
        now: Now,
        out: &mut Vec<(UnitId, Action)>,
    ) -> bool {
        let mut moved = false;
        for n in 1..=self.units.len() {
            let unit = &self.units[n - 1];
            if !unit.asked_stop || unit.end.is_some() || unit.stopping {
                continue;
            }
            if !self.dependents_gone(&unit.name) {
                continue;
            }
            moved = true;
            let timeout = unit.state.config.shutdown_timeout;
            self.stop_unit(n, timeout, "stopped", now, out);
        }
        moved
    }
}
