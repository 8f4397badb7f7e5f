//! The dependency graph of the services: which service waits for which, and on what
//! condition (compose's: `started`, `healthy`, `completed`). Pure: no I/O, no clock, no
//! processes. It validates the graph (every error at once), gives the start order (in
//! waves that may start in parallel) and the stop order (a service stops only after every
//! service that depends on it), and decides, from the states of the others, whether a
//! service may start now (`ready_to_start`) or never will (`blocked_by`).
//!
//! An edge `a → b` reads "a depends on b": `b` starts first and stops last. The main
//! command is one more node, named `main` (`MAIN`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// The name of the main command (the one after `--`) in the graph.
pub const MAIN: &str = "main";

/// What a dependency must have reached before its dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// Its process was started (the default, as in compose).
    Started,
    /// Its health check passed.
    Healthy,
    /// A one-shot that exited 0.
    Completed,
}

impl Condition {
    pub const ALL: [Condition; 3] = [Condition::Started, Condition::Healthy, Condition::Completed];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }

    /// `started`, `healthy` or `completed`, in any case.
    pub fn parse(text: &str) -> Option<Condition> {
        Condition::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(text.trim()))
    }
}

/// What the run asks when it starts services (`supervisor/run.rs`).
impl Condition {
    /// Whether a dependency in `state` satisfies this condition now.
    pub fn holds(self, state: State) -> bool {
        match self {
            Condition::Started => {
                matches!(state, State::Started | State::Healthy | State::Completed)
            }
            Condition::Healthy => state == State::Healthy,
            Condition::Completed => state == State::Completed,
        }
    }

    /// Whether a dependency in `state` can never satisfy this condition any more: it
    /// failed, or it is a one-shot that completed and so will never be healthy.
    pub fn never(self, state: State) -> bool {
        state == State::Failed || (self == Condition::Healthy && state == State::Completed)
    }
}

/// One dependency of a service: `db:healthy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name of the service depended on, lowercase (`php_fpm`, or `main`).
    pub service: String,
    pub condition: Condition,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.condition.name())
    }
}

/// Where a service is, as far as its dependents care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started (yet).
    Pending,
    /// Running; its health check has not passed (yet), or it has none.
    Started,
    /// Running, and its health check passed.
    Healthy,
    /// A one-shot that exited 0.
    Completed,
    /// Will satisfy nothing any more: it could not be spawned, a one-shot exited non-zero,
    /// its startup timed out, its restarts were exhausted, or it is blocked itself.
    Failed,
}

/// What the graph needs to know of a service.
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub name: &'a str,
    pub depends_on: &'a [Dependency],
    /// It has a health check (`healthy` may be asked of it).
    pub health_check: bool,
    /// It is a one-shot (`completed` may be asked of it).
    pub oneshot: bool,
}

/// Why a set of services cannot be started in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// The services of a cycle in order, the first repeated at the end:
    /// `[web, php_fpm, web]` is web → php_fpm → web. Rotated to begin with its least name.
    Cycle(Vec<String>),
    /// `service` depends on `dependency`, which is no service.
    Unknown { service: String, dependency: String },
    /// `service` asks `dependency` to be healthy, but it has no health check.
    NoHealthCheck { service: String, dependency: String },
    /// `service` asks `dependency` to be completed, but it is not a one-shot.
    NotOneshot { service: String, dependency: String },
}

impl GraphError {
    /// The service whose dependencies are wrong (for a cycle, its first).
    pub fn service(&self) -> &str {
        match self {
            GraphError::Cycle(names) => &names[0],
            GraphError::Unknown { service, .. }
            | GraphError::NoHealthCheck { service, .. }
            | GraphError::NotOneshot { service, .. } => service,
        }
    }
}

/// `web → php_fpm → web`.
pub fn cycle_text(names: &[String]) -> String {
    names.join(" → ")
}

/// A valid dependency graph: no cycle, every dependency known and able to meet its
/// condition.
#[derive(Debug, Clone)]
pub struct Graph {
    names: Vec<String>,
    /// For each node, what it depends on: (index, condition).
    needs: Vec<Vec<(usize, Condition)>>,
    /// Start waves: every node of a wave depends only on nodes of earlier waves, and as
    /// early a wave as that allows.
    waves: Vec<Vec<usize>>,
    /// Stop waves: every node of a wave has its dependents in earlier waves only.
    stop_waves: Vec<Vec<usize>>,
}

impl Graph {
    /// Validates the nodes (names are unique: the configuration sees to it) and orders
    /// them; every problem at once, those of each node in its dependencies' order, then
    /// the cycles.
    pub fn new(nodes: &[Node]) -> Result<Graph, Vec<GraphError>> {
        let index: BTreeMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.name, i))
            .collect();
        let mut errors = Vec::new();
        let mut needs = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            for dependency in node.depends_on {
                let error = |make: fn(String, String) -> GraphError| {
                    make(node.name.to_string(), dependency.service.clone())
                };
                let Some(&j) = index.get(dependency.service.as_str()) else {
                    errors.push(error(|service, dependency| GraphError::Unknown {
                        service,
                        dependency,
                    }));
                    continue;
                };
                match dependency.condition {
                    Condition::Healthy if !nodes[j].health_check => {
                        errors.push(error(|service, dependency| GraphError::NoHealthCheck {
                            service,
                            dependency,
                        }))
                    }
                    Condition::Completed if !nodes[j].oneshot => {
                        errors.push(error(|service, dependency| GraphError::NotOneshot {
                            service,
                            dependency,
                        }))
                    }
                    _ => {}
                }
                // Kept even when its condition is wrong: a cycle is found all the same.
                needs[i].push((j, dependency.condition));
            }
        }
        let names: Vec<String> = nodes.iter().map(|n| n.name.to_string()).collect();
        errors.extend(cycles(&names, &needs).into_iter().map(GraphError::Cycle));
        if !errors.is_empty() {
            return Err(errors);
        }
        let waves = layers(&names, &needs);
        let mut dependents = vec![Vec::new(); names.len()];
        for (i, list) in needs.iter().enumerate() {
            for &(j, condition) in list {
                dependents[j].push((i, condition));
            }
        }
        let stop_waves = layers(&names, &dependents);
        Ok(Graph {
            names,
            needs,
            waves,
            stop_waves,
        })
    }

    fn named(&self, waves: &[Vec<usize>]) -> Vec<Vec<&str>> {
        waves
            .iter()
            .map(|wave| wave.iter().map(|&i| self.names[i].as_str()).collect())
            .collect()
    }

    /// The start order in waves: the services of a wave may start together, once those of
    /// the waves before have met the conditions asked of them. Names sorted in a wave.
    pub fn start_waves(&self) -> Vec<Vec<&str>> {
        self.named(&self.waves)
    }

    /// The stop order in waves: a service stops only after every service that depends on
    /// it has stopped; the services of a wave may stop together.
    pub fn stop_waves(&self) -> Vec<Vec<&str>> {
        self.named(&self.stop_waves)
    }
}

/// What the run asks when it starts and stops services (`supervisor/run.rs`).
impl Graph {
    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// One start order: a service after everything it depends on (the run goes by
    /// `ready_to_start`; the tests check the waves against it).
    #[cfg(test)]
    pub fn start_order(&self) -> Vec<&str> {
        self.start_waves().into_iter().flatten().collect()
    }

    /// One stop order: a service after every service that depends on it.
    #[cfg(test)]
    pub fn stop_order(&self) -> Vec<&str> {
        self.stop_waves().into_iter().flatten().collect()
    }

    /// What `name` depends on, as declared.
    pub fn dependencies(&self, name: &str) -> Vec<(&str, Condition)> {
        self.index(name).map_or_else(Vec::new, |i| {
            self.needs[i]
                .iter()
                .map(|&(j, c)| (self.names[j].as_str(), c))
                .collect()
        })
    }

    /// The services that depend on `name` directly.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        let Some(target) = self.index(name) else {
            return Vec::new();
        };
        let mut found: Vec<&str> = (0..self.names.len())
            .filter(|&i| self.needs[i].iter().any(|&(j, _)| j == target))
            .map(|i| self.names[i].as_str())
            .collect();
        found.sort_unstable();
        found
    }

    /// Whether every condition `name` waits for holds, given the state of each service
    /// (`states`). False for a name that is not in the graph.
    pub fn ready_to_start(&self, name: &str, states: impl Fn(&str) -> State) -> bool {
        self.index(name).is_some_and(|i| {
            self.needs[i]
                .iter()
                .all(|&(j, condition)| condition.holds(states(&self.names[j])))
        })
    }

    /// The services whose state keeps `name` from ever starting: a dependency that can
    /// never meet its condition (`Condition::never`), or, through a dependency that has
    /// not started, what keeps that one from starting. Sorted; empty when nothing does.
    pub fn blocked_by(&self, name: &str, states: impl Fn(&str) -> State) -> Vec<&str> {
        let Some(start) = self.index(name) else {
            return Vec::new();
        };
        let mut roots = BTreeSet::new();
        let mut seen = BTreeSet::from([start]);
        let mut todo = vec![start];
        while let Some(i) = todo.pop() {
            for &(j, condition) in &self.needs[i] {
                let state = states(&self.names[j]);
                if condition.never(state) {
                    roots.insert(self.names[j].as_str());
                } else if state == State::Pending && seen.insert(j) {
                    todo.push(j);
                }
            }
        }
        roots.into_iter().collect()
    }
}

/// Layers by longest path along `edges` (node → what it waits for): a node's layer is one
/// more than the highest of those it waits for. Assumes no cycle.
fn layers(names: &[String], edges: &[Vec<(usize, Condition)>]) -> Vec<Vec<usize>> {
    let mut layer: Vec<Option<usize>> = vec![None; names.len()];
    // Each round settles at least one node when there is no cycle: n rounds suffice.
    for _ in 0..names.len() {
        for i in 0..names.len() {
            if layer[i].is_some() {
                continue;
            }
            let below: Option<Vec<usize>> = edges[i].iter().map(|&(j, _)| layer[j]).collect();
            if let Some(below) = below {
                layer[i] = Some(below.into_iter().max().map_or(0, |top| top + 1));
            }
        }
    }
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for (i, l) in layer.into_iter().enumerate() {
        let l = l.unwrap_or_default();
        if waves.len() <= l {
            waves.resize_with(l + 1, Vec::new);
        }
        waves[l].push(i);
    }
    for wave in &mut waves {
        wave.sort_by(|&a, &b| names[a].cmp(&names[b]));
    }
    waves
}

/// Cycles that, together, name every node on any cycle: for each such node not yet named,
/// the shortest cycle through it. Each is rotated to begin with its least name, and
/// listed once.
fn cycles(names: &[String], needs: &[Vec<(usize, Condition)>]) -> Vec<Vec<String>> {
    let mut covered = vec![false; names.len()];
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut by_name: Vec<usize> = (0..names.len()).collect();
    by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
    for start in by_name {
        if covered[start] {
            continue;
        }
        let Some(path) = shortest_cycle(start, needs) else {
            continue;
        };
        for &i in &path {
            covered[i] = true;
        }
        let least = (0..path.len())
            .min_by(|&a, &b| names[path[a]].cmp(&names[path[b]]))
            .unwrap_or(0);
        let mut cycle: Vec<String> = path[least..]
            .iter()
            .chain(&path[..least])
            .map(|&i| names[i].clone())
            .collect();
        cycle.push(cycle[0].clone());
        found.insert(cycle);
    }
    found.into_iter().collect()
}

/// The nodes of a shortest cycle through `start` (`start` first, not repeated), by a
/// breadth-first search from it back to it; `None` when it is on no cycle.
fn shortest_cycle(start: usize, needs: &[Vec<(usize, Condition)>]) -> Option<Vec<usize>> {
    let mut parent: Vec<Option<usize>> = vec![None; needs.len()];
    let mut queue = VecDeque::from([start]);
    let mut seen = vec![false; needs.len()];
    while let Some(i) = queue.pop_front() {
        for &(j, _) in &needs[i] {
            if j == start {
                let mut path = vec![i];
                let mut at = i;
                while at != start {
                    at = parent[at]?;
                    path.push(at);
                }
                path.reverse();
                // `path` runs start → … → i; i → start closes it.
                return Some(path);
            }
            if !seen[j] {
                seen[j] = true;
                parent[j] = Some(i);
                queue.push_back(j);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(text: &str) -> Vec<Dependency> {
        crate::words::split_list(text)
            .map(|item| {
                let (service, condition) = item.split_once(':').unwrap_or((item, "started"));
                Dependency {
                    service: service.into(),
                    condition: Condition::parse(condition).expect("condition"),
                }
            })
            .collect()
    }

    /// (name, dependencies, health check, one-shot)
    fn graph(spec: &[(&str, &str, bool, bool)]) -> Result<Graph, Vec<GraphError>> {
        let lists: Vec<Vec<Dependency>> = spec.iter().map(|s| deps(s.1)).collect();
        let nodes: Vec<Node> = spec
            .iter()
            .zip(&lists)
            .map(|(s, list)| Node {
                name: s.0,
                depends_on: list,
                health_check: s.2,
                oneshot: s.3,
            })
            .collect();
        Graph::new(&nodes)
    }

    #[test]
    fn the_issue_example_starts_in_waves_and_stops_in_reverse() {
        let g = graph(&[
            ("main", "web:healthy", false, false),
            ("web", "php_fpm, migrate:completed", true, false),
            ("php_fpm", "db:healthy", false, false),
            ("migrate", "db:healthy", false, true),
            ("db", "", true, false),
            ("cron", "", false, false),
        ])
        .expect("valid");
        assert_eq!(
            g.start_waves(),
            [
                vec!["cron", "db"],
                vec!["migrate", "php_fpm"],
                vec!["web"],
                vec!["main"]
            ]
        );
        assert_eq!(
            g.stop_waves(),
            [
                vec!["cron", "main"],
                vec!["web"],
                vec!["migrate", "php_fpm"],
                vec!["db"]
            ]
        );
        assert_eq!(g.dependents("db"), ["migrate", "php_fpm"]);
        assert_eq!(
            g.dependencies("web"),
            [
                ("php_fpm", Condition::Started),
                ("migrate", Condition::Completed)
            ]
        );
    }

    #[test]
    fn a_cycle_names_every_service_in_it_in_order() {
        let errors = graph(&[
            ("web", "php_fpm", false, false),
            ("php_fpm", "web", false, false),
            ("db", "db", false, false),
            ("ok", "", false, false),
        ])
        .expect_err("cycles");
        assert_eq!(
            errors,
            [
                GraphError::Cycle(vec!["db".into(), "db".into()]),
                GraphError::Cycle(vec!["php_fpm".into(), "web".into(), "php_fpm".into()]),
            ]
        );
        assert_eq!(
            cycle_text(&["web".into(), "php_fpm".into(), "web".into()]),
            "web → php_fpm → web"
        );
    }

    #[test]
    fn every_wrong_dependency_is_reported_at_once() {
        let errors = graph(&[
            ("web", "ghost, db:healthy, db:completed", false, false),
            ("db", "web", false, false),
        ])
        .expect_err("wrong");
        let service = || "web".to_string();
        let dependency = |d: &str| d.to_string();
        assert_eq!(
            errors,
            [
                GraphError::Unknown {
                    service: service(),
                    dependency: dependency("ghost")
                },
                GraphError::NoHealthCheck {
                    service: service(),
                    dependency: dependency("db")
                },
                GraphError::NotOneshot {
                    service: service(),
                    dependency: dependency("db")
                },
                GraphError::Cycle(vec!["db".into(), "web".into(), "db".into()]),
            ]
        );
    }

    #[test]
    fn readiness_and_blocking_follow_the_states() {
        let g = graph(&[
            ("web", "php:healthy, migrate:completed", false, false),
            ("php", "db", true, false),
            ("migrate", "db", false, true),
            ("db", "", false, false),
        ])
        .expect("valid");
        let states = |pairs: &'static [(&'static str, State)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(State::Pending, |(_, s)| *s)
            }
        };
        assert!(g.ready_to_start("db", states(&[])));
        assert!(!g.ready_to_start("php", states(&[])));
        assert!(g.ready_to_start("php", states(&[("db", State::Started)])));
        let running = states(&[
            ("db", State::Started),
            ("php", State::Started),
            ("migrate", State::Completed),
        ]);
        assert!(!g.ready_to_start("web", running), "php is not healthy yet");
        let healthy = states(&[("php", State::Healthy), ("migrate", State::Completed)]);
        assert!(g.ready_to_start("web", healthy));
        assert!(!g.ready_to_start("nobody", states(&[])));
        // A failed db blocks everything above it, through services that never started.
        let failed = states(&[("db", State::Failed)]);
        assert_eq!(g.blocked_by("web", failed), ["db"]);
        assert_eq!(g.blocked_by("php", failed), ["db"]);
        assert!(g.blocked_by("db", failed).is_empty());
        let migrate_failed = states(&[("db", State::Started), ("migrate", State::Failed)]);
        assert_eq!(g.blocked_by("web", migrate_failed), ["migrate"]);
        assert!(g.blocked_by("php", migrate_failed).is_empty());
    }

    #[test]
    fn a_completed_one_shot_is_started_but_never_healthy() {
        assert!(Condition::Started.holds(State::Completed));
        assert!(Condition::Healthy.never(State::Completed));
        assert!(!Condition::Started.never(State::Completed));
        assert!(!Condition::Completed.never(State::Started));
        for c in Condition::ALL {
            assert!(c.never(State::Failed) && !c.holds(State::Failed));
            assert!(!c.holds(State::Pending) && !c.never(State::Pending));
            assert_eq!(Condition::parse(&c.name().to_uppercase()), Some(c));
        }
        assert_eq!(Condition::parse("ready"), None);
    }
}
