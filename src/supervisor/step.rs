//! The transitions: `step(state, input, now) -> (state, actions)`, pure. Every phase
//! handles every input in the one `match` of `State::on`, so "what does a stop signal
//! mean now?" has one answer per phase, here. No I/O, no clock, no pid of its own:
//! the loop (`edges.rs`) reads the clock, feeds the inputs and carries out the actions.
//!
//! The phases, against the states of the README's table (the state is what the status
//! file shows; a phase is where the run is in its sequence):
//!
//! | phase | state | ends with |
//! | --- | --- | --- |
//! | `Begin` | initializing | the environment checks' verdict |
//! | `Waiting` | initializing | the dependencies ready or failed, a stop signal |
//! | `Hook` (pre-start) | initializing | each hook's exit, its timeout, a stop signal |
//! | `Held` (with services) | initializing | its dependencies hold (or, without a command, the services end), a stop signal |
//! | `Up` | starting → running | the child's exit, a stop, a restart, remediation |
//! | `Draining` | draining | TEND_DRAIN_DELAY, a second stop signal, the exit |
//! | `Stopping` | stopping / restarting | the child's exit, SIGKILL at the timeout |
//! | `Backoff` | restarting | the restart delay, a stop |
//! | `Sweeping` | stopping | the processes left behind gone |
//! | `Hook` (post-stop) | stopping | each hook's exit or timeout |
//! | `Done` | stopped / failed | (nothing: the loop has ended) |

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::action::{Action, Note, Stage, Trigger};
use super::input::{Input, Now, Timer};
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::policy::{Backoff, HealthTracker, Ladder};
use crate::process::Exit;
use crate::signals::signal_name;
use crate::status::Snapshot;

/// SIGKILL cannot be ignored, but a process stuck in the kernel (D state) can delay its
/// death; after this long tend stops waiting for the child rather than hang the container.
pub const KILL_WAIT: Duration = Duration::from_secs(5);
/// The same wait for a hook killed at its timeout: shorter, since a hook's timeout bounds
/// the start (the reaper still collects its exit whenever it comes).
pub const HOOK_KILL_WAIT: Duration = Duration::from_millis(500);

/// Where the run is in its sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Nothing has happened yet.
    Begin,
    /// The dependency wait runs.
    Waiting,
    /// Main, with services: the gate passed; it waits for what it depends on
    /// (TEND_DEPENDS_ON), or, without a command, for the services to end.
    Held,
    /// A hook runs.
    Hook(Hook),
    /// The child runs: `starting` until its first health check pass, then `running`.
    Up,
    /// A stop came: the child keeps running for TEND_DRAIN_DELAY before its stop signal.
    Draining { received: Option<i32> },
    /// The stop signal went (or SIGKILL, once `killed`); `then` says what follows the exit.
    Stopping { then: Then, killed: bool },
    /// No child: a restart's delay runs; `exit` is the last child's.
    Backoff { exit: Exit },
    /// The child is gone for good: the processes left behind are swept.
    Sweeping,
    /// The loop has ended.
    Done,
}

/// A hook under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub stage: Stage,
    pub index: usize,
    pub began: Instant,
    pub ending: HookEnding,
}

/// How far a hook's end has come.
#[derive(Debug, Clone, PartialEq)]
pub enum HookEnding {
    /// It runs within TEND_HOOK_TIMEOUT.
    Running,
    /// A stop signal was passed on; it has TEND_SHUTDOWN_TIMEOUT to end.
    Stopped(i32),
    /// SIGKILL went to its group for this reason; HOOK_KILL_WAIT for its exit.
    Killed(HookFailure),
}

/// Why a hook did not end with code 0.
#[derive(Debug, Clone, PartialEq)]
pub enum HookFailure {
    Exit(Exit),
    TimedOut,
    Spawn(String),
    Stopped(i32),
}

/// What follows the exit of a child being stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Then {
    /// A restart: after `delay` (None: at once, `tend restart`).
    Restart { delay: Option<Duration> },
    /// The end of the run.
    Finish(Cause),
}

/// Why tend exits, as `shutdown_completed` and the report tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The child exited and the restart policy did not start it again.
    ChildExited,
    Signal(i32),
    /// `tend stop`, over the control socket.
    StopRequested,
    Unhealthy,
    /// TEND_RESTART_MAX_ATTEMPTS restarts within the window; `unhealthy` when the last
    /// failure was a health failure (exit 75) rather than an exit (the child's code).
    RestartsExhausted {
        unhealthy: bool,
    },
    /// A service's command could not be started.
    SpawnFailed,
}

impl Cause {
    pub fn name(self) -> String {
        match self {
            Cause::ChildExited => "child_exited".into(),
            Cause::Signal(sig) => format!("signal_{}", signal_name(sig)),
            Cause::StopRequested => "stop_requested".into(),
            Cause::Unhealthy => "unhealthy".into(),
            Cause::RestartsExhausted { .. } => "restarts_exhausted".into(),
            Cause::SpawnFailed => "spawn_failed".into(),
        }
    }
}

/// How the run ends once nothing more is started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Finale {
    /// The startup gate failed with `code`; `signal` when a stop signal ended a
    /// pre-start hook (told once the post-stop hooks have run).
    Gate { code: i32, signal: Option<i32> },
    /// The child's last `exit`, why, and when the end began.
    Child {
        exit: Exit,
        cause: Cause,
        ended: Instant,
    },
}

/// Which lifecycle a `State` runs: the main command's, or a service's (one more instance
/// of the same transitions; what differs is named where it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The run itself: the gate, the main command (if `command`), the sweep, the exit;
    /// with `services`, held after the gate until the run releases it.
    Main { command: bool, services: bool },
    /// A service: no gate of its own, no sweep, no exit; its end is told to the run.
    Service { oneshot: bool },
}

impl Role {
    pub fn is_service(self) -> bool {
        matches!(self, Role::Service { .. })
    }
}

/// The child the run has now: started at `started`, its exit not yet seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Running {
    pub pid: i32,
    pub started: Instant,
}

/// The lifecycle state: owned by the loop, changed only by `step`.
#[derive(Debug, Clone)]
pub struct State {
    pub(super) config: Arc<Config>,
    pub role: Role,
    /// A service stopped by the run: its stop timeout, within what is left of
    /// TEND_SHUTDOWN_TIMEOUT (None: its own).
    pub(super) stop_timeout: Option<Duration>,
    pub phase: Phase,
    /// What the status file, `/status` and the report show.
    pub snapshot: Snapshot,
    /// Bumped on each change of `snapshot`: the loop publishes when it moved.
    pub version: u64,
    pub child: Option<Running>,
    /// Whether the health check task runs.
    pub(super) checking: bool,
    /// While `starting` with a health check: when the first pass is overdue.
    pub(super) starting_until: Option<Instant>,
    /// The `exec:` remediation command that runs, as its events name it.
    pub(super) remediating: Option<String>,
    pub(super) tracker: HealthTracker,
    pub(super) ladder: Ladder,
    pub(super) backoff: Backoff,
    /// Why tend must stop, when a stop came while a restart was stopping the child.
    pub(super) stop_requested: Option<Cause>,
    /// Set by a failure that tend acted on; cleared (with `recovery_completed`) once the
    /// child is healthy again.
    pub(super) recovering: bool,
    /// When tend started, and how long until the first `startup_completed`.
    pub(super) began: Instant,
    /// When the end began (a stop, or the last exit), for the leftover grace and
    /// `shutdown_completed`'s duration.
    pub(super) ended: Option<Instant>,
    pub startup_ms: Option<u64>,
    pub(super) finale: Option<Finale>,
    /// The program the child runs, for the events.
    pub(super) command: String,
}

/// One transition: the state after `input` at `now`, and what the edges must do (the
/// loop uses `on_input`, the same in place; `Run::step` routes it to a lifecycle).
#[cfg(test)]
pub fn step(mut state: State, input: Input, now: Now) -> (State, Vec<Action>) {
    let mut out = Vec::new();
    state.on(input, now, &mut out);
    (state, out)
}

impl State {
    pub fn new(config: Arc<Config>, snapshot: Snapshot, command: String, began: Instant) -> Self {
        let restart = &config.restart;
        State {
            tracker: HealthTracker::new(config.health.thresholds),
            ladder: Ladder::new(config.health.remediation.clone()),
            backoff: Backoff::new(restart.delay, restart.max_delay, restart.window),
            phase: Phase::Begin,
            role: Role::Main {
                command: true,
                services: false,
            },
            stop_timeout: None,
            snapshot,
            version: 0,
            child: None,
            checking: false,
            starting_until: None,
            remediating: None,
            ended: None,
            stop_requested: None,
            recovering: false,
            began,
            startup_ms: None,
            finale: None,
            command,
            config,
        }
    }

    /// One transition in place: what `step` does, for the run that owns the states.
    pub(super) fn on_input(&mut self, input: Input, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        self.on(input, now, &mut out);
        out
    }

    /// The one match: every phase, every input.
    fn on(&mut self, input: Input, now: Now, out: &mut Vec<Action>) {
        match (self.phase.clone(), input) {
            (Phase::Done, _) => {}
            // Requests are judged alike in every phase: the verdict depends on the state.
            (_, Input::Request(ask)) => self.request(ask, now, out),
            (Phase::Begin, Input::Begin { failed: Some(code) }) => {
                self.gate_failed(code, now, out);
            }
            (Phase::Begin, Input::Begin { failed: None }) => self.wait_for_dependencies(now, out),
            (Phase::Begin, _) => {}

            (Phase::Waiting, Input::DependenciesReady) => {
                self.run_hook(Stage::PreStart, 0, now, out)
            }
            (Phase::Waiting, Input::DependenciesFailed) => {
                self.gate_failed(ExitCode::Unavailable as i32, now, out)
            }
            (Phase::Waiting, Input::Signal(sig)) if self.config.is_stop_signal(sig) => {
                out.push(Action::CancelJob);
                self.stopped_during_startup(sig, "dependency wait", now, out);
            }
            // No child yet: other signals have nobody to go to.
            (Phase::Waiting, _) => {}

            (Phase::Held, Input::Release) => self.released(out),
            (Phase::Held, Input::Blocked(by)) => {
                out.push(Action::Emit(Note::Blocked { by }));
                self.gate_failed(ExitCode::Unavailable as i32, now, out)
            }
            (Phase::Held, Input::ServicesEnded { exit, cause }) => {
                self.finish(exit, cause, now, out)
            }
            (Phase::Held, Input::Signal(sig)) if self.config.is_stop_signal(sig) => {
                self.stopped_during_startup(sig, "wait for its services", now, out)
            }
            (Phase::Held, _) => {}

            (Phase::Hook(hook), input) => self.on_hook(hook, input, now, out),

            (Phase::Up, input) => self.on_up(input, now, out),

            (Phase::Draining { received }, input) => self.on_draining(received, input, now, out),

            (Phase::Stopping { then, killed, .. }, input) => {
                self.on_stopping(then, killed, input, now, out)
            }

            (Phase::Backoff { .. }, Input::Timer(Timer::Backoff, _)) => self.spawn(out),
            (Phase::Backoff { exit }, Input::Stop { .. }) => {
                self.finish(exit, Cause::StopRequested, now, out)
            }
            (Phase::Backoff { exit }, Input::Signal(sig)) if self.config.is_stop_signal(sig) => {
                self.finish(exit, Cause::Signal(sig), now, out)
            }
            // No child runs meanwhile: other signals have nobody to go to.
            (Phase::Backoff { .. }, _) => {}

            (Phase::Sweeping, Input::SweepDone) => self.after_sweep(now, out),
            (Phase::Sweeping, Input::Signal(sig)) if self.config.is_stop_signal(sig) => {
                // The user wants out now: the rest get their KILL at once.
                out.push(Action::CutSweep);
            }
            (Phase::Sweeping, _) => {}
        }
    }

    // ---- the gate ----------------------------------------------------------------

    fn wait_for_dependencies(&mut self, now: Now, out: &mut Vec<Action>) {
        let startup = &self.config.startup;
        if startup.wait_for.is_empty() && startup.wait_optional.is_empty() {
            return self.run_hook(Stage::PreStart, 0, now, out);
        }
        self.phase = Phase::Waiting;
        out.push(Action::WaitForDependencies);
    }

    fn hooks(&self, stage: Stage) -> &[Vec<String>] {
        match stage {
            Stage::PreStart => &self.config.startup.pre_start,
            Stage::PostStop => &self.config.startup.post_stop,
        }
    }

    fn hook_command(&self, stage: Stage, index: usize) -> String {
        crate::redact::words(&self.hooks(stage)[index])
    }

    /// Starts hook `index` of `stage`, or goes on to what follows the last one.
    pub(super) fn run_hook(&mut self, stage: Stage, index: usize, now: Now, out: &mut Vec<Action>) {
        if index >= self.hooks(stage).len() {
            return match stage {
                Stage::PreStart => self.after_gate(out),
                Stage::PostStop => self.after_post_stop(now, out),
            };
        }
        let command = self.hook_command(stage, index);
        out.push(Action::Emit(Note::HookStarted {
            stage,
            index,
            command,
        }));
        self.phase = Phase::Hook(Hook {
            stage,
            index,
            began: now.mono,
            ending: HookEnding::Running,
        });
        out.push(Action::RunHook { stage, index });
        let timeout = self.config.startup.hook_timeout;
        out.push(Action::Timer(Timer::Hook, Some(timeout)));
    }

    /// The gate passed: the child starts, or, with services, main waits for the run.
    fn after_gate(&mut self, out: &mut Vec<Action>) {
        match self.role {
            Role::Main { services: true, .. } => {
                self.phase = Phase::Held;
                out.push(Action::StartServices);
            }
            _ => self.spawn(out),
        }
    }

    /// The run lets main go: its command starts; without one, the services run and so
    /// does the run (`running`) until they end or a stop comes.
    fn released(&mut self, out: &mut Vec<Action>) {
        match self.role {
            Role::Main { command: false, .. } => self.set_state(crate::status::State::Running, out),
            _ => self.spawn(out),
        }
    }

    fn on_hook(&mut self, hook: Hook, input: Input, now: Now, out: &mut Vec<Action>) {
        let pre_start = hook.stage == Stage::PreStart;
        match (&hook.ending, input) {
            (HookEnding::Running, Input::HookExited(Exit::Code(0))) => {
                self.hook_done(&hook, Ok(()), now, out)
            }
            (HookEnding::Running, Input::HookExited(exit)) => {
                self.hook_done(&hook, Err(HookFailure::Exit(exit)), now, out)
            }
            (_, Input::HookSpawnFailed(error)) => {
                self.hook_done(&hook, Err(HookFailure::Spawn(error)), now, out)
            }
            (HookEnding::Running, Input::Timer(Timer::Hook, _)) => {
                self.kill_hook(hook, HookFailure::TimedOut, out)
            }
            (HookEnding::Running, Input::Signal(sig))
                if pre_start && self.config.is_stop_signal(sig) =>
            {
                // Passed on as received; the hook gets the shutdown timeout to end.
                out.push(Action::SignalHook(sig));
                let grace = self.config.shutdown_timeout;
                out.push(Action::Timer(Timer::Hook, Some(grace)));
                self.phase = Phase::Hook(Hook {
                    ending: HookEnding::Stopped(sig),
                    ..hook
                });
            }
            // Other signals go to a pre-start hook, as they would to the child.
            (HookEnding::Running, Input::Signal(sig)) if pre_start => {
                out.push(Action::SignalHook(self.config.rewrite(sig)))
            }
            (HookEnding::Stopped(sig), Input::HookExited(_)) => {
                let sig = *sig;
                self.hook_done(&hook, Err(HookFailure::Stopped(sig)), now, out)
            }
            (HookEnding::Stopped(sig), Input::Timer(Timer::Hook, _)) => {
                let sig = *sig;
                self.kill_hook(hook, HookFailure::Stopped(sig), out)
            }
            (HookEnding::Killed(failure), Input::HookExited(_) | Input::Timer(Timer::Hook, _)) => {
                let failure = failure.clone();
                self.hook_done(&hook, Err(failure), now, out)
            }
            _ => {}
        }
    }

    fn kill_hook(&mut self, hook: Hook, failure: HookFailure, out: &mut Vec<Action>) {
        out.push(Action::SignalHook(libc::SIGKILL));
        out.push(Action::Timer(Timer::Hook, Some(HOOK_KILL_WAIT)));
        self.phase = Phase::Hook(Hook {
            ending: HookEnding::Killed(failure),
            ..hook
        });
    }

    /// A hook ended: the next one runs, or a failed pre-start hook rolls back.
    fn hook_done(
        &mut self,
        hook: &Hook,
        result: Result<(), HookFailure>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Timer(Timer::Hook, None));
        let (stage, index) = (hook.stage, hook.index);
        let command = self.hook_command(stage, index);
        let duration_ms = millis(now.mono.saturating_duration_since(hook.began));
        let failure = match result {
            Ok(()) => {
                out.push(Action::Emit(Note::HookCompleted {
                    stage,
                    index,
                    command,
                    duration_ms,
                }));
                return self.run_hook(stage, index + 1, now, out);
            }
            Err(failure) => failure,
        };
        let reason = describe(&failure, self.config.startup.hook_timeout);
        // A failed pre-start hook ends the start; its event tells the code tend then
        // exits with.
        let ending = (stage == Stage::PreStart).then(|| match failure {
            HookFailure::Stopped(sig) => (Exit::Signaled(sig).code(), Some(sig)),
            _ => (ExitCode::HookFailed as i32, None),
        });
        out.push(Action::Emit(Note::HookFailed {
            stage,
            index,
            command,
            duration_ms,
            reason,
            exit_code: ending.map(|(code, _)| code),
        }));
        match ending {
            // Cleanup does as much as it can: the next command still runs.
            None => self.run_hook(stage, index + 1, now, out),
            // The rollback: the post-stop hooks, then the failed gate's end.
            Some((code, signal)) => {
                self.finale = Some(Finale::Gate { code, signal });
                self.run_hook(Stage::PostStop, 0, now, out);
            }
        }
    }

    pub(super) fn stopped_during_startup(
        &mut self,
        sig: i32,
        part: &'static str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Emit(Note::ShutdownInitiated {
            trigger: Trigger::DuringStartup(sig, part),
            drain_delay: Duration::ZERO,
            timeout: Duration::ZERO,
        }));
        self.gate_failed(Exit::Signaled(sig).code(), now, out);
    }

    /// The gate failed: report it, sweep what a hook may have left, exit with `code`.
    pub(super) fn gate_failed(&mut self, code: i32, _now: Now, out: &mut Vec<Action>) {
        self.finale = Some(Finale::Gate { code, signal: None });
        out.push(Action::ReportGateFailed(code));
        self.phase = Phase::Sweeping;
        out.push(Action::Sweep {
            grace: self.config.bounded_leftover_grace(),
        });
    }
}

/// What a hook's failure is called in its event.
fn describe(failure: &HookFailure, timeout: Duration) -> String {
    match failure {
        HookFailure::Exit(Exit::Code(code)) => format!("exited with code {code}"),
        HookFailure::Exit(Exit::Signaled(sig)) => format!("killed by signal {sig}"),
        HookFailure::TimedOut => format!(
            "still running after TEND_HOOK_TIMEOUT {timeout:?}; its process group was killed"
        ),
        HookFailure::Spawn(error) => format!("cannot be started: {error}"),
        HookFailure::Stopped(sig) => format!("stopped by signal {sig} received during startup"),
    }
}

pub fn millis(duration: Duration) -> u64 {
    duration.as_millis() as u64
}
