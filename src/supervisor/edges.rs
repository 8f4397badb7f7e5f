//! The edges of the loop: where inputs come from (the reaper's exits, the signalfd, the
//! control socket, the health task, timers, background jobs) and where actions are
//! carried out (spawn, signal, kill, status, events, report). Nothing here decides:
//! every choice was made by `step`.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Instant;

use super::action::{Action, Stage};
use super::input::{Input, Timer};
use super::run::{Run, UnitId, MAIN_UNIT};
use super::step::State;
use crate::config::Config;
use crate::control::Request;
use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::health::{self, HealthTask};
use crate::process::signals::Signals;
use crate::process::spawn::SpawnSpec;
use crate::process::sweep::{Scope, Sweep};
use crate::process::{command, output, Handle, Reaper};
use crate::report;
use crate::signals::signal_name;
use crate::startup::wait;
use crate::status::{Snapshot, StatusFile};

/// How long tend waits, as it exits, for the control socket to write the answers given.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

/// A background job's end, as an input.
type Job = Pin<Box<dyn Future<Output = Input>>>;

/// What the control socket needs, handed over right after the first spawn.
pub struct Interfaces<'a> {
    pub snapshots: watch::Receiver<Snapshot>,
    pub requests: mpsc::UnboundedSender<Request>,
    pub status_path: Option<&'a Path>,
}

/// Start-up work done once, right after the first spawn (whether it worked or not): done
/// then, it overlaps the child's exec instead of delaying it.
pub type AfterSpawn = Box<dyn FnOnce(Interfaces<'_>)>;

/// What the edges hold for one lifecycle (main's, or a service's): its process, its
/// health checks, its background job, its deadlines.
pub struct Slot {
    /// The service's name, for the `service` field of its events (None: main).
    name: Option<Rc<str>>,
    /// `_OUTPUT=prefix`: the width its name is padded to before ` | `.
    prefix: Option<usize>,
    config: Arc<Config>,
    spec: SpawnSpec,
    child: Option<Handle>,
    /// The child's exit was handed to the loop: it is not waited for again.
    child_reported: bool,
    health: Option<HealthTask>,
    /// Main's: the dependency wait, a remediation command or the sweep; a service's: a
    /// remediation command.
    job: Option<Job>,
    timers: [Option<Instant>; Timer::ALL.len()],
}

impl Slot {
    pub fn new(
        name: Option<&str>,
        prefix: Option<usize>,
        config: Arc<Config>,
        spec: SpawnSpec,
    ) -> Slot {
        Slot {
            name: name.map(Rc::from),
            prefix,
            config,
            spec,
            child: None,
            child_reported: false,
            health: None,
            job: None,
            timers: [None; Timer::ALL.len()],
        }
    }
}

pub struct Edges {
    config: Arc<Config>,
    reaper: Arc<Reaper>,
    signals: Signals,
    scope: Scope,
    /// Inputs produced by carrying out actions (a spawn's outcome), read before waiting.
    queue: VecDeque<(UnitId, Input)>,
    /// Main's first, then each service's, in the run's order.
    slots: Vec<Slot>,
    hook: Option<Handle>,
    /// Ends a running sweep's TERM phase.
    cut: Arc<Notify>,
    requests: mpsc::UnboundedReceiver<Request>,
    /// Kept so that `requests` never closes, and cloned for the control socket.
    requests_tx: mpsc::UnboundedSender<Request>,
    /// The request being judged, answered by `Action::Answer`.
    request: Option<Request>,
    /// Requests about services, kept (`Action::Park`) until their work is done.
    parked: Vec<(u64, Request)>,
    /// Answers given but perhaps not yet written to their clients.
    answering: Vec<oneshot::Receiver<()>>,
    snapshots: watch::Sender<Snapshot>,
    /// The snapshot version last published.
    published: u64,
    /// Opened at the first write, once the child is on its way.
    status: Option<StatusFile>,
    after_first_spawn: Option<AfterSpawn>,
}

impl Edges {
    pub fn new(
        config: Arc<Config>,
        reaper: Arc<Reaper>,
        signals: Signals,
        slots: Vec<Slot>,
        snapshots: watch::Sender<Snapshot>,
        after_first_spawn: Option<AfterSpawn>,
    ) -> Self {
        let (requests_tx, requests) = mpsc::unbounded_channel();
        Edges {
            config,
            reaper,
            signals,
            scope: Scope::detect(),
            queue: VecDeque::new(),
            slots,
            hook: None,
            cut: Arc::new(Notify::new()),
            requests,
            requests_tx,
            request: None,
            parked: Vec::new(),
            answering: Vec::new(),
            snapshots,
            published: 0,
            status: None,
            after_first_spawn,
        }
    }

    pub fn push(&mut self, unit: UnitId, input: Input) {
        self.queue.push_back((unit, input));
    }

    /// The next input and the lifecycle it concerns: a queued one, or whatever happens
    /// first.
    pub async fn next(&mut self) -> (UnitId, Input) {
        if let Some(input) = self.queue.pop_front() {
            return input;
        }
        loop {
            let (unit, timer, deadline) = self.earliest();
            tokio::select! {
                found = std::future::poll_fn(|cx| poll_slots(&mut self.slots, cx)) => return found,
                exit = hook_exit(&mut self.hook) => {
                    self.hook = None;
                    return (MAIN_UNIT, Input::HookExited(exit));
                }
                Some(sig) = self.signals.recv() => {
                    inject_fault(sig);
                    return (MAIN_UNIT, Input::Signal(sig));
                }
                Some(request) = self.requests.recv() => {
                    // A request whose client stopped waiting (it was answered "busy") is
                    // dropped: it is not carried out, as its answer said.
                    if request.reply.is_closed() {
                        continue;
                    }
                    let ask = request.ask.clone();
                    self.request = Some(request);
                    return (MAIN_UNIT, Input::Request(ask));
                }
                () = at(deadline) => {
                    self.slots[unit].timers[timer.index()] = None;
                    let late = deadline.map_or(Duration::ZERO, |d| Instant::now().saturating_duration_since(d));
                    return (unit, Input::Timer(timer, late));
                }
            }
        }
    }

    /// The deadline that comes first, its lifecycle and its kind.
    fn earliest(&self) -> (UnitId, Timer, Option<Instant>) {
        let all = self.slots.iter().enumerate().flat_map(|(n, slot)| {
            Timer::ALL
                .into_iter()
                .filter_map(move |t| slot.timers[t.index()].map(|d| (n, t, d)))
        });
        all.min_by_key(|(_, _, d)| *d)
            .map_or((MAIN_UNIT, Timer::Startup, None), |(n, t, d)| {
                (n, t, Some(d))
            })
    }

    /// Carries out `actions` in order, each for its lifecycle; Some(code) when the loop
    /// must end.
    pub fn execute(&mut self, run: &Run, actions: Vec<(UnitId, Action)>) -> Option<i32> {
        let mut exit = None;
        for (unit, action) in actions {
            match action {
                Action::Exit(code) => exit = Some(code),
                action => {
                    let name = self.slots.get(unit).and_then(|s| s.name.clone());
                    crate::events::in_service(name.as_ref(), || {
                        self.carry_out(unit, &run.main, action)
                    });
                }
            }
        }
        self.publish(&run.main);
        exit
    }

    fn carry_out(&mut self, unit: UnitId, state: &State, action: Action) {
        let Some(slot) = self.slots.get_mut(unit) else {
            return;
        };
        match action {
            Action::WaitForDependencies => self.wait_for_dependencies(),
            Action::CancelJob => slot.job = None,
            Action::RunHook { stage, index } => self.run_hook(stage, index),
            Action::SignalHook(sig) => {
                if let Some(hook) = &mut self.hook {
                    hook.signal_group(sig);
                }
            }
            Action::Spawn => self.spawn(unit),
            Action::Forward {
                pid,
                sig,
                received,
                group,
            } => forward(slot, pid, sig, received, group),
            Action::Continue { pid, group } => {
                if let Some(child) = child_with(slot, pid) {
                    child.signal(libc::SIGCONT, group);
                }
            }
            Action::Kill { pid } => {
                if let Some(child) = child_with(slot, pid) {
                    child.kill();
                }
            }
            Action::StartHealth => {
                let credentials = slot.spec.credentials.clone();
                slot.health = health::start(&slot.config.health, self.reaper.clone(), credentials);
            }
            Action::StopHealth => slot.health = None,
            Action::EndStartInterval => {
                if let Some(task) = &slot.health {
                    task.end_start_interval();
                }
            }
            Action::Remediate(command) => {
                let (timeout, reaper) = (slot.config.health.timeout, self.reaper.clone());
                let credentials = slot.spec.credentials.clone();
                slot.job = Some(Box::pin(async move {
                    let result = command
                        .run_step_as(timeout, &reaper, credentials.as_ref())
                        .await;
                    Input::RemediationDone(result.map_err(|error| error.to_string()))
                }));
            }
            Action::Timer(timer, after) => {
                slot.timers[timer.index()] = after.map(|after| Instant::now() + after);
            }
            Action::Emit(note) => note.emit(),
            Action::Answer(verdict) => self.answer(verdict),
            Action::Park(id) => {
                if let Some(request) = self.request.take() {
                    self.parked.push((id, request));
                }
            }
            Action::AnswerParked(id, verdict) => {
                if let Some(at) = self.parked.iter().position(|(i, _)| *i == id) {
                    let request = self.parked.swap_remove(at).1;
                    self.deliver(request, verdict);
                }
            }
            Action::WriteStatus => self.write_status(state),
            Action::Sweep { grace } => self.sweep(state, grace),
            Action::CutSweep => self.cut.notify_one(),
            Action::Report(outcome) => {
                self.publish(state);
                let outcome = report::Outcome {
                    exit_code: outcome.exit_code,
                    cause: &outcome.cause,
                    startup_ms: outcome.startup_ms,
                    shutdown_ms: outcome.shutdown_ms,
                };
                report::write(&self.config, &self.snapshots.borrow(), &outcome);
            }
            Action::ReportGateFailed(code) => report::gate_failed(&self.config, code),
            // The run's own: they never reach the edges.
            Action::Exit(_) | Action::StartServices | Action::Ended { .. } => {}
        }
    }

    fn wait_for_dependencies(&mut self) {
        let startup = &self.config.startup;
        let settings = wait::Settings {
            timeout: startup.wait_timeout,
            interval_max: startup.wait_interval_max,
            probe_timeout: startup.wait_probe_timeout,
        };
        let (required, optional) = (startup.wait_for.clone(), startup.wait_optional.clone());
        let reaper = self.reaper.clone();
        self.slots[MAIN_UNIT].job = Some(Box::pin(async move {
            match wait::dependencies(&required, &optional, settings, &reaper).await {
                Ok(()) => Input::DependenciesReady,
                Err(wait::Unavailable) => Input::DependenciesFailed,
            }
        }));
    }

    fn run_hook(&mut self, stage: Stage, index: usize) {
        let hooks = match stage {
            Stage::PreStart => &self.config.startup.pre_start,
            Stage::PostStop => &self.config.startup.post_stop,
        };
        let Some(argv) = hooks.get(index) else {
            return;
        };
        let spec = SpawnSpec::new(argv.iter().map(Into::into).collect());
        match command::start(&self.reaper, spec) {
            Ok(hook) => self.hook = Some(hook),
            Err(error) => self.push(MAIN_UNIT, Input::HookSpawnFailed(error.to_string())),
        }
    }

    fn spawn(&mut self, unit: UnitId) {
        let slot = &self.slots[unit];
        let program = slot.spec.argv[0].to_string_lossy().into_owned();
        let spawned = match (slot.prefix, &slot.name) {
            (Some(width), Some(name)) => match output::Prefixed::start(name, width) {
                // A spec of its own, dropped right after the spawn: the copier ends when
                // the service's descendants, not a kept spec, close the pipe.
                Ok(prefixed) => {
                    let mut spec = slot.spec.clone();
                    prefixed.redirect(&mut spec);
                    self.reaper.spawn(&spec)
                }
                Err(error) => {
                    emit!(error, Event::SpawnFailed, command = %program, reason = "output",
                        exit_code = ExitCode::Software as i32, error = %error,
                        "cannot run {program} with its output prefixed: {error}");
                    return self.push(
                        unit,
                        Input::SpawnFailed {
                            code: ExitCode::Software as i32,
                        },
                    );
                }
            },
            _ => self.reaper.spawn(&slot.spec),
        };
        if let Some(work) = self.after_first_spawn.take() {
            let interfaces = Interfaces {
                snapshots: self.snapshots.subscribe(),
                requests: self.requests_tx.clone(),
                status_path: status_file(&mut self.status, &self.config).path(),
            };
            crate::events::outside_service(|| work(interfaces));
        }
        match spawned {
            Ok(child) => {
                crate::process::leave_workdir();
                if unit == MAIN_UNIT {
                    crate::crash::set_child(child.pid);
                }
                self.push(unit, Input::Spawned { pid: child.pid });
                let slot = &mut self.slots[unit];
                slot.child = Some(child);
                slot.child_reported = false;
            }
            Err(error) => {
                let code = error.exit_code();
                let message = error.message(&program);
                emit!(error, Event::SpawnFailed, command = %program, reason = error.reason(),
                    exit_code = code, error = %error.error(), "{message}");
                self.push(unit, Input::SpawnFailed { code });
            }
        }
    }

    /// Sends the verdict to the request's client (and logs it).
    fn answer(&mut self, verdict: crate::control::Verdict) {
        if let Some(request) = self.request.take() {
            self.deliver(request, verdict);
        }
    }

    fn deliver(&mut self, request: Request, verdict: crate::control::Verdict) {
        if let Some(written) = request.answer(verdict) {
            self.answering
                .retain_mut(|w| matches!(w.try_recv(), Err(TryRecvError::Empty)));
            self.answering.push(written);
        }
    }

    /// Nothing left: done at once. Otherwise the state (`stopping`) may last, so
    /// readers must see it, and the sweep runs as a job.
    fn sweep(&mut self, state: &State, grace: Duration) {
        crate::process::signals::reap(&self.reaper);
        let sweep = Sweep::new(self.scope);
        if !sweep.any_left() {
            return self.push(MAIN_UNIT, Input::SweepDone);
        }
        self.write_status(state);
        let (reaper, cut) = (self.reaper.clone(), self.cut.clone());
        self.slots[MAIN_UNIT].job = Some(Box::pin(async move {
            super::sweep::sweep(sweep, reaper, grace, cut).await;
            Input::SweepDone
        }));
    }

    /// Hands the snapshot, stamped, to the HTTP endpoints and the control socket, when
    /// it changed since the last time.
    fn publish(&mut self, state: &State) {
        if state.version == self.published {
            return;
        }
        self.published = state.version;
        let ticks = self.snapshots.borrow().pid_start_ticks;
        let mut snapshot = state.snapshot.clone();
        snapshot.pid_start_ticks = snapshot.pid_start_ticks.or(ticks);
        snapshot.updated_at = crate::events::rfc3339_millis(std::time::SystemTime::now());
        self.snapshots.send_replace(snapshot);
    }

    fn write_status(&mut self, state: &State) {
        self.published = state.version.wrapping_sub(1);
        self.publish(state);
        self.snapshots.send_modify(|snapshot| {
            snapshot.with_start_ticks();
        });
        let snapshot = self.snapshots.borrow().clone();
        status_file(&mut self.status, &self.config).write(&snapshot);
    }

    /// Lets the control socket write the answers given (an accepted `tend stop` among
    /// them) before tend exits, for at most ANSWER_GRACE: the server task runs only when
    /// the loop waits, and a short shutdown may not wait at all.
    pub async fn answers_written(&mut self) {
        let deadline = Instant::now() + ANSWER_GRACE;
        for written in self.answering.drain(..) {
            let _ = tokio::time::timeout_at(deadline, written).await;
        }
        // The lines of prefixed services still in flight: copied out before the exit.
        if self.slots.iter().any(|slot| slot.prefix.is_some()) {
            output::flush(deadline.into_std());
        }
    }
}

/// The status file, chosen (and its directory made) on first use: a free function over
/// the two fields, so that the snapshot can be borrowed beside it.
fn status_file<'a>(status: &'a mut Option<StatusFile>, config: &Config) -> &'a mut StatusFile {
    status.get_or_insert_with(|| StatusFile::open(config.status_file.as_deref()))
}

/// Sends `sig` to the child (or its group) and logs it, unless it is already gone.
fn forward(slot: &mut Slot, pid: i32, sig: i32, received: Option<i32>, group: bool) {
    let Some(child) = child_with(slot, pid) else {
        return;
    };
    if !child.signal(sig, group) {
        return;
    }
    let target = if group { "process group " } else { "pid " };
    match received {
        Some(received) => emit!(info, Event::SignalForwarded, pid, signal = %signal_name(sig),
            received = %signal_name(received),
            "forwarded {} to {target}{pid}", signal_name(sig)),
        None => emit!(info, Event::SignalForwarded, pid, signal = %signal_name(sig),
            "sent {} to {target}{pid} to stop it", signal_name(sig)),
    }
}

fn child_with(slot: &mut Slot, pid: i32) -> Option<&mut Handle> {
    slot.child.as_mut().filter(|child| child.pid == pid)
}

/// The first thing that happened to a lifecycle's process, checks or job.
fn poll_slots(slots: &mut [Slot], cx: &mut Context<'_>) -> Poll<(UnitId, Input)> {
    for (unit, slot) in slots.iter_mut().enumerate() {
        if let (Some(child), false) = (&mut slot.child, slot.child_reported) {
            let pid = child.pid;
            if let Poll::Ready(exit) = pin!(child.wait()).poll(cx) {
                slot.child_reported = true;
                return Poll::Ready((unit, Input::ChildExited { pid, exit }));
            }
        }
        if slot.health.is_some() {
            if let Poll::Ready(check) = pin!(health::next(&mut slot.health)).poll(cx) {
                return Poll::Ready((unit, Input::Check(check)));
            }
        }
        if let Some(job) = &mut slot.job {
            if let Poll::Ready(input) = job.as_mut().poll(cx) {
                slot.job = None;
                return Poll::Ready((unit, input));
            }
        }
    }
    Poll::Pending
}

async fn hook_exit(hook: &mut Option<Handle>) -> crate::process::Exit {
    match hook {
        Some(hook) => hook.wait().await,
        None => std::future::pending().await,
    }
}

/// Resolves at the deadline, or never without one (so a `select!` branch stays idle).
async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Lets the test suite prove that a panic kills the children and exits 70.
#[cfg(debug_assertions)]
fn inject_fault(sig: i32) {
    if sig == libc::SIGUSR2
        && std::env::var_os("TEND_FAULT_INJECT").is_some_and(|v| v == "panic_on_signal")
    {
        panic!("fault injected by TEND_FAULT_INJECT");
    }
}

#[cfg(not(debug_assertions))]
fn inject_fault(_sig: i32) {}
