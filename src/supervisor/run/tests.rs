//! The run of several lifecycles, without processes: a simulated edge answers the
//! actions of every unit (a spawn gives a pid, a sweep ends, a timer fires when the clock
//! reaches it, a process told to stop goes) and checks after every step what the graph
//! demands: no unit starts before its conditions hold (a restart is not held again), no unit is told to stop while a
//! unit that depends on it still runs, signals reach only that unit's live child, and
//! tend exits at most once. A property test drives arbitrary sequences through it.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use super::{Run, UnitId, MAIN_UNIT};
use crate::config::Config;
use crate::control::{Ask, ServiceVerb, Verdict};
use crate::process::Exit;
use crate::services::graph::MAIN;
use crate::status::{Snapshot, State as Shown};
use crate::supervisor::action::Action;
use crate::supervisor::input::{Input, Now, Timer};
use crate::supervisor::step::{Role, State};

const TERM: i32 = libc::SIGTERM;

struct RunSim {
    run: Run,
    now: Instant,
    timers: BTreeMap<(UnitId, usize), Instant>,
    /// The live child of each unit.
    children: BTreeMap<UnitId, i32>,
    /// Units whose child was told to stop (its stop signal or SIGKILL).
    told: Vec<UnitId>,
    next_pid: i32,
    /// Units in the order they were spawned.
    spawned: Vec<UnitId>,
    exits: Vec<i32>,
    sweeping: bool,
    queue: VecDeque<(UnitId, Input)>,
    /// The answers given, at once or once parked.
    answers: Vec<Verdict>,
    parked: Vec<u64>,
}

fn config(pairs: &[(&str, &str)]) -> Arc<Config> {
    let vars = pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    Arc::new(Config::from_vars(vars).expect("a valid test configuration"))
}

impl RunSim {
    fn new(pairs: &[(&str, &str)], command: bool) -> RunSim {
        let config = config(pairs);
        let now = Instant::now();
        let main = State::new(config.clone(), Snapshot::new(), "app".into(), now);
        let units = config
            .services
            .iter()
            .map(|service| {
                let lifecycle = Arc::new(service.lifecycle_config(&config));
                let mut state = State::new(lifecycle, Snapshot::new(), "svc".into(), now);
                state.role = Role::Service {
                    oneshot: service.oneshot,
                };
                state
            })
            .collect();
        let mut sim = RunSim {
            run: Run::new(main, command, units),
            now,
            timers: BTreeMap::new(),
            children: BTreeMap::new(),
            told: Vec::new(),
            next_pid: 100,
            spawned: Vec::new(),
            exits: Vec::new(),
            sweeping: false,
            queue: VecDeque::new(),
            answers: Vec::new(),
            parked: Vec::new(),
        };
        sim.feed(MAIN_UNIT, Input::Begin { failed: None });
        sim
    }

    fn name(&self, unit: UnitId) -> &str {
        match unit {
            MAIN_UNIT => MAIN,
            n => &self.run.units[n - 1].name,
        }
    }

    fn unit(&self, name: &str) -> UnitId {
        if name == MAIN {
            return MAIN_UNIT;
        }
        let found = self.run.units.iter().position(|u| u.name == name);
        found.map(|i| i + 1).expect("a unit of that name")
    }

    fn feed(&mut self, unit: UnitId, input: Input) {
        self.queue.push_back((unit, input));
        while let Some((unit, input)) = self.queue.pop_front() {
            let given_up = matches!(input, Input::Timer(Timer::Kill, _));
            if let Input::Timer(timer, _) = input {
                self.timers.remove(&(unit, timer.index()));
            }
            let now = Now {
                mono: self.now,
                wall: SystemTime::now(),
            };
            let actions = self.run.step(unit, input, now);
            // KILL_WAIT: a process that outlives its SIGKILL (stuck in the kernel) is
            // no longer waited for; the run goes on as if it had gone.
            if given_up {
                self.children.remove(&unit);
            }
            for (unit, action) in actions {
                self.apply(unit, action);
            }
        }
    }

    fn apply(&mut self, unit: UnitId, action: Action) {
        match action {
            Action::Spawn => {
                // The first start waits for the conditions; a restart does not again.
                if !self.spawned.contains(&unit) {
                    self.check_ready(unit);
                }
                self.next_pid += 1;
                self.children.insert(unit, self.next_pid);
                self.spawned.push(unit);
                self.queue
                    .push_back((unit, Input::Spawned { pid: self.next_pid }));
            }
            Action::Forward { pid, received, .. } => {
                self.check_live(unit, pid);
                // The run's stop of a service (not a restart's): the unit is told to go.
                if received.is_none() && unit != MAIN_UNIT && self.run.units[unit - 1].stopping {
                    self.check_dependents_gone(unit);
                    self.told.push(unit);
                }
            }
            Action::Kill { pid } => {
                self.check_live(unit, pid);
                self.told.push(unit);
            }
            Action::Continue { pid, .. } => self.check_live(unit, pid),
            Action::Timer(timer, Some(after)) => {
                self.timers.insert((unit, timer.index()), self.now + after);
            }
            Action::Timer(timer, None) => {
                self.timers.remove(&(unit, timer.index()));
            }
            Action::Sweep { .. } => self.sweeping = true,
            Action::Answer(verdict) => self.answers.push(verdict),
            Action::Park(id) => self.parked.push(id),
            Action::AnswerParked(id, verdict) => {
                assert!(self.parked.contains(&id), "an answer to {id}, never parked");
                self.parked.retain(|p| *p != id);
                self.answers.push(verdict);
            }
            Action::WaitForDependencies => {
                self.queue.push_back((MAIN_UNIT, Input::DependenciesReady))
            }
            Action::Exit(code) => {
                assert!(
                    self.exits.is_empty(),
                    "a second exit {code}: {:?}",
                    self.exits
                );
                assert!(
                    self.children.is_empty(),
                    "exit with children: {:?}",
                    self.children
                );
                self.exits.push(code);
            }
            _ => {}
        }
    }

    /// A unit starts (the first time) only when every condition it waits for holds.
    fn check_ready(&self, unit: UnitId) {
        let Some(graph) = &self.run.graph else { return };
        let name = self.name(unit);
        assert!(
            graph.ready_to_start(name, |d| self.run.graph_state(d)),
            "{name} started before its conditions held"
        );
    }

    /// No unit is stopped while one that depends on it still runs.
    fn check_dependents_gone(&self, unit: UnitId) {
        let Some(graph) = &self.run.graph else { return };
        for dependent in graph.dependents(self.name(unit)) {
            let d = self.unit(dependent);
            assert!(
                !self.children.contains_key(&d),
                "{} stopped while {dependent} runs (told by the run: {}; {:?})",
                self.name(unit),
                self.run.units[unit - 1].stopping,
                self.run
                    .units
                    .iter()
                    .map(|u| (&u.name, &u.state.phase, &u.end))
                    .collect::<Vec<_>>()
            );
        }
    }

    fn check_live(&self, unit: UnitId, pid: i32) {
        assert_eq!(
            self.children.get(&unit),
            Some(&pid),
            "a signal to {pid}, not {}'s live child",
            self.name(unit)
        );
    }

    fn exit(&mut self, unit: UnitId, exit: Exit) {
        if let Some(pid) = self.children.remove(&unit) {
            self.feed(unit, Input::ChildExited { pid, exit });
        }
    }

    fn fire_next(&mut self) -> bool {
        let Some((&(unit, index), &deadline)) = self.timers.iter().min_by_key(|(_, d)| **d) else {
            return false;
        };
        self.now = self.now.max(deadline);
        self.feed(unit, Input::Timer(Timer::ALL[index], Duration::ZERO));
        true
    }

    /// The world ends the run: TERM, each process told to stop goes, the sweep ends,
    /// deadlines come. Tend's exit code.
    fn run_out(&mut self) -> i32 {
        if self.exits.is_empty() {
            self.feed(MAIN_UNIT, Input::Signal(TERM));
        }
        for _ in 0..500 {
            if let Some(&code) = self.exits.first() {
                return code;
            }
            if let Some(unit) = self.told.pop() {
                self.exit(unit, Exit::Signaled(TERM));
                continue;
            }
            if self.children.contains_key(&MAIN_UNIT) && self.run.main.phase != super::Phase::Up {
                self.exit(MAIN_UNIT, Exit::Signaled(TERM));
                continue;
            }
            if std::mem::take(&mut self.sweeping) {
                self.feed(MAIN_UNIT, Input::SweepDone);
                continue;
            }
            if !self.fire_next() {
                break;
            }
        }
        panic!(
            "the run did not end: main {:?}, units {:?}, children {:?}",
            self.run.main.phase,
            self.run
                .units
                .iter()
                .map(|u| (&u.name, &u.state.phase))
                .collect::<Vec<_>>(),
            self.children
        );
    }

    fn shown(&self, name: &str) -> Shown {
        let status = &self.run.main.snapshot.services;
        status
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.state)
            .expect("shown")
    }
}

const CHAIN: &[(&str, &str)] = &[
    ("TEND_SERVICE_DB", "db"),
    ("TEND_SERVICE_MIGRATE", "migrate"),
    ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
    ("TEND_SERVICE_MIGRATE_DEPENDS_ON", "db"),
    ("TEND_SERVICE_WEB", "web"),
    ("TEND_SERVICE_WEB_DEPENDS_ON", "migrate:completed,db"),
    ("TEND_DEPENDS_ON", "web"),
];

#[test]
fn units_start_wave_by_wave_and_main_last() {
    let mut sim = RunSim::new(CHAIN, true);
    let (db, migrate) = (sim.unit("db"), sim.unit("migrate"));
    // migrate waits for db to have started: it starts in the same step, after it.
    assert_eq!(sim.spawned, vec![db, migrate]);
    sim.exit(migrate, Exit::Code(0));
    let web = sim.unit("web");
    assert_eq!(
        sim.spawned[2..],
        [web, MAIN_UNIT],
        "web once migrate completed, then main"
    );
    assert_eq!(sim.shown("migrate"), Shown::Stopped);
    assert_eq!(sim.run_out(), 128 + TERM);
}

#[test]
fn a_failed_one_shot_blocks_its_dependents_and_main_exits_69() {
    let mut sim = RunSim::new(CHAIN, true);
    sim.exit(sim.unit("migrate"), Exit::Code(4));
    assert_eq!(sim.shown("migrate"), Shown::Failed);
    assert_eq!(sim.shown("web"), Shown::Stopped);
    assert!(!sim.spawned.contains(&MAIN_UNIT));
    // db is stopped (main's end waits for it), then tend exits 69.
    assert_eq!(sim.run_out(), 69);
}

#[test]
fn the_stop_goes_in_reverse_order() {
    let mut sim = RunSim::new(CHAIN, true);
    sim.exit(sim.unit("migrate"), Exit::Code(0));
    sim.feed(MAIN_UNIT, Input::Signal(TERM));
    // Main is told first; web only once main is gone; db once web is.
    assert!(
        sim.told.is_empty(),
        "no service told while main runs: {:?}",
        sim.told
    );
    sim.exit(MAIN_UNIT, Exit::Code(0));
    assert_eq!(sim.told, vec![sim.unit("web")]);
    sim.exit(sim.unit("web"), Exit::Code(0));
    assert_eq!(sim.told, vec![sim.unit("web"), sim.unit("db")]);
    assert_eq!(sim.run_out(), 0);
}

#[test]
fn exit_with_all_waits_for_the_services_after_main_exits() {
    let pairs = [("TEND_SERVICE_JOB", "job"), ("TEND_EXIT_WITH", "all")];
    let mut sim = RunSim::new(&pairs, true);
    sim.exit(MAIN_UNIT, Exit::Code(3));
    assert!(
        sim.told.is_empty(),
        "the service is waited for, not stopped"
    );
    assert!(sim.exits.is_empty());
    sim.exit(sim.unit("job"), Exit::Code(0));
    assert!(sim.sweeping);
    assert_eq!(sim.run_out(), 3, "main's code");
}

/// With TEND_EXIT_WITH=all, a service still waiting for its conditions when main exits
/// starts once they hold: the run ends only when it has ended too.
#[test]
fn exit_with_all_still_starts_what_waits() {
    let pairs = [
        ("TEND_SERVICE_DB", "db"),
        ("TEND_SERVICE_DB_HEALTH_CHECK", "tcp://127.0.0.1:5432"),
        ("TEND_SERVICE_REPORT", "report"),
        ("TEND_SERVICE_REPORT_DEPENDS_ON", "db:healthy"),
        ("TEND_EXIT_WITH", "all"),
    ];
    let mut sim = RunSim::new(&pairs, true);
    sim.exit(MAIN_UNIT, Exit::Code(0));
    let (db, report) = (sim.unit("db"), sim.unit("report"));
    let passed = crate::health::CheckResult {
        result: Ok(()),
        at: SystemTime::now(),
        duration: Duration::ZERO,
    };
    sim.feed(db, Input::Check(passed));
    assert!(
        sim.spawned.contains(&report),
        "report starts once db is healthy"
    );
    sim.exit(report, Exit::Code(0));
    sim.exit(db, Exit::Code(0));
    assert_eq!(sim.run_out(), 0);
}

#[test]
fn services_alone_end_with_the_first_failure() {
    let pairs = [("TEND_SERVICE_A", "a"), ("TEND_SERVICE_B", "b")];
    let mut sim = RunSim::new(&pairs, false);
    assert_eq!(sim.run.main.snapshot.state, Shown::Running);
    sim.exit(sim.unit("a"), Exit::Code(6));
    assert!(sim.exits.is_empty());
    sim.exit(sim.unit("b"), Exit::Code(0));
    assert_eq!(sim.run_out(), 6);
}

fn ask(verb: ServiceVerb, names: &[&str]) -> Input {
    let names = names.iter().map(|n| n.to_string()).collect();
    Input::Request(Ask::Services { verb, names })
}

const PAIR: &[(&str, &str)] = &[
    ("TEND_SERVICE_DB", "db"),
    ("TEND_SERVICE_API", "api"),
    ("TEND_SERVICE_API_DEPENDS_ON", "db"),
];

/// `tend stop db`: api (which depends on db) stops first, then db; answered once both
/// have ended; main runs on.
#[test]
fn a_stop_request_stops_the_dependents_first_and_is_answered_when_done() {
    let mut sim = RunSim::new(PAIR, true);
    let (db, api) = (sim.unit("db"), sim.unit("api"));
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Stop, &["db"]));
    assert_eq!(sim.told, vec![api], "the dependent first");
    assert!(sim.answers.is_empty(), "answered when done");
    sim.exit(api, Exit::Signaled(TERM));
    assert_eq!(sim.told, vec![api, db]);
    sim.exit(db, Exit::Signaled(TERM));
    assert_eq!(
        sim.answers,
        vec![Verdict::Done(
            "db: stopped (and their dependents: api)".into()
        )]
    );
    assert_eq!(sim.shown("db"), Shown::Stopped);
    assert!(sim.children.contains_key(&MAIN_UNIT), "main runs on");
    assert!(sim.exits.is_empty());
    // Started again: db only (api was not asked for), answered once it runs.
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Start, &["db"]));
    assert!(sim.children.contains_key(&db));
    assert!(!sim.children.contains_key(&api));
    assert!(
        matches!(&sim.answers[1], Verdict::Done(text) if text.starts_with("db: running as pid"))
    );
    assert_eq!(sim.run_out(), 128 + TERM);
}

/// `tend start api` after both stopped starts db first (what api needs), then api.
#[test]
fn a_start_request_starts_what_the_service_needs() {
    let mut sim = RunSim::new(PAIR, true);
    let (db, api) = (sim.unit("db"), sim.unit("api"));
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Stop, &[]));
    sim.exit(api, Exit::Code(0));
    sim.exit(db, Exit::Code(0));
    let spawned = sim.spawned.len();
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Start, &["api"]));
    assert_eq!(sim.spawned[spawned..], [db, api]);
    assert!(
        matches!(sim.answers.last(), Some(Verdict::Done(text)) if text.starts_with("api: running"))
    );
}

/// `tend restart db`: db and its dependents stop, then start again; answered once all
/// run again.
#[test]
fn a_restart_request_stops_then_starts_again() {
    let mut sim = RunSim::new(PAIR, true);
    let (db, api) = (sim.unit("db"), sim.unit("api"));
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Restart, &["db"]));
    sim.exit(api, Exit::Signaled(TERM));
    sim.exit(db, Exit::Signaled(TERM));
    let spawned = &sim.spawned[sim.spawned.len() - 2..];
    assert_eq!(spawned, [db, api]);
    match sim.answers.as_slice() {
        [Verdict::Done(text)] => assert!(
            text.contains("db: running") && text.contains("api: running"),
            "{text}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A service the main command needs cannot be stopped alone.
#[test]
fn a_stop_of_what_main_needs_is_refused() {
    let mut sim = RunSim::new(CHAIN, true);
    sim.feed(MAIN_UNIT, ask(ServiceVerb::Stop, &["db"]));
    assert!(
        matches!(&sim.answers[..], [Verdict::Failed(why)] if why.contains("main command depends on"))
    );
    assert!(sim.told.is_empty());
}

/// Something the world does.
#[derive(Debug, Clone)]
enum Event {
    Signal(i32),
    Exit(usize, i32),
    Fire,
    Check(usize, bool),
    Ask(u8, usize),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        prop::sample::select(vec![libc::SIGTERM, libc::SIGHUP]).prop_map(Event::Signal),
        (0..5usize, 0..3i32).prop_map(|(u, c)| Event::Exit(u, c)),
        Just(Event::Fire),
        (1..5usize, any::<bool>()).prop_map(|(u, p)| Event::Check(u, p)),
        (0..3u8, 0..5usize).prop_map(|(v, u)| Event::Ask(v, u)),
    ]
}

const PROPERTY: &[(&str, &str)] = &[
    ("TEND_SERVICE_DB", "db"),
    ("TEND_SERVICE_DB_RESTART", "on-failure"),
    ("TEND_SERVICE_DB_HEALTH_CHECK", "tcp://127.0.0.1:5432"),
    ("TEND_SERVICE_DB_RESTART_MAX_ATTEMPTS", "2"),
    ("TEND_SERVICE_MIGRATE", "migrate"),
    ("TEND_SERVICE_MIGRATE_ONESHOT", "true"),
    ("TEND_SERVICE_MIGRATE_DEPENDS_ON", "db:healthy"),
    ("TEND_SERVICE_WEB", "web"),
    ("TEND_SERVICE_WEB_RESTART", "always"),
    ("TEND_SERVICE_WEB_DEPENDS_ON", "migrate:completed"),
    ("TEND_SERVICE_CACHE", "cache"),
    ("TEND_DEPENDS_ON", "web,cache"),
    ("TEND_RESTART", "on-failure"),
];

proptest! {
    /// Whatever happens, the graph's rules hold at every step (the simulator asserts
    /// them), tend exits once, and a stop signal always brings the run to its end.
    #[test]
    fn any_sequence_keeps_the_graph_rules_and_ends(
        command in any::<bool>(),
        events in prop::collection::vec(event(), 0..40),
    ) {
        let mut sim = RunSim::new(PROPERTY, command);
        for event in events {
            if !sim.exits.is_empty() {
                break;
            }
            match event {
                Event::Signal(sig) => sim.feed(MAIN_UNIT, Input::Signal(sig)),
                Event::Exit(unit, code) => sim.exit(unit, Exit::Code(code)),
                Event::Fire => {
                    sim.fire_next();
                }
                Event::Check(unit, passed) if sim.children.contains_key(&unit) => {
                    let result = if passed {
                        Ok(())
                    } else {
                        Err(crate::probe::ProbeError("refused".into()))
                    };
                    let check = crate::health::CheckResult {
                        result,
                        at: SystemTime::now(),
                        duration: Duration::from_millis(1),
                    };
                    sim.feed(unit, Input::Check(check));
                }
                Event::Check(..) => {}
                Event::Ask(verb, unit) => {
                    let verb = [ServiceVerb::Start, ServiceVerb::Stop, ServiceVerb::Restart][verb as usize];
                    // 0: --all; else one service.
                    let names: Vec<String> = match unit {
                        0 => Vec::new(),
                        n => vec![sim.run.units[(n - 1) % sim.run.units.len()].name.clone()],
                    };
                    sim.feed(MAIN_UNIT, Input::Request(Ask::Services { verb, names }));
                }
            }
        }
        sim.run_out();
        prop_assert_eq!(sim.exits.len(), 1);
    }
}
