//! Property tests of the dependency graph: random DAGs (the orders respect every edge, the
//! waves are as early as they can be, readiness and blocking agree with their definitions)
//! and random graphs with cycles (every service on a cycle is named in a reported cycle,
//! and every reported cycle is one). `PROPTEST_CASES=100000 cargo test services` runs longer.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::graph::{Condition, Dependency, Graph, GraphError, Node, State};

/// A graph as plain data: names, and for each node (index, condition) edges, health check
/// and one-shot flags.
#[derive(Debug, Clone)]
struct Spec {
    names: Vec<String>,
    edges: Vec<Vec<(usize, Condition)>>,
    health_check: Vec<bool>,
    oneshot: Vec<bool>,
}

impl Spec {
    fn lists(&self) -> Vec<Vec<Dependency>> {
        self.edges
            .iter()
            .map(|list| {
                list.iter()
                    .map(|&(j, condition)| Dependency {
                        service: self.names[j].clone(),
                        condition,
                    })
                    .collect()
            })
            .collect()
    }

    fn graph(&self) -> Result<Graph, Vec<GraphError>> {
        let lists = self.lists();
        let nodes: Vec<Node> = (0..self.names.len())
            .map(|i| Node {
                name: &self.names[i],
                depends_on: &lists[i],
                health_check: self.health_check[i],
                oneshot: self.oneshot[i],
            })
            .collect();
        Graph::new(&nodes)
    }

    fn index(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).expect("a node")
    }

    /// Whether `to` is reachable from `from` in one edge or more.
    fn reaches(&self, from: usize, to: usize) -> bool {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<usize> = self.edges[from].iter().map(|e| e.0).collect();
        while let Some(i) = todo.pop() {
            if i == to {
                return true;
            }
            if seen.insert(i) {
                todo.extend(self.edges[i].iter().map(|e| e.0));
            }
        }
        false
    }
}

/// Distinct names, shuffled so that the order of declaration says nothing.
fn names(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z][a-z0-9_]{0,6}", n..=n)
        .prop_map(|set| set.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

fn condition() -> impl Strategy<Value = Condition> {
    prop::sample::select(Condition::ALL.to_vec())
}

/// A DAG: node i depends only on nodes of a lower index (then renamed at random), each
/// condition met by its dependency's kind, so that the graph is valid.
fn dag() -> impl Strategy<Value = Spec> {
    (1usize..14).prop_flat_map(|n| {
        let edges = prop::collection::vec(
            prop::collection::vec((any::<prop::sample::Index>(), condition()), 0..4),
            n,
        );
        (names(n), edges).prop_map(move |(names, raw)| {
            let mut edges: Vec<Vec<(usize, Condition)>> = vec![Vec::new(); n];
            let (mut health_check, mut oneshot) = (vec![false; n], vec![false; n]);
            for (i, list) in raw.into_iter().enumerate() {
                if i == 0 {
                    continue;
                }
                for (at, condition) in list {
                    let j = at.index(i);
                    if edges[i].iter().any(|e| e.0 == j) {
                        continue;
                    }
                    match condition {
                        Condition::Healthy => health_check[j] = true,
                        Condition::Completed => oneshot[j] = true,
                        Condition::Started => {}
                    }
                    edges[i].push((j, condition));
                }
            }
            Spec {
                names,
                edges,
                health_check,
                oneshot,
            }
        })
    })
}

/// Any graph: edges anywhere (self-loops too), flags at random.
fn any_graph() -> impl Strategy<Value = Spec> {
    (1usize..10).prop_flat_map(|n| {
        (
            names(n),
            prop::collection::vec(prop::collection::vec((0..n, condition()), 0..4), n),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
        )
            .prop_map(|(names, mut edges, health_check, oneshot)| {
                for list in &mut edges {
                    let mut seen = BTreeSet::new();
                    list.retain(|e| seen.insert(e.0));
                }
                Spec {
                    names,
                    edges,
                    health_check,
                    oneshot,
                }
            })
    })
}

fn state() -> impl Strategy<Value = State> {
    prop::sample::select(vec![
        State::Pending,
        State::Started,
        State::Healthy,
        State::Completed,
        State::Failed,
    ])
}

/// A DAG and a state for each of its nodes.
fn dag_with_states() -> impl Strategy<Value = (Spec, Vec<State>)> {
    dag().prop_flat_map(|spec| {
        let n = spec.names.len();
        (Just(spec), prop::collection::vec(state(), n))
    })
}

proptest! {
    #[test]
    fn orders_respect_every_edge(spec in dag()) {
        let graph = spec.graph().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let start = graph.start_order();
        let stop = graph.stop_order();
        let all: BTreeSet<&str> = spec.names.iter().map(String::as_str).collect();
        prop_assert_eq!(start.len(), spec.names.len());
        prop_assert_eq!(start.iter().copied().collect::<BTreeSet<_>>(), all.clone());
        prop_assert_eq!(stop.len(), spec.names.len());
        prop_assert_eq!(stop.iter().copied().collect::<BTreeSet<_>>(), all);
        let at = |order: &[&str], name: &str| order.iter().position(|n| *n == name);
        let wave_of = |waves: &[Vec<&str>], name: &str| waves.iter().position(|w| w.contains(&name));
        let waves = graph.start_waves();
        let stop_waves = graph.stop_waves();
        for (i, list) in spec.edges.iter().enumerate() {
            let dependent = spec.names[i].as_str();
            for &(j, _) in list {
                let dependency = spec.names[j].as_str();
                // Starts first, stops last, and in a strictly earlier (later) wave.
                prop_assert!(at(&start, dependency) < at(&start, dependent));
                prop_assert!(at(&stop, dependent) < at(&stop, dependency));
                prop_assert!(wave_of(&waves, dependency) < wave_of(&waves, dependent));
                prop_assert!(wave_of(&stop_waves, dependent) < wave_of(&stop_waves, dependency));
            }
            // As early as it can be: in the first wave with nothing to wait for, else
            // right after its latest dependency.
            let wave = wave_of(&waves, dependent).expect("in a wave");
            let latest = list.iter().filter_map(|&(j, _)| wave_of(&waves, &spec.names[j])).max();
            prop_assert_eq!(wave, latest.map_or(0, |w| w + 1));
        }
        prop_assert!(waves.iter().all(|w| !w.is_empty()));
        prop_assert!(stop_waves.iter().all(|w| !w.is_empty()));
    }

    #[test]
    fn every_cycle_is_reported_and_every_report_is_a_cycle(spec in any_graph()) {
        let on_cycle: BTreeSet<&str> = (0..spec.names.len())
            .filter(|&i| spec.reaches(i, i))
            .map(|i| spec.names[i].as_str())
            .collect();
        let result = spec.graph();
        let reported: Vec<Vec<String>> = match &result {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .iter()
                .filter_map(|e| match e {
                    GraphError::Cycle(names) => Some(names.clone()),
                    _ => None,
                })
                .collect(),
        };
        prop_assert_eq!(reported.is_empty(), on_cycle.is_empty());
        let mut named = BTreeSet::new();
        for cycle in &reported {
            prop_assert!(cycle.len() >= 2, "{:?}", cycle);
            prop_assert_eq!(cycle.first(), cycle.last());
            let inner = &cycle[..cycle.len() - 1];
            prop_assert_eq!(inner.iter().collect::<BTreeSet<_>>().len(), inner.len(), "{:?}", cycle);
            prop_assert_eq!(inner.iter().min(), inner.first(), "rotated to its least name");
            for pair in cycle.windows(2) {
                let (a, b) = (spec.index(&pair[0]), spec.index(&pair[1]));
                prop_assert!(spec.edges[a].iter().any(|e| e.0 == b), "{:?}: no edge {} → {}", cycle, pair[0], pair[1]);
            }
            named.extend(inner.iter().cloned());
        }
        let named: BTreeSet<&str> = named.iter().map(String::as_str).collect();
        prop_assert_eq!(&named, &on_cycle);
        let unique: BTreeSet<&Vec<String>> = reported.iter().collect();
        prop_assert_eq!(unique.len(), reported.len(), "each cycle once");
    }

    #[test]
    fn wrong_conditions_are_each_reported(spec in any_graph()) {
        let mut expected = 0;
        for list in &spec.edges {
            for &(j, condition) in list {
                expected += usize::from(match condition {
                    Condition::Healthy => !spec.health_check[j],
                    Condition::Completed => !spec.oneshot[j],
                    Condition::Started => false,
                });
            }
        }
        let found = spec.graph().err().unwrap_or_default().iter()
            .filter(|e| matches!(e, GraphError::NoHealthCheck { .. } | GraphError::NotOneshot { .. }))
            .count();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn unknown_dependencies_are_each_reported(spec in dag(), ghosts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let mut lists = spec.lists();
        for (k, at) in ghosts.iter().enumerate() {
            let i = at.index(lists.len());
            lists[i].push(Dependency {
                service: format!("ghost{k}"),
                condition: Condition::Started,
            });
        }
        let nodes: Vec<Node> = (0..spec.names.len())
            .map(|i| Node {
                name: &spec.names[i],
                depends_on: &lists[i],
                health_check: spec.health_check[i],
                oneshot: spec.oneshot[i],
            })
            .collect();
        match Graph::new(&nodes) {
            Ok(_) => prop_assert!(ghosts.is_empty()),
            Err(errors) => {
                prop_assert_eq!(errors.len(), ghosts.len());
                let unknown = errors.iter().all(|e| matches!(e, GraphError::Unknown { .. }));
                prop_assert!(unknown, "{:?}", errors);
            }
        }
    }

    #[test]
    fn ready_to_start_only_when_every_condition_holds((spec, states) in dag_with_states()) {
        let graph = spec.graph().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let state_of = |name: &str| states[spec.index(name)];
        for (i, list) in spec.edges.iter().enumerate() {
            let name = &spec.names[i];
            let ready = graph.ready_to_start(name, state_of);
            let holds = list.iter().all(|&(j, c)| c.holds(states[j]));
            prop_assert_eq!(ready, holds, "{}", name);
            for &(j, c) in list {
                if !c.holds(states[j]) {
                    prop_assert!(!ready, "{} ready while {} is {:?}, not {:?}", name, spec.names[j], states[j], c);
                }
            }
            // Blocked: some path of dependencies not started leads to one that can never
            // meet its condition; and then it is not ready.
            let blocked = graph.blocked_by(name, state_of);
            prop_assert_eq!(!blocked.is_empty(), blocked_oracle(&spec, &states, i), "{}", name);
            prop_assert!(!ready || blocked.is_empty());
            for root in blocked {
                let r = spec.index(root);
                prop_assert!(spec.reaches(i, r));
                prop_assert!(matches!(states[r], State::Failed | State::Completed), "{:?}", states[r]);
            }
        }
    }
}

/// Whether node `i` can never start: a dependency can never meet its condition, or a
/// dependency that has not started can never start itself.
fn blocked_oracle(spec: &Spec, states: &[State], i: usize) -> bool {
    spec.edges[i].iter().any(|&(j, c)| {
        c.never(states[j]) || (states[j] == State::Pending && blocked_oracle(spec, states, j))
    })
}
