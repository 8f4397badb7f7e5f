//! What the edges report to the loop: one `Input` per thing that happened, and the clock
//! reading the loop hands to `step` with it.

use std::time::{Duration, Instant, SystemTime};

use crate::control::Ask;
use crate::health::CheckResult;
use crate::process::Exit;

/// Everything that can happen to a supervised run, as the edges report it.
#[derive(Debug)]
pub enum Input {
    /// The run begins; `Some(code)` when the startup gate's environment checks already
    /// failed (nothing may start; tend exits with `code` after the sweep).
    Begin { failed: Option<i32> },
    /// Every required dependency passed (TEND_WAIT_FOR).
    DependenciesReady,
    /// A required dependency never passed within TEND_WAIT_TIMEOUT.
    DependenciesFailed,
    /// The running hook exited.
    HookExited(Exit),
    /// The hook could not be started: why.
    HookSpawnFailed(String),
    /// The child was started as `pid`.
    Spawned { pid: i32 },
    /// The child could not be started (the edge logged why); tend exits with `code`.
    SpawnFailed { code: i32 },
    /// The reaper collected the child `pid`'s exit.
    ChildExited { pid: i32, exit: Exit },
    /// A signal other than SIGCHLD reached tend.
    Signal(i32),
    /// A control request (`tend restart`, `tend stop`) whose client still waits.
    Request(Ask),
    /// The health check task finished one check.
    Check(CheckResult),
    /// An `exec:` remediation command ended: Err with why it failed.
    RemediationDone(Result<(), String>),
    /// A deadline the loop set has come, this long after it was due (a loaded machine).
    Timer(Timer, Duration),
    /// The sweep of the processes left behind is over.
    SweepDone,
    /// Main, held after the gate: the conditions of TEND_DEPENDS_ON hold, it may start
    /// (without a main command: the services run).
    Release,
    /// Main, held after the gate: these services failed in a way that keeps it from
    /// ever starting.
    Blocked(Vec<String>),
    /// Main without a command: every service has ended; the run ends as if a child had
    /// exited with `exit`, for `cause`.
    ServicesEnded {
        exit: Exit,
        cause: super::step::Cause,
    },
    /// A service: the run stops it (its dependents are gone, or tend shuts down); it has
    /// `timeout` between its stop signal and SIGKILL.
    Stop { timeout: Duration },
}

/// The loop's deadlines: at most one of each kind is set at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// TEND_STARTUP_TIMEOUT: the first health check pass is overdue.
    Startup,
    /// TEND_DRAIN_DELAY is over: the stop signal goes now.
    Drain,
    /// TEND_SHUTDOWN_TIMEOUT is over: the child gets SIGKILL.
    Stop,
    /// The child did not go within KILL_WAIT of its SIGKILL: tend stops waiting.
    Kill,
    /// A restart's backoff delay is over: the new child starts.
    Backoff,
    /// The running hook's current deadline: its timeout, its grace after a stop
    /// signal, or its wait after SIGKILL.
    Hook,
}

impl Timer {
    pub const ALL: [Timer; 6] = [
        Timer::Startup,
        Timer::Drain,
        Timer::Stop,
        Timer::Kill,
        Timer::Backoff,
        Timer::Hook,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The clock as `step` sees it: read by the loop, never by the transitions.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    /// For deadlines and durations.
    pub mono: Instant,
    /// For the timestamps in the status snapshot.
    pub wall: SystemTime,
}

impl Now {
    pub fn read() -> Self {
        Now {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}
