//! The run with services (issue 14): the main command's lifecycle (a `State` in the role
//! `Main`) and one more instance of the same lifecycle per service (role `Service`), tied
//! together by the dependency graph. Pure, as `step` is: `Run::step` feeds an input to
//! the unit it concerns, then `settle` applies the graph's rules until nothing moves:
//!
//! - after the gate (`StartServices` from main) a unit starts when
//!   `graph::ready_to_start` holds for it, and ends `stopped` ("blocked by …") when
//!   `graph::blocked_by` says it never can; main, blocked, fails as a failed gate does
//!   (exit 69);
//! - a unit's end (`Action::Ended`) is kept as what its dependents see;
//! - main's end (its sweep, or its exit) is held while services run: they stop in reverse
//!   dependency order (a unit once every unit depending on it has ended), each with its
//!   own stop signal and timeout within what is left of TEND_SHUTDOWN_TIMEOUT, or, with
//!   TEND_EXIT_WITH=all after main exited by itself, they are waited for; then main's
//!   held actions go on (sweep, post-stop hooks, report, exit);
//! - without a main command, main stays held and `running`; the run ends when every
//!   service has ended, or on a stop signal or `tend stop` (the services stop in order).
//!
//! Without services there is no `Run` work at all: every input goes to main, every action
//! comes back unchanged, as before services existed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::action::{Action, Note, Trigger};
use super::input::{Input, Now, Timer};
use super::step::{Cause, Finale, Phase, Role, State};
use crate::config::services::ExitWith;
use crate::config::Config;
use crate::control::{self, Ask, Verdict};
use crate::policy::Health;
use crate::process::Exit;
use crate::services::graph::{self, Graph, MAIN};
use crate::status::{ServiceStatus, State as Shown};

mod requests;
#[cfg(test)]
mod tests;

/// Which lifecycle an input or an action concerns: `MAIN_UNIT`, or service `n` at
/// `units[n - 1]`.
pub type UnitId = usize;
pub const MAIN_UNIT: UnitId = 0;

/// One service: its lifecycle, and how it ended once it has.
#[derive(Debug)]
pub struct Unit {
    pub name: String,
    pub state: State,
    end: Option<End>,
    /// The run sent it `Input::Stop`.
    stopping: bool,
    /// `tend stop NAME` (or a restart's stop) asked for its stop.
    asked_stop: bool,
    /// Its state before its start, for `tend start NAME` after it ended.
    fresh: State,
}

/// How a service ended, as its dependents and the status see it.
#[derive(Debug, Clone)]
struct End {
    graph: graph::State,
    reason: String,
    /// Its exit code, when it failed (for a run without main command).
    failed_code: Option<i32>,
}

/// The end of the run, while services are still there.
#[derive(Debug)]
struct Winding {
    /// Main's actions from its end on (the sweep, the report, the exit): carried out once
    /// the services are gone.
    held: Vec<Action>,
    /// The services are being stopped (false: TEND_EXIT_WITH=all, waited for).
    stopping: bool,
    /// When the stop began, and its budget: TEND_DRAIN_DELAY + TEND_SHUTDOWN_TIMEOUT.
    since: Instant,
    budget: Duration,
    /// Without a main command: what main is told once they are gone.
    then: Option<Cause>,
}

#[derive(Debug)]
pub struct Run {
    pub main: State,
    pub units: Vec<Unit>,
    graph: Option<Graph>,
    exit_with: ExitWith,
    /// There is a main command (after `--`).
    command: bool,
    /// The gate passed: services may start.
    open: bool,
    winding: Option<Winding>,
    /// Bumped when what the status shows of the services changed outside their states.
    shown: u64,
    /// The sum of the versions last copied into main's snapshot.
    copied: u64,
    /// `tend start|stop|restart NAME` under way, answered when done.
    requests: Vec<requests::Pending>,
    next_request: u64,
}

impl Run {
    /// The run of `main` and of the services of its configuration, whose states are
    /// `units`, in the configuration's order.
    pub fn new(mut main: State, command: bool, units: Vec<State>) -> Run {
        let config = main.config.clone();
        let services = !config.services.is_empty();
        main.role = Role::Main { command, services };
        let units = config
            .services
            .iter()
            .zip(units)
            .map(|(service, state)| Unit {
                name: service.name.clone(),
                fresh: state.clone(),
                state,
                end: None,
                stopping: false,
                asked_stop: false,
            })
            .collect();
        Run {
            graph: config.service_graph().ok().filter(|_| services),
            exit_with: config.exit_with,
            main,
            units,
            command,
            open: false,
            winding: None,
            shown: 0,
            copied: u64::MAX,
            requests: Vec::new(),
            next_request: 0,
        }
    }

    /// One input for `unit`: the actions for the edges, each with the unit it concerns.
    pub fn step(&mut self, unit: UnitId, input: Input, now: Now) -> Vec<(UnitId, Action)> {
        let mut out = Vec::new();
        if self.units.is_empty() {
            let actions = self.main.on_input(input, now);
            out.extend(actions.into_iter().map(|a| (MAIN_UNIT, a)));
            return out;
        }
        match unit {
            MAIN_UNIT => self.main_input(input, now, &mut out),
            n => self.unit_input(n, input, now, &mut out),
        }
        self.settle(now, &mut out);
        self.show();
        out
    }

    fn config(&self) -> &Arc<Config> {
        &self.main.config
    }

    // ---- inputs --------------------------------------------------------------------

    fn main_input(&mut self, input: Input, now: Now, out: &mut Vec<(UnitId, Action)>) {
        let idle = !self.command && self.main.phase == Phase::Held;
        match input {
            Input::Signal(sig) if self.config().is_stop_signal(sig) && idle => {
                self.shutdown_initiated(Trigger::Signal(sig), out);
                self.wind_down(Some(Cause::Signal(sig)), now);
            }
            Input::Signal(sig) if self.config().is_stop_signal(sig) && self.winding.is_some() => {
                self.stop_signal_while_winding(now, out)
            }
            // No child of main's to pass other signals to.
            Input::Signal(_) if idle => {}
            Input::Request(Ask::Stop) if idle => {
                let verdict = control::judge(&Ask::Stop, self.main.snapshot.state, None);
                let accepted = matches!(verdict, Verdict::Accepted { .. });
                out.push((MAIN_UNIT, Action::Answer(verdict)));
                if accepted {
                    self.shutdown_initiated(Trigger::Requested, out);
                    self.wind_down(Some(Cause::StopRequested), now);
                }
            }
            Input::Request(ask @ Ask::Services { .. }) => self.service_request(ask, now, out),
            input => self.feed_main(input, now, out),
        }
    }

    fn shutdown_initiated(&self, trigger: Trigger, out: &mut Vec<(UnitId, Action)>) {
        let config = self.config();
        out.push((
            MAIN_UNIT,
            Action::Emit(Note::ShutdownInitiated {
                trigger,
                drain_delay: Duration::ZERO,
                timeout: config.shutdown_timeout,
            }),
        ));
    }

    /// A stop signal while main's end waits for the services: with TEND_EXIT_WITH=all
    /// they are stopped now; when they are already stopping, the rest get SIGKILL at once.
    fn stop_signal_while_winding(&mut self, now: Now, out: &mut Vec<(UnitId, Action)>) {
        let Some(winding) = &mut self.winding else {
            return;
        };
        if !winding.stopping {
            winding.stopping = true;
            winding.since = now.mono;
            return;
        }
        for n in 1..=self.units.len() {
            let unit = &self.units[n - 1];
            if matches!(unit.state.phase, Phase::Stopping { killed: false, .. }) {
                self.unit_input(n, Input::Timer(Timer::Stop, Duration::ZERO), now, out);
            }
        }
    }

    /// Steps main; its end is held while services are there.
    fn feed_main(&mut self, input: Input, now: Now, out: &mut Vec<(UnitId, Action)>) {
        let actions = self.main.on_input(input, now);
        let mut holding = false;
        for action in actions {
            let ends = matches!(
                action,
                Action::Sweep { .. }
                    | Action::Exit(_)
                    | Action::Report(_)
                    | Action::ReportGateFailed(_)
            );
            if !holding && ends && self.any_alive() {
                holding = true;
                let stop = !matches!(
                    (self.main.finale, self.exit_with),
                    (
                        Some(Finale::Child {
                            cause: Cause::ChildExited,
                            ..
                        }),
                        ExitWith::All
                    )
                );
                self.hold(stop, now);
            }
            match action {
                Action::StartServices => {
                    self.open = true;
                    if !self.command {
                        self.feed_main(Input::Release, now, out);
                    }
                }
                action if holding => {
                    if let Some(winding) = &mut self.winding {
                        winding.held.push(action);
                    }
                }
                action => out.push((MAIN_UNIT, action)),
            }
        }
    }

    /// Main's end waits for the services: stopped (`stop`), or waited for.
    fn hold(&mut self, stop: bool, now: Now) {
        let config = self.config();
        let since = self.main.ended.unwrap_or(now.mono);
        self.winding = Some(Winding {
            held: Vec::new(),
            stopping: stop,
            since,
            budget: config.drain_delay + config.shutdown_timeout,
            then: None,
        });
    }

    /// Without a main command: the services stop (`then` is the cause main is told), or
    /// have all ended.
    fn wind_down(&mut self, then: Option<Cause>, now: Now) {
        if self.winding.is_some() {
            return;
        }
        self.hold(true, now);
        self.main.ended.get_or_insert(now.mono);
        if let Some(winding) = &mut self.winding {
            winding.since = now.mono;
            winding.then = then;
        }
    }

    fn unit_input(&mut self, n: UnitId, input: Input, now: Now, out: &mut Vec<(UnitId, Action)>) {
        let Some(unit) = self.units.get_mut(n - 1) else {
            return;
        };
        let actions = unit.state.on_input(input, now);
        for action in actions {
            match action {
                Action::Ended { exit, cause } => self.ended(n, exit, cause),
                action => out.push((n, action)),
            }
        }
    }

    /// A service ended for good: what its dependents see from now on.
    fn ended(&mut self, n: UnitId, exit: Exit, cause: Cause) {
        let unit = &mut self.units[n - 1];
        let code = unit.state.exit_code(exit);
        let oneshot = matches!(unit.state.role, Role::Service { oneshot: true });
        let (state, reason) = match cause {
            Cause::ChildExited if code == 0 && oneshot => {
                (graph::State::Completed, "completed".into())
            }
            Cause::ChildExited if code == 0 => (graph::State::Completed, "exited".into()),
            Cause::ChildExited => (graph::State::Failed, exit_text(exit)),
            Cause::Signal(_) | Cause::StopRequested => (graph::State::Failed, "stopped".into()),
            Cause::Unhealthy => (graph::State::Failed, "unhealthy".into()),
            Cause::RestartsExhausted { .. } => (graph::State::Failed, "restarts exhausted".into()),
            Cause::SpawnFailed => (graph::State::Failed, "could not be started".into()),
        };
        let failed = unit.state.snapshot.state == Shown::Failed;
        unit.end = Some(End {
            graph: state,
            reason,
            failed_code: failed.then_some(code),
        });
        self.shown += 1;
    }

    // ---- the graph's rules ---------------------------------------------------------

    /// Applies the graph until nothing moves: starts, blocks, stops, the end.
    fn settle(&mut self, now: Now, out: &mut Vec<(UnitId, Action)>) {
        for _ in 0..=self.units.len() * 3 + 3 {
            let moved = match &self.winding {
                Some(winding) if winding.stopping => self.stop_what_may_stop(now, out),
                // TEND_EXIT_WITH=all after main's exit: what may still start, starts.
                Some(_) => {
                    let started = self.start_what_may_start(now, out);
                    self.stop_what_may_stop(now, out) || started
                }
                None => {
                    let stopped = self.stop_what_was_asked(now, out);
                    let started = self.open && self.start_what_may_start(now, out);
                    self.requests_progress(out) || stopped || started
                }
            };
            if !moved {
                break;
            }
        }
    }

    fn graph_state(&self, name: &str) -> graph::State {
        if name == MAIN {
            return unit_graph_state(&self.main, None);
        }
        self.units
            .iter()
            .find(|u| u.name == name)
            .map_or(graph::State::Failed, |u| {
                unit_graph_state(&u.state, u.end.as_ref())
            })
    }

    fn start_what_may_start(&mut self, now: Now, out: &mut Vec<(UnitId, Action)>) -> bool {
        let Some(graph) = &self.graph else {
            return false;
        };
        let mut starts = Vec::new();
        let mut blocked = Vec::new();
        let pending = |state: &State| state.phase == Phase::Begin;
        let names = self
            .units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.end.is_none() && pending(&u.state))
            .map(|(i, u)| (i + 1, u.name.as_str()));
        let main = (self.command && self.main.phase == Phase::Held).then_some((MAIN_UNIT, MAIN));
        for (n, name) in names.chain(main) {
            let by = graph.blocked_by(name, |d| self.graph_state(d));
            if !by.is_empty() {
                blocked.push((n, by.into_iter().map(String::from).collect::<Vec<_>>()));
            } else if graph.ready_to_start(name, |d| self.graph_state(d)) {
                starts.push(n);
            }
        }
        let moved = !(starts.is_empty() && blocked.is_empty());
        for (n, by) in blocked {
            self.block(n, by, now, out);
        }
        for n in starts {
            match n {
                MAIN_UNIT => self.feed_main(Input::Release, now, out),
                n => self.unit_input(n, Input::Begin { failed: None }, now, out),
            }
        }
        // Without a main command the run ends with its services, unless someone stopped
        // them (`tend stop NAME`): then it waits, as supervisord does, for a start or a
        // stop signal.
        let asked = self.units.iter().any(|u| u.asked_stop);
        if !self.command && self.main.phase == Phase::Held && self.all_ended() && !asked {
            self.wind_down(None, now);
            return true;
        }
        moved
    }

    fn block(&mut self, n: UnitId, by: Vec<String>, now: Now, out: &mut Vec<(UnitId, Action)>) {
        if n == MAIN_UNIT {
            return self.feed_main(Input::Blocked(by), now, out);
        }
        let reason = format!("blocked by {}", by.join(", "));
        out.push((n, Action::Emit(Note::Blocked { by })));
        self.never_started(n, &reason);
    }

    /// The stop in reverse order: a unit once every unit that depends on it has ended.
    fn stop_what_may_stop(&mut self, now: Now, out: &mut Vec<(UnitId, Action)>) -> bool {
        let Some(winding) = &self.winding else {
            return false;
        };
        if self.all_ended() {
            return self.release(now, out);
        }
        if !winding.stopping {
            return false;
        }
        let left = winding
            .budget
            .saturating_sub(now.mono.saturating_duration_since(winding.since));
        let mut moved = false;
        for n in 1..=self.units.len() {
            let unit = &self.units[n - 1];
            if unit.end.is_some() || unit.stopping || !self.dependents_gone(&unit.name) {
                continue;
            }
            moved = true;
            let timeout = unit.state.config.shutdown_timeout.min(left);
            self.stop_unit(n, timeout, "not started", now, out);
        }
        moved
    }

    /// Sends unit `n` its stop with `timeout`; one that never started just ends, for
    /// `reason`.
    fn stop_unit(
        &mut self,
        n: UnitId,
        timeout: Duration,
        reason: &str,
        now: Now,
        out: &mut Vec<(UnitId, Action)>,
    ) {
        if self.units[n - 1].state.phase == Phase::Begin {
            return self.never_started(n, reason);
        }
        self.units[n - 1].stopping = true;
        self.unit_input(n, Input::Stop { timeout }, now, out);
    }

    fn dependents_gone(&self, name: &str) -> bool {
        let Some(graph) = &self.graph else {
            return true;
        };
        graph
            .dependents(name)
            .into_iter()
            .all(|d| d == MAIN || self.units.iter().any(|u| u.name == d && u.end.is_some()))
    }

    /// Unit `n` ends without having run (it never will, or the run stops first).
    fn never_started(&mut self, n: UnitId, reason: &str) {
        let unit = &mut self.units[n - 1];
        unit.state.phase = Phase::Done;
        unit.state.snapshot.state = Shown::Stopped;
        unit.state.version += 1;
        unit.end = Some(End {
            graph: graph::State::Failed,
            reason: reason.into(),
            failed_code: None,
        });
        self.shown += 1;
    }

    /// The services are gone: main's end goes on.
    fn release(&mut self, now: Now, out: &mut Vec<(UnitId, Action)>) -> bool {
        let Some(winding) = self.winding.take() else {
            return false;
        };
        out.extend(winding.held.into_iter().map(|a| (MAIN_UNIT, a)));
        if self.main.phase == Phase::Held {
            let cause = winding.then.unwrap_or(Cause::ChildExited);
            let exit = Exit::Code(self.failed_code().unwrap_or(0));
            self.feed_main(Input::ServicesEnded { exit, cause }, now, out);
        }
        true
    }

    /// Without a main command, tend's code: the first failed service's, else 0.
    fn failed_code(&self) -> Option<i32> {
        self.units.iter().find_map(|u| u.end.as_ref()?.failed_code)
    }

    fn any_alive(&self) -> bool {
        self.units.iter().any(|u| u.end.is_none())
    }

    fn all_ended(&self) -> bool {
        !self.any_alive()
    }

    // ---- what the status shows ----------------------------------------------------

    /// Copies each service into main's snapshot when something of theirs changed.
    fn show(&mut self) {
        let version: u64 = self.units.iter().map(|u| u.state.version).sum::<u64>() + self.shown;
        if version == self.copied {
            return;
        }
        self.copied = version;
        let services = self.units.iter().map(service_status).collect();
        self.main.shown().services = services;
    }
}

/// A service as its dependents see it.
fn unit_graph_state(state: &State, end: Option<&End>) -> graph::State {
    if let Some(end) = end {
        return end.graph;
    }
    match state.child {
        Some(_) if state.snapshot.health == Health::Healthy => graph::State::Healthy,
        Some(_) => graph::State::Started,
        None => graph::State::Pending,
    }
}

fn service_status(unit: &Unit) -> ServiceStatus {
    let shown = &unit.state.snapshot;
    ServiceStatus {
        name: unit.name.clone(),
        state: shown.state,
        pid: shown.child_pid,
        oneshot: matches!(unit.state.role, Role::Service { oneshot: true }),
        restarts: shown.restarts,
        last_exit: shown.last_exit.clone(),
        health_check: shown.health_check,
        health: shown.health,
        consecutive_failures: shown.consecutive_failures,
        reason: unit.end.as_ref().map(|e| e.reason.clone()),
    }
}

fn exit_text(exit: Exit) -> String {
    match exit {
        Exit::Code(code) => format!("exited with code {code}"),
        Exit::Signaled(sig) => format!("killed by {}", crate::signals::signal_name(sig)),
    }
}
