//! The transitions, without processes: a simulated edge (`Sim`) answers the actions the
//! way the real edges do (a spawn gives a pid, a sweep ends, a timer fires when the
//! clock reaches it) and checks, after every step, what must always hold: signals go
//! only to the live child, tend exits at most once, no child starts after a stop signal.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::action::{Action, Note, Stage};
use super::input::{Input, Now, Timer};
use super::step::{step, Cause, Phase, Role, State};
use crate::config::Config;
use crate::control::{Ask, Verdict};
use crate::health::CheckResult;
use crate::probe::ProbeError;
use crate::process::Exit;
use crate::status::{Snapshot, State as Shown};

const TERM: i32 = libc::SIGTERM;

/// A background job the machine started and has not seen end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Wait,
    Remediation,
    Sweep,
}

/// The machine with a simulated world around it.
pub struct Sim {
    state: Option<State>,
    pub now: Instant,
    pub timers: [Option<Instant>; Timer::ALL.len()],
    pub job: Option<Job>,
    pub hook: Option<(Stage, usize)>,
    pub health: bool,
    /// The child that runs (spawned, its exit not yet reported).
    pub child: Option<i32>,
    next_pid: i32,
    /// Whether the next spawns fail.
    pub spawn_fails: bool,
    pub actions: Vec<Action>,
    pub exits: Vec<i32>,
    pub answers: Vec<Verdict>,
    /// A stop signal was fed (after the start).
    pub stopped: bool,
    queue: VecDeque<Input>,
}

pub fn config(pairs: &[(&str, &str)]) -> Arc<Config> {
    let vars = pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    Arc::new(Config::from_vars(vars).expect("a valid test configuration"))
}

impl Sim {
    pub fn new(pairs: &[(&str, &str)]) -> Sim {
        let mut sim = Sim::idle(pairs);
        sim.feed(Input::Begin { failed: None });
        sim
    }

    /// The machine in `role` (a main command with services: held after the gate; a
    /// service), after its first input.
    pub fn with_role(pairs: &[(&str, &str)], role: Role) -> Sim {
        let mut sim = Sim::idle(pairs);
        if let Some(state) = &mut sim.state {
            state.role = role;
        }
        sim.feed(Input::Begin { failed: None });
        sim
    }

    /// The machine before its first input.
    pub fn idle(pairs: &[(&str, &str)]) -> Sim {
        let now = Instant::now();
        let state = State::new(config(pairs), Snapshot::new(), "app".into(), now);
        Sim {
            state: Some(state),
            now,
            timers: [None; Timer::ALL.len()],
            job: None,
            hook: None,
            health: false,
            child: None,
            next_pid: 100,
            spawn_fails: false,
            actions: Vec::new(),
            exits: Vec::new(),
            answers: Vec::new(),
            stopped: false,
            queue: VecDeque::new(),
        }
    }

    pub fn state(&self) -> &State {
        self.state.as_ref().expect("a state")
    }

    pub fn phase(&self) -> &Phase {
        &self.state().phase
    }

    pub fn shown(&self) -> Shown {
        self.state().snapshot.state
    }

    /// Steps `input`, then whatever the edges queued in answer; returns the actions.
    pub fn feed(&mut self, input: Input) -> Vec<Action> {
        let mark = self.actions.len();
        self.queue.push_back(input);
        while let Some(input) = self.queue.pop_front() {
            self.one(input);
        }
        self.actions[mark..].to_vec()
    }

    fn one(&mut self, input: Input) {
        if let Input::Signal(sig) = input {
            let state = self.state();
            if state.config.is_stop_signal(sig) && state.phase != Phase::Begin {
                self.stopped = true;
            }
        }
        if let Input::ChildExited { pid, .. } = input {
            if self.child == Some(pid) {
                self.child = None;
            }
        }
        if let Input::Timer(timer, _) = input {
            self.timers[timer.index()] = None;
        }
        match input {
            Input::HookExited(_) | Input::HookSpawnFailed(_) => self.hook = None,
            // A job's end clears only that job (the edges cannot report another's).
            Input::DependenciesReady | Input::DependenciesFailed if self.job == Some(Job::Wait) => {
                self.job = None
            }
            Input::RemediationDone(_) if self.job == Some(Job::Remediation) => self.job = None,
            Input::SweepDone if self.job == Some(Job::Sweep) => self.job = None,
            _ => {}
        }
        let now = Now {
            mono: self.now,
            wall: SystemTime::now(),
        };
        let state = self.state.take().expect("a state");
        let (state, actions) = step(state, input, now);
        self.state = Some(state);
        for action in actions {
            self.apply(&action);
            self.actions.push(action);
        }
    }

    /// What the real edges do, checked against what must hold.
    fn apply(&mut self, action: &Action) {
        match action {
            Action::Spawn => {
                assert!(!self.stopped, "a child was started after a stop signal");
                if self.spawn_fails {
                    self.queue.push_back(Input::SpawnFailed { code: 127 });
                } else {
                    self.next_pid += 1;
                    self.child = Some(self.next_pid);
                    self.queue.push_back(Input::Spawned { pid: self.next_pid });
                }
            }
            Action::Forward { pid, .. } | Action::Continue { pid, .. } | Action::Kill { pid } => {
                assert_eq!(
                    Some(*pid),
                    self.child,
                    "signal to a pid that is not the live child"
                );
            }
            Action::WaitForDependencies => self.job = Some(Job::Wait),
            Action::Remediate(_) => self.job = Some(Job::Remediation),
            Action::Sweep { .. } => self.job = Some(Job::Sweep),
            Action::CancelJob => self.job = None,
            Action::RunHook { stage, index } => self.hook = Some((*stage, *index)),
            Action::StartHealth => self.health = true,
            Action::StopHealth => self.health = false,
            Action::Timer(timer, after) => {
                self.timers[timer.index()] = after.map(|after| self.now + after)
            }
            Action::Answer(verdict) => self.answers.push(verdict.clone()),
            Action::Exit(code) => {
                assert!(
                    self.exits.is_empty(),
                    "a second exit: {code} after {:?}",
                    self.exits
                );
                self.exits.push(*code);
            }
            // A service's end is its one exit: told to the run, never twice.
            Action::Ended { exit, .. } => {
                assert!(self.exits.is_empty(), "a second end after {:?}", self.exits);
                self.exits.push(exit.code());
            }
            _ => {}
        }
    }

    /// Moves the clock to `timer`'s deadline and fires it; false when it is not set.
    pub fn fire(&mut self, timer: Timer) -> bool {
        let Some(deadline) = self.timers[timer.index()] else {
            return false;
        };
        let late = self.now.saturating_duration_since(deadline);
        self.now = self.now.max(deadline);
        self.feed(Input::Timer(timer, late));
        true
    }

    pub fn exit_child(&mut self, exit: Exit) -> Vec<Action> {
        let pid = self.child.expect("a live child");
        self.feed(Input::ChildExited { pid, exit })
    }

    pub fn signal(&mut self, sig: i32) -> Vec<Action> {
        self.feed(Input::Signal(sig))
    }

    pub fn check(&mut self, passed: bool) -> Vec<Action> {
        let result = if passed {
            Ok(())
        } else {
            Err(ProbeError("connection refused".into()))
        };
        self.feed(Input::Check(CheckResult {
            result,
            at: SystemTime::now(),
            duration: Duration::from_millis(3),
        }))
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Lets the world end the run: a stop signal comes (`docker stop`) unless one came
    /// already, jobs end, hooks pass, the child goes at its stop signal, deadlines come.
    /// Returns tend's exit code.
    pub fn run_out(&mut self) -> i32 {
        if !self.stopped && self.exits.is_empty() {
            self.signal(TERM);
        }
        for _ in 0..200 {
            if let Some(&code) = self.exits.first() {
                return code;
            }
            match (self.job, self.hook) {
                (Some(Job::Sweep), _) => {
                    self.feed(Input::SweepDone);
                    continue;
                }
                (_, Some(_)) => {
                    self.feed(Input::HookExited(Exit::Code(0)));
                    continue;
                }
                (Some(Job::Wait), _) => {
                    self.feed(Input::DependenciesReady);
                    continue;
                }
                _ => {}
            }
            let stopping = matches!(self.phase(), Phase::Stopping { .. });
            if stopping && self.child.is_some() {
                self.exit_child(Exit::Signaled(TERM));
                continue;
            }
            let next = Timer::ALL
                .into_iter()
                .filter(|t| self.timers[t.index()].is_some())
                .min_by_key(|t| self.timers[t.index()]);
            match next {
                Some(timer) => {
                    self.fire(timer);
                }
                None => panic!("stuck in {:?} with nothing to wait for", self.phase()),
            }
        }
        panic!("no exit after 200 rounds, in {:?}", self.phase())
    }

    pub fn emitted(&self, pick: impl Fn(&Note) -> bool) -> usize {
        self.actions
            .iter()
            .filter(|a| matches!(a, Action::Emit(note) if pick(note)))
            .count()
    }
}

fn signalled(actions: &[Action], sig: i32) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Forward { sig: s, .. } if *s == sig))
}

// ---- each phase, reached the way the real run reaches it ------------------------------

/// Every phase the machine can be in, with the configuration and inputs that reach it.
pub fn phases() -> Vec<(&'static str, Sim)> {
    let mut list = Vec::new();
    list.push(("begin", Sim::idle(&[])));
    list.push(("waiting", Sim::new(&[("TEND_WAIT_FOR", "tcp://db:5432")])));
    list.push(("pre-start hook", Sim::new(&[("TEND_PRE_START", "migrate")])));
    let mut stopped_hook = Sim::new(&[("TEND_PRE_START", "migrate")]);
    stopped_hook.signal(TERM);
    list.push(("pre-start hook, stopped", stopped_hook));
    let starting = Sim::new(&[("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1")]);
    assert_eq!(starting.shown(), Shown::Starting);
    list.push(("starting", starting));
    list.push(("running", Sim::new(&[])));
    let services = Role::Main {
        command: true,
        services: true,
    };
    let held = Sim::with_role(&[("TEND_SERVICE_DB", "db")], services);
    assert_eq!(held.phase(), &Phase::Held);
    list.push(("held for services", held));
    let idle = Role::Main {
        command: false,
        services: true,
    };
    let mut alone = Sim::with_role(&[("TEND_SERVICE_DB", "db")], idle);
    alone.feed(Input::Release);
    assert_eq!(alone.shown(), Shown::Running);
    list.push(("services alone", alone));
    let service = Role::Service { oneshot: false };
    list.push(("a service, running", Sim::with_role(&[], service)));
    let mut remediating = Sim::new(&[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_REMEDIATION", "exec:/fix, exit"),
    ]);
    remediating.check(true);
    remediating.check(false);
    remediating.check(false);
    remediating.check(false);
    assert_eq!(remediating.job, Some(Job::Remediation));
    list.push(("remediating", remediating));
    let mut draining = Sim::new(&[("TEND_DRAIN_DELAY", "5s")]);
    draining.signal(TERM);
    list.push(("draining", draining));
    let mut stopping = Sim::new(&[]);
    stopping.signal(TERM);
    list.push(("stopping", stopping));
    let mut killed = Sim::new(&[]);
    killed.signal(TERM);
    killed.fire(Timer::Stop);
    list.push(("stopping, killed", killed));
    let mut restarting = Sim::new(&[]);
    restarting.feed(Input::Request(Ask::Restart));
    list.push(("restarting, stopping", restarting));
    let mut backoff = Sim::new(&[("TEND_RESTART", "always")]);
    backoff.exit_child(Exit::Code(1));
    list.push(("backoff", backoff));
    let mut sweeping = Sim::new(&[]);
    sweeping.exit_child(Exit::Code(0));
    list.push(("sweeping", sweeping));
    let mut post_stop = Sim::new(&[("TEND_POST_STOP", "cleanup")]);
    post_stop.exit_child(Exit::Code(0));
    post_stop.feed(Input::SweepDone);
    list.push(("post-stop hook", post_stop));
    let mut done = Sim::new(&[]);
    done.exit_child(Exit::Code(3));
    done.run_out();
    list.push(("done", done));
    for (name, sim) in &mut list {
        if *name != "done" {
            assert!(sim.exits.is_empty(), "{name}: ended already");
        }
        let _ = sim.phase();
    }
    list
}

/// One of every kind of input, for `pid` as the live child.
pub fn inputs(pid: Option<i32>) -> Vec<Input> {
    let pid = pid.unwrap_or(1);
    let mut list = vec![
        Input::Begin { failed: None },
        Input::Begin { failed: Some(78) },
        Input::DependenciesReady,
        Input::DependenciesFailed,
        Input::HookExited(Exit::Code(0)),
        Input::HookExited(Exit::Code(1)),
        Input::HookSpawnFailed("no such file".into()),
        Input::Spawned { pid: 4242 },
        Input::SpawnFailed { code: 127 },
        Input::ChildExited {
            pid,
            exit: Exit::Code(0),
        },
        Input::ChildExited {
            pid,
            exit: Exit::Code(2),
        },
        Input::ChildExited {
            pid: 9999,
            exit: Exit::Code(0),
        },
        Input::Request(Ask::Stop),
        Input::Request(Ask::Restart),
        Input::RemediationDone(Ok(())),
        Input::RemediationDone(Err("failed".into())),
        Input::SweepDone,
        Input::Release,
        Input::Blocked(vec!["db".into()]),
        Input::ServicesEnded {
            exit: Exit::Code(0),
            cause: Cause::ChildExited,
        },
        Input::Stop {
            timeout: Duration::from_secs(1),
        },
    ];
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
    ] {
        list.push(Input::Signal(sig));
    }
    for timer in Timer::ALL {
        list.push(Input::Timer(timer, Duration::ZERO));
    }
    for passed in [true, false] {
        list.push(Input::Check(CheckResult {
            result: if passed {
                Ok(())
            } else {
                Err(ProbeError("refused".into()))
            },
            at: SystemTime::now(),
            duration: Duration::ZERO,
        }));
    }
    list
}

/// Every phase × every input: no panic, and the invariants `Sim` checks hold (signals
/// only to the live child, one exit at most, no start after a stop signal); then the
/// run can still be brought to its one exit.
#[test]
fn every_input_in_every_phase_keeps_the_invariants() {
    let count = inputs(None).len();
    for index in 0..count {
        for (name, mut sim) in phases() {
            let input = inputs(sim.child).swap_remove(index);
            let shown = format!("{input:?}");
            sim.feed(input);
            if matches!(sim.phase(), Phase::Begin) {
                continue;
            }
            let code = sim.run_out();
            assert!(
                (0..=255).contains(&code),
                "{name} + {shown}: exit code {code}"
            );
        }
    }
}

/// A stop signal in every phase: what it means there, and the code tend ends with.
#[test]
fn a_stop_signal_in_every_phase() {
    for (name, mut sim) in phases() {
        let pid = sim.child;
        let actions = sim.signal(TERM);
        let code = match name {
            "begin" | "done" => {
                assert!(actions.is_empty(), "{name}: {actions:?}");
                continue;
            }
            _ => sim.run_out(),
        };
        let expected = match name {
            // Before the child: the gate ends with 128 + TERM.
            "waiting" | "pre-start hook" => {
                assert!(
                    actions.contains(&Action::CancelJob)
                        || actions.contains(&Action::SignalHook(TERM)),
                    "{name}: {actions:?}"
                );
                143
            }
            // The hook already had its TERM: the second one changes nothing.
            "pre-start hook, stopped" => 143,
            // Held for its services, main never started: the gate ends with 128 + TERM
            // (the run, which stops the services first, intercepts it without a command).
            "held for services" | "services alone" => {
                assert!(pid.is_none(), "{name}");
                143
            }
            // A service alone (the run never forwards signals to one): it stops as the
            // main command would, and its end is told with its exit.
            "a service, running" => {
                assert!(signalled(&actions, TERM), "{name}: {actions:?}");
                143
            }
            "starting" | "running" | "remediating" | "stopping" | "restarting, stopping" => {
                assert!(
                    signalled(&actions, TERM),
                    "{name}: TERM not forwarded: {actions:?}"
                );
                assert!(pid.is_some());
                143
            }
            // The second stop signal ends the drain delay: the TERM goes now.
            "draining" => {
                assert!(signalled(&actions, TERM), "{name}: {actions:?}");
                143
            }
            // After the KILL nothing more is sent.
            "stopping, killed" => {
                assert!(actions.is_empty(), "{name}: {actions:?}");
                143
            }
            "backoff" => {
                assert!(
                    actions.iter().any(|a| matches!(a, Action::Sweep { .. })),
                    "{actions:?}"
                );
                1
            }
            "sweeping" => {
                assert_eq!(actions, [Action::CutSweep], "{name}");
                0
            }
            "post-stop hook" => {
                assert!(
                    actions.is_empty(),
                    "{name}: the cleanup runs on: {actions:?}"
                );
                0
            }
            other => panic!("no expectation for {other}"),
        };
        assert_eq!(code, expected, "{name}");
    }
}

#[test]
fn the_run_starts_the_child_and_ends_with_its_code() {
    let mut sim = Sim::new(&[]);
    assert_eq!(sim.shown(), Shown::Running);
    assert_eq!(sim.child, Some(101));
    sim.exit_child(Exit::Code(3));
    assert_eq!(sim.run_out(), 3);
    assert_eq!(sim.shown(), Shown::Stopped);
    assert_eq!(sim.emitted(|n| matches!(n, Note::ChildExited { .. })), 1);
    assert_eq!(
        sim.emitted(|n| matches!(n, Note::ShutdownCompleted { exit_code: 3, .. })),
        1
    );
}

#[test]
fn success_exit_codes_map_to_zero() {
    let mut sim = Sim::new(&[("TEND_SUCCESS_EXIT_CODES", "143")]);
    sim.exit_child(Exit::Signaled(TERM));
    assert_eq!(sim.run_out(), 0);
}

#[test]
fn a_spawn_failure_ends_with_its_code_and_state_failed() {
    let mut sim = Sim::idle(&[]);
    sim.spawn_fails = true;
    sim.feed(Input::Begin { failed: None });
    assert_eq!(sim.exits, [127]);
    assert_eq!(sim.shown(), Shown::Failed);
}

#[test]
fn failed_environment_checks_sweep_and_exit_78() {
    let mut sim = Sim::idle(&[]);
    let actions = sim.feed(Input::Begin { failed: Some(78) });
    assert!(actions.contains(&Action::ReportGateFailed(78)));
    assert!(!actions.contains(&Action::Spawn));
    assert_eq!(sim.run_out(), 78);
}

#[test]
fn a_failed_dependency_exits_69_without_starting() {
    let mut sim = Sim::new(&[("TEND_WAIT_FOR", "tcp://db:5432")]);
    sim.feed(Input::DependenciesFailed);
    assert_eq!(sim.run_out(), 69);
    assert!(!sim.actions.contains(&Action::Spawn));
}

#[test]
fn a_failed_pre_start_hook_rolls_back_and_exits_71() {
    let mut sim = Sim::new(&[("TEND_PRE_START", "one; two"), ("TEND_POST_STOP", "undo")]);
    sim.feed(Input::HookExited(Exit::Code(0)));
    assert_eq!(sim.hook, Some((Stage::PreStart, 1)));
    sim.feed(Input::HookExited(Exit::Code(4)));
    assert_eq!(sim.hook, Some((Stage::PostStop, 0)), "the rollback runs");
    sim.feed(Input::HookExited(Exit::Code(0)));
    assert_eq!(sim.run_out(), 71);
    assert!(!sim.actions.contains(&Action::Spawn));
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails() {
    let mut sim = Sim::new(&[("TEND_PRE_START", "slow"), ("TEND_HOOK_TIMEOUT", "2s")]);
    sim.fire(Timer::Hook);
    assert!(sim.actions.contains(&Action::SignalHook(libc::SIGKILL)));
    // Its exit never comes: the kill wait ends it anyway.
    sim.fire(Timer::Hook);
    assert_eq!(sim.run_out(), 71);
}

#[test]
fn a_stop_signal_during_a_hook_waits_for_it_then_rolls_back() {
    let mut sim = Sim::new(&[("TEND_PRE_START", "slow"), ("TEND_POST_STOP", "undo")]);
    sim.signal(libc::SIGINT);
    assert!(sim.actions.contains(&Action::SignalHook(libc::SIGINT)));
    sim.feed(Input::HookExited(Exit::Signaled(libc::SIGINT)));
    assert_eq!(sim.hook, Some((Stage::PostStop, 0)));
    let undone = sim.feed(Input::HookExited(Exit::Code(0)));
    assert!(undone
        .iter()
        .any(|a| matches!(a, Action::Emit(Note::ShutdownInitiated { .. }))));
    assert_eq!(sim.run_out(), 130);
}

#[test]
fn other_signals_are_forwarded_after_rewriting() {
    let mut sim = Sim::new(&[("TEND_SIGNAL_REWRITE", "HUP:USR1")]);
    let actions = sim.signal(libc::SIGHUP);
    assert!(signalled(&actions, libc::SIGUSR1), "{actions:?}");
    assert_eq!(sim.shown(), Shown::Running);
}

#[test]
fn the_drain_delay_keeps_the_child_then_sends_the_stop_signal() {
    let mut sim = Sim::new(&[("TEND_DRAIN_DELAY", "5s")]);
    let actions = sim.signal(TERM);
    assert!(!signalled(&actions, TERM));
    assert_eq!(sim.shown(), Shown::Draining);
    sim.fire(Timer::Drain);
    assert!(signalled(&sim.actions, TERM));
    assert_eq!(sim.shown(), Shown::Stopping);
}

#[test]
fn the_child_gets_sigkill_at_the_shutdown_timeout() {
    let mut sim = Sim::new(&[("TEND_SHUTDOWN_TIMEOUT", "3s")]);
    sim.signal(TERM);
    assert!(!sim.actions.iter().any(|a| matches!(a, Action::Kill { .. })));
    sim.fire(Timer::Stop);
    let pid = sim.child.expect("still there");
    assert!(sim.actions.contains(&Action::Kill { pid }));
    sim.exit_child(Exit::Signaled(libc::SIGKILL));
    assert_eq!(sim.run_out(), 137);
}

#[test]
fn a_zero_shutdown_timeout_kills_at_once() {
    let mut sim = Sim::new(&[("TEND_SHUTDOWN_TIMEOUT", "0s")]);
    let pid = sim.child.expect("a child");
    let actions = sim.signal(TERM);
    assert!(actions.contains(&Action::Kill { pid }));
    assert!(!signalled(&actions, TERM));
}

/// The exit and the timeout come together: whichever the loop sees first wins, and the
/// other is a no-op; tend exits once, with the child's own code when the exit came first.
#[test]
fn a_child_exit_at_the_timeouts_edge() {
    let mut sim = Sim::new(&[("TEND_SHUTDOWN_TIMEOUT", "1s")]);
    sim.signal(TERM);
    sim.advance(Duration::from_secs(1));
    sim.exit_child(Exit::Code(0));
    // The timer was cleared with the exit; fired anyway (it raced), it changes nothing.
    sim.feed(Input::Timer(Timer::Stop, Duration::ZERO));
    assert!(!sim.actions.iter().any(|a| matches!(a, Action::Kill { .. })));
    assert_eq!(sim.run_out(), 0);

    let mut sim = Sim::new(&[("TEND_SHUTDOWN_TIMEOUT", "1s")]);
    sim.signal(TERM);
    sim.fire(Timer::Stop);
    let late = sim.exit_child(Exit::Code(0));
    assert!(late
        .iter()
        .any(|a| matches!(a, Action::Emit(Note::ChildExited { .. }))));
    assert_eq!(sim.run_out(), 0);
}

#[test]
fn a_restart_request_during_a_backoff_is_refused() {
    let mut sim = Sim::new(&[("TEND_RESTART", "always"), ("TEND_RESTART_DELAY", "10s")]);
    sim.exit_child(Exit::Code(1));
    assert!(matches!(sim.phase(), Phase::Backoff { .. }));
    sim.feed(Input::Request(Ask::Restart));
    assert_eq!(sim.answers, [Verdict::Refused(Shown::Restarting)]);
    assert!(sim.child.is_none());
    sim.fire(Timer::Backoff);
    assert!(
        sim.child.is_some(),
        "the backoff's own restart still happens"
    );
}

#[test]
fn a_stop_request_during_a_backoff_ends_the_run() {
    let mut sim = Sim::new(&[("TEND_RESTART", "always"), ("TEND_RESTART_DELAY", "10s")]);
    sim.exit_child(Exit::Code(1));
    sim.feed(Input::Request(Ask::Stop));
    assert!(matches!(sim.answers[..], [Verdict::Accepted { .. }]));
    assert_eq!(sim.run_out(), 1);
}

#[test]
fn a_stop_signal_during_a_restarts_stop_means_no_new_child() {
    let mut sim = Sim::new(&[]);
    sim.feed(Input::Request(Ask::Restart));
    assert_eq!(sim.shown(), Shown::Restarting);
    sim.signal(TERM);
    sim.exit_child(Exit::Signaled(TERM));
    assert_eq!(sim.run_out(), 143);
    assert_eq!(
        sim.actions.iter().filter(|a| **a == Action::Spawn).count(),
        1
    );
}

#[test]
fn a_requested_restart_starts_a_new_child_at_once() {
    let mut sim = Sim::new(&[]);
    let first = sim.child;
    sim.feed(Input::Request(Ask::Restart));
    sim.exit_child(Exit::Signaled(TERM));
    assert_ne!(sim.child, first);
    assert!(sim.child.is_some());
    assert_eq!(sim.state().snapshot.restarts, 1);
    assert_eq!(sim.shown(), Shown::Running);
}

#[test]
fn restarts_back_off_and_give_up_past_the_limit() {
    let mut sim = Sim::new(&[
        ("TEND_RESTART", "on-failure"),
        ("TEND_RESTART_MAX_ATTEMPTS", "2"),
        ("TEND_RESTART_DELAY", "1s"),
    ]);
    for _ in 0..2 {
        sim.exit_child(Exit::Code(9));
        assert!(sim.fire(Timer::Backoff));
    }
    sim.exit_child(Exit::Code(9));
    assert_eq!(
        sim.emitted(|n| matches!(n, Note::RestartsExhausted { .. })),
        1
    );
    assert_eq!(sim.run_out(), 9);
}

#[test]
fn on_failure_does_not_restart_a_clean_exit() {
    let mut sim = Sim::new(&[("TEND_RESTART", "on-failure")]);
    sim.exit_child(Exit::Code(0));
    assert_eq!(sim.run_out(), 0);
}

#[test]
fn the_first_pass_ends_starting() {
    let mut sim = Sim::new(&[("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1")]);
    assert!(sim.health);
    sim.check(false);
    assert_eq!(
        sim.shown(),
        Shown::Starting,
        "failures while starting do not count"
    );
    sim.check(true);
    assert_eq!(sim.shown(), Shown::Running);
    assert!(sim.timers[Timer::Startup.index()].is_none());
}

#[test]
fn the_startup_timeout_takes_the_first_remediation_step() {
    let mut sim = Sim::new(&[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_REMEDIATION", "exit"),
    ]);
    sim.fire(Timer::Startup);
    assert_eq!(sim.emitted(|n| matches!(n, Note::StartupTimeout { .. })), 1);
    assert_eq!(sim.shown(), Shown::Stopping);
    assert_eq!(sim.run_out(), 75);
}

#[test]
fn unhealthy_restart_then_exit() {
    let mut sim = Sim::new(&[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_REMEDIATION", "restart, exit"),
    ]);
    sim.check(true);
    let first = sim.child;
    sim.check(false);
    assert_eq!(sim.shown(), Shown::Restarting);
    assert!(!sim.health, "no verdicts while the child stops");
    sim.exit_child(Exit::Signaled(TERM));
    sim.fire(Timer::Backoff);
    assert_ne!(sim.child, first);
    // The new child never passes: the ladder goes on from where it was.
    sim.fire(Timer::Startup);
    assert_eq!(sim.run_out(), 75);
}

#[test]
fn checks_wait_while_a_remediation_command_runs() {
    let mut sim = Sim::new(&[
        ("TEND_HEALTH_CHECK", "tcp://127.0.0.1:1"),
        ("TEND_HEALTH_FAILURE_THRESHOLD", "1"),
        ("TEND_REMEDIATION", "exec:/fix, exit"),
    ]);
    sim.check(true);
    sim.check(false);
    assert_eq!(sim.job, Some(Job::Remediation));
    let ignored = sim.check(false);
    assert!(ignored.is_empty(), "{ignored:?}");
    sim.feed(Input::RemediationDone(Err("exit code 1".into())));
    assert_eq!(
        sim.emitted(|n| matches!(n, Note::RemediationFailed { .. })),
        1
    );
    sim.check(false);
    assert_eq!(sim.run_out(), 75);
}

#[test]
fn a_stop_during_remediation_cancels_it() {
    let (_, mut sim) = phases()
        .into_iter()
        .find(|(n, _)| *n == "remediating")
        .expect("phase");
    let actions = sim.signal(TERM);
    assert!(actions.contains(&Action::CancelJob), "{actions:?}");
}

#[test]
fn requests_are_judged_by_the_state_shown() {
    let mut sim = Sim::new(&[("TEND_DRAIN_DELAY", "5s")]);
    sim.signal(TERM);
    sim.feed(Input::Request(Ask::Restart));
    sim.feed(Input::Request(Ask::Stop));
    assert_eq!(
        sim.answers,
        [
            Verdict::Refused(Shown::Draining),
            Verdict::AlreadyStopping(Shown::Draining)
        ]
    );
}

#[test]
fn a_stop_request_drains_like_a_term() {
    let mut sim = Sim::new(&[]);
    let actions = sim.feed(Input::Request(Ask::Stop));
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Forward {
            sig: TERM,
            received: None,
            ..
        }
    )));
    sim.exit_child(Exit::Signaled(TERM));
    assert_eq!(sim.run_out(), 143);
}

#[test]
fn post_stop_hooks_run_after_the_sweep_and_failures_do_not_stop_them() {
    let mut sim = Sim::new(&[("TEND_POST_STOP", "a; b")]);
    sim.exit_child(Exit::Code(0));
    assert_eq!(sim.job, Some(Job::Sweep));
    assert_eq!(sim.hook, None);
    sim.feed(Input::SweepDone);
    assert_eq!(sim.hook, Some((Stage::PostStop, 0)));
    sim.feed(Input::HookExited(Exit::Code(1)));
    assert_eq!(sim.hook, Some((Stage::PostStop, 1)));
    sim.feed(Input::HookExited(Exit::Code(0)));
    assert_eq!(sim.exits, [0]);
}

#[test]
fn the_leftover_grace_fits_in_what_is_left_of_the_stop_budget() {
    let mut sim = Sim::new(&[
        ("TEND_SHUTDOWN_TIMEOUT", "4s"),
        ("TEND_LEFTOVER_GRACE", "3s"),
    ]);
    sim.signal(TERM);
    sim.advance(Duration::from_secs(3));
    let actions = sim.exit_child(Exit::Code(0));
    let grace = actions.iter().find_map(|a| match a {
        Action::Sweep { grace } => Some(*grace),
        _ => None,
    });
    assert_eq!(grace, Some(Duration::from_secs(1)));
}

#[test]
fn the_status_file_is_written_before_the_events_that_announce_a_state() {
    let mut sim = Sim::new(&[("TEND_RESTART", "always")]);
    let actions = sim.exit_child(Exit::Code(1));
    let write = actions.iter().position(|a| *a == Action::WriteStatus);
    let event = actions
        .iter()
        .position(|a| matches!(a, Action::Emit(Note::RestartInitiated { .. })));
    assert!(write.is_some() && write < event, "{actions:?}");
}

/// The README's state table lists every state, in lifecycle order, with the answers
/// `tend health` really gives in it.
#[test]
fn the_readme_state_table_matches_the_states() {
    use crate::readiness::{judge, Question};
    let readme = include_str!("../../README.md");
    let rows: Vec<Vec<&str>> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| state | while |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let names: Vec<String> = rows
        .iter()
        .map(|r| r[0].trim_matches('`').to_owned())
        .collect();
    let expected: Vec<&str> = Shown::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, expected);
    for (row, state) in rows.iter().zip(Shown::ALL) {
        let mut snapshot = Snapshot::new();
        snapshot.state = state;
        snapshot.health = crate::policy::Health::Healthy;
        let ready = judge(&snapshot, Question::Ready).0 == 0;
        let live = judge(&snapshot, Question::Live).0 == 0;
        assert_eq!(row[2].starts_with("yes"), ready, "{state:?}: {row:?}");
        assert_eq!(row[3] == "yes", live, "{state:?}: {row:?}");
    }
}

/// The shutdown timeout counts from the stop signal itself: the timer is armed after the
/// signal goes, with the whole timeout, not from the step's clock reading (the status
/// writes before the signal can take long on a loaded machine).
#[test]
fn the_shutdown_timeout_counts_from_the_signal() {
    let mut sim = Sim::new(&[("TEND_SHUTDOWN_TIMEOUT", "3s")]);
    let actions = sim.signal(TERM);
    let forward = actions
        .iter()
        .position(|a| matches!(a, Action::Forward { .. }));
    let timer = actions
        .iter()
        .position(|a| *a == Action::Timer(Timer::Stop, Some(Duration::from_secs(3))));
    assert!(forward.is_some() && timer > forward, "{actions:?}");
    // The lateness of the timer is the edge's to tell, and the event says it.
    sim.advance(Duration::from_secs(4));
    sim.feed(Input::Timer(Timer::Stop, Duration::from_millis(7)));
    assert_eq!(
        sim.emitted(
            |n| matches!(n, Note::ForceKill { late, .. } if *late == Duration::from_millis(7))
        ),
        1
    );
}
