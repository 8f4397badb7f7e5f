//! What the loop asks the edges to do: each `Action` is carried out by the executor
//! (`edges.rs`) in the order `step` returned them, without deciding anything.

use std::time::Duration;

use crate::control::Verdict;
use crate::policy::Health;
use crate::probe::Probe;
use crate::process::Exit;
use crate::status::State;

/// One thing for the edges to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start waiting for TEND_WAIT_FOR and TEND_WAIT_OPTIONAL; ends in
    /// `DependenciesReady` or `DependenciesFailed`.
    WaitForDependencies,
    /// Drop the background job under way (the dependency wait, a remediation command):
    /// an `exec:` probe's process group is killed with it.
    CancelJob,
    /// Start hook `index` of `stage`; ends in `HookExited` or `HookSpawnFailed`.
    RunHook { stage: Stage, index: usize },
    /// Send a signal to the running hook's process group.
    SignalHook(i32),
    /// Start the child; ends in `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send `sig` to the child `pid` (or its group), and log `signal_forwarded` if it
    /// was still there: `received` is the signal tend got, None when tend stops the child
    /// on its own account.
    Forward {
        pid: i32,
        sig: i32,
        received: Option<i32>,
        group: bool,
    },
    /// SIGCONT to the child (or its group), after a stop signal, without an event.
    Continue { pid: i32, group: bool },
    /// SIGKILL to the child's process group and to the child itself.
    Kill { pid: i32 },
    /// Start the health check task (TEND_HEALTH_CHECK).
    StartHealth,
    /// Stop it (an `exec:` check in flight is killed).
    StopHealth,
    /// The start-up grace is over: the checks come at the normal interval from now on.
    EndStartInterval,
    /// Run an `exec:` remediation command; ends in `RemediationDone`.
    Remediate(Probe),
    /// Arm a deadline that long after this action is carried out (Some), or clear it
    /// (None). Counted from then, not from the step's clock reading: a stop signal's
    /// timeout starts when the signal goes, after the status writes before it.
    Timer(super::input::Timer, Option<Duration>),
    /// Log an event.
    Emit(Note),
    /// Answer the control request just received.
    Answer(Verdict),
    /// Keep the control request just received, to answer it when its work is done.
    Park(u64),
    /// Answer a request kept by `Park`.
    AnswerParked(u64, Verdict),
    /// Write the status file (the snapshot is published on every change anyway).
    WriteStatus,
    /// TERM the processes left behind, KILL them after `grace`; ends in `SweepDone`.
    Sweep { grace: Duration },
    /// A stop signal during the sweep's TERM phase: KILL the rest now.
    CutSweep,
    /// Write the lifecycle report (TEND_REPORT_FILE).
    Report(Outcome),
    /// Write the report of a run whose startup gate failed.
    ReportGateFailed(i32),
    /// End the loop; tend exits with this code.
    Exit(i32),
    /// Main, after the gate: the services may start (the run starts them as their
    /// conditions hold, and releases main once its own hold).
    StartServices,
    /// A service ended for good (no restart to come): for the run, never the edges.
    Ended {
        exit: Exit,
        cause: super::step::Cause,
    },
}

/// Which hooks: TEND_PRE_START or TEND_POST_STOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    PreStart,
    PostStop,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::PreStart => "pre_start",
            Stage::PostStop => "post_stop",
        }
    }
}

/// How the run ended, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: i32,
    pub cause: String,
    pub startup_ms: Option<u64>,
    pub shutdown_ms: Option<u64>,
}

/// What started a shutdown, as `shutdown_initiated` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Signal(i32),
    /// `tend stop`.
    Requested,
    /// The remediation `exit`, or restarts exhausted while unhealthy.
    Unhealthy,
    /// A stop signal before the child started, in the named part of the gate.
    DuringStartup(i32, &'static str),
    /// A service stopped by the run: tend shuts down, or what depended on it is gone.
    Ordered,
}

/// The lifecycle events the transitions log (`notes.rs` writes them).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    StateChanged(State),
    ChildStarted {
        pid: i32,
        command: String,
    },
    StartupCompleted {
        pid: i32,
    },
    RecoveryCompleted {
        pid: i32,
        restarts: u32,
    },
    FailureDetected {
        pid: i32,
        reason: &'static str,
        exit_code: Option<i32>,
    },
    RemediationStarted {
        pid: i32,
        step: &'static str,
        consecutive_failures: u32,
    },
    RemediationFailed {
        pid: i32,
        command: String,
        error: String,
    },
    StartupTimeout {
        pid: i32,
        timeout: Duration,
        step: Option<&'static str>,
    },
    /// One check's result: `error` None when it passed.
    HealthCheck {
        error: Option<String>,
        consecutive_failures: u32,
        counted: bool,
        duration_ms: u64,
    },
    HealthStateChanged {
        from: Health,
        to: Health,
        consecutive_failures: u32,
    },
    ChildExited {
        pid: i32,
        exit: Exit,
        duration_ms: u64,
    },
    RestartsExhausted {
        attempts: u32,
        window: Duration,
    },
    RestartInitiated {
        pid: i32,
        attempt: u32,
        delay: Duration,
        reason: &'static str,
    },
    ShutdownInitiated {
        trigger: Trigger,
        drain_delay: Duration,
        timeout: Duration,
    },
    ForceKill {
        pid: i32,
        timeout: Duration,
        late: Duration,
    },
    ShutdownCompleted {
        exit_code: i32,
        child_exit_code: i32,
        reason: String,
        duration_ms: u64,
    },
    /// A service (or main) that will never start: what it depends on failed.
    Blocked {
        by: Vec<String>,
    },
    HookStarted {
        stage: Stage,
        index: usize,
        command: String,
    },
    HookCompleted {
        stage: Stage,
        index: usize,
        command: String,
        duration_ms: u64,
    },
    HookFailed {
        stage: Stage,
        index: usize,
        command: String,
        duration_ms: u64,
        reason: String,
        /// The code tend then exits with (pre-start hooks only).
        exit_code: Option<i32>,
    },
}
