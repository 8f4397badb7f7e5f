//! The supervisor loop: the one owner of the lifecycle state. It starts the child, reacts
//! to signals and to the child's exit, and hands over to the shutdown sequence. Other
//! tasks only send it events (signals through the pump, exits through the reaper).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::child::Child;
use crate::config::values::signal_name;
use crate::config::{Config, SignalTarget};
use crate::emit;
use crate::events::Event;
use crate::health::{self, CheckResult, HealthTask};
use crate::policy::{Health, HealthTracker, Ladder, Step};
use crate::probe::redact;
use crate::process::spawn::{Credentials, Isolation, SpawnSpec};
use crate::process::sweep::Scope;
use crate::process::{Exit, Reaper};
use crate::status::{Snapshot, State, StatusFile};

pub struct Supervisor {
    pub(crate) config: Config,
    pub(crate) reaper: Arc<Reaper>,
    pub(crate) signals: mpsc::UnboundedReceiver<i32>,
    pub(crate) scope: Scope,
    status: StatusFile,
    snapshot: Snapshot,
    spec: SpawnSpec,
    /// The health check task while the child runs; None without TEND_HEALTH_CHECK.
    health: Option<HealthTask>,
    tracker: HealthTracker,
    ladder: Ladder,
    /// While `starting` with a health check: when the first pass is overdue.
    startup_deadline: Option<tokio::time::Instant>,
    /// A stop signal that arrived while a restart was stopping the child.
    pub(crate) stop_requested: Option<i32>,
}

/// TEND_REMEDIATION `exit`: the child stayed unhealthy (EX_TEMPFAIL: replace and retry).
pub const EX_UNHEALTHY: i32 = 75;

/// Why the child's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The child exited by itself.
    ChildExited,
    /// A stop signal began the shutdown.
    Signal(i32),
    /// The remediation ladder reached `exit`.
    Unhealthy,
    /// A restart could not start the new child; tend exits with this code.
    SpawnFailed(i32),
}

impl Supervisor {
    pub fn new(
        config: Config,
        argv: Vec<OsString>,
        reaper: Arc<Reaper>,
        signals: mpsc::UnboundedReceiver<i32>,
        has_tty: bool,
    ) -> Self {
        let status = StatusFile::open(config.status_file.as_deref());
        let isolation = match config.signal_target {
            // setsid would take the terminal away from the child; a group keeps job control.
            SignalTarget::Group if !has_tty => Isolation::Session,
            _ => Isolation::ProcessGroup,
        };
        let spec = SpawnSpec {
            isolation,
            foreground: has_tty,
            ..SpawnSpec::new(argv)
        };
        Supervisor {
            tracker: HealthTracker::new(config.health.thresholds),
            ladder: Ladder::new(config.health.remediation.clone()),
            stop_requested: None,
            startup_deadline: None,
            config,
            reaper,
            signals,
            scope: Scope::detect(),
            status,
            snapshot: Snapshot::new(),
            spec,
            health: None,
        }
    }

    /// The identity the child runs as (TEND_USER, resolved by the startup gate).
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        self.spec.credentials = credentials;
        self
    }

    /// Runs the child to the end and returns tend's exit code.
    pub async fn run(mut self) -> i32 {
        self.set_state(State::Starting);
        let mut child = match self.start_child() {
            Ok(child) => child,
            Err(code) => return code,
        };
        self.start_health_checks();
        if self.health.is_none() {
            self.mark_running(child.pid);
        }
        let ending = self.supervise(&mut child).await;
        // No verdicts while draining: the child is expected to stop answering.
        self.health = None;
        let exit = match ending {
            Ending::ChildExited => child.wait().await,
            Ending::Signal(sig) => self.drain(&mut child, sig).await,
            Ending::Unhealthy => self.stop_unhealthy(&mut child).await,
            Ending::SpawnFailed(code) => return code,
        };
        self.finish(&mut child, exit, ending).await
    }

    /// Waits for the child to exit or for a stop signal, forwarding everything else.
    async fn supervise(&mut self, child: &mut Child) -> Ending {
        loop {
            tokio::select! {
                _ = child.wait() => return Ending::ChildExited,
                _ = overdue(self.startup_deadline) => {
                    let step = self.startup_overdue(child.pid);
                    if let Err(ending) = self.remediate(child, step).await {
                        return ending;
                    }
                }
                check = health::next(&mut self.health) => {
                    let step = self.on_check(child, check);
                    if let Err(ending) = self.remediate(child, step).await {
                        return ending;
                    }
                }
                Some(sig) = self.signals.recv() => {
                    if self.config.is_stop_signal(sig) {
                        return Ending::Signal(sig);
                    }
                    inject_fault(sig);
                    self.forward(child, sig);
                }
            }
        }
    }

    /// With a health check, the state stays `starting` until the first check passes.
    fn start_health_checks(&mut self) {
        let credentials = self.spec.credentials.clone();
        self.health = health::start(&self.config.health, self.reaper.clone(), credentials);
        self.snapshot.health_check = self.health.is_some();
        self.startup_deadline = self
            .health
            .as_ref()
            .map(|_| tokio::time::Instant::now() + self.config.health.startup_timeout);
    }

    /// No check passed within TEND_STARTUP_TIMEOUT: the next remediation step is due.
    fn startup_overdue(&mut self, pid: i32) -> Option<Step> {
        self.startup_deadline = None;
        let timeout = self.config.health.startup_timeout;
        let step = self.ladder.take();
        emit!(
            error,
            Event::StartupTimeout,
            pid,
            timeout_ms = timeout.as_millis() as u64,
            step = step.map(Step::name),
            "no health check passed within {timeout:?}"
        );
        step
    }

    fn mark_running(&mut self, pid: i32) {
        self.startup_deadline = None;
        self.set_state(State::Running);
        emit!(info, Event::StartupCompleted, pid, "startup completed");
    }

    /// Judges one check result; the first pass ends `starting`. Returns the remediation
    /// step now due, if any.
    fn on_check(&mut self, child: &Child, check: CheckResult) -> Option<Step> {
        let since_start = child.started.elapsed();
        let before = self.tracker.health;
        let changed = self.tracker.record(check.result.is_ok(), since_start);
        self.snapshot.health = self.tracker.health;
        self.snapshot.consecutive_failures = self.tracker.consecutive_failures;
        self.snapshot.last_check_at = Some(crate::events::rfc3339_millis(check.at));
        self.snapshot.last_error = check.result.as_ref().err().map(|e| redact(&e.0));
        // The file first: whoever acts on the events below must find it up to date.
        self.write_status();
        self.report_check(&check, since_start);
        if let Some(health) = changed {
            emit!(
                info,
                Event::HealthStateChanged,
                from = health_name(before),
                to = health_name(health),
                consecutive_failures = self.tracker.consecutive_failures,
                "health changed from {} to {}",
                health_name(before),
                health_name(health)
            );
        }
        if check.result.is_ok() && self.snapshot.state == State::Starting {
            self.mark_running(child.pid);
        }
        self.next_step(child.pid)
    }

    fn next_step(&mut self, pid: i32) -> Option<Step> {
        let in_episode = self.ladder.in_episode();
        let step = self.ladder.after_check(&self.tracker);
        if in_episode && !self.ladder.in_episode() {
            emit!(
                info,
                Event::RecoveryCompleted,
                pid,
                "healthy again after remediation"
            );
        }
        if let Some(step) = step {
            emit!(
                warn,
                Event::RemediationStarted,
                pid,
                step = step.name(),
                consecutive_failures = self.tracker.consecutive_failures,
                "child unhealthy: remediation step {}",
                step.name()
            );
        }
        step
    }

    /// Takes a remediation step; an error ends the run.
    async fn remediate(&mut self, child: &mut Child, step: Option<Step>) -> Result<(), Ending> {
        match step {
            Some(Step::Exit) => Err(Ending::Unhealthy),
            Some(Step::Restart) => self.restart(child).await,
            None => Ok(()),
        }
    }

    /// Stops the child with the bounded stop sequence and starts a new one. A stop signal
    /// meanwhile, or a failure to start, ends the run instead.
    async fn restart(&mut self, child: &mut Child) -> Result<(), Ending> {
        self.health = None;
        self.snapshot.restarts += 1;
        emit!(
            warn,
            Event::RestartInitiated,
            pid = child.pid,
            attempt = self.snapshot.restarts,
            delay_ms = 0u64,
            reason = "unhealthy",
            "restarting pid {} (unhealthy)",
            child.pid
        );
        self.set_state(State::Restarting);
        let exit = self
            .stop_child(child, libc::SIGTERM, self.config.shutdown_timeout)
            .await;
        self.record_child_exit(child, exit);
        if let Some(sig) = self.stop_requested {
            return Err(Ending::Signal(sig));
        }
        self.set_state(State::Starting);
        *child = self.start_child().map_err(Ending::SpawnFailed)?;
        self.tracker = HealthTracker::new(self.config.health.thresholds);
        self.start_health_checks();
        Ok(())
    }

    fn report_check(&self, check: &CheckResult, since_start: Duration) {
        let duration_ms = check.duration.as_millis() as u64;
        let Some(error) = &self.snapshot.last_error else {
            emit!(
                debug,
                Event::HealthCheckPassed,
                duration_ms,
                "health check passed"
            );
            return;
        };
        let counted = since_start >= self.config.health.thresholds.start_period;
        let failures = self.tracker.consecutive_failures;
        emit!(warn, Event::HealthCheckFailed, error = %error, consecutive_failures = failures,
            counted, duration_ms, "health check failed ({failures} in a row): {error}");
    }

    fn start_child(&mut self) -> Result<Child, i32> {
        let program = self.spec.argv[0].to_string_lossy().into_owned();
        match self.reaper.spawn(&self.spec) {
            Ok(started) => {
                let child = Child::new(started);
                crate::crash::set_child(child.pid);
                self.snapshot.child_pid = Some(child.pid);
                self.write_status();
                emit!(info, Event::ChildStarted, pid = child.pid, command = %program,
                    "started {program} as pid {}", child.pid);
                Ok(child)
            }
            Err(error) => {
                let code = error.exit_code();
                emit!(error, Event::SpawnFailed, command = %program, reason = error.reason(),
                    exit_code = code, error = %error.error(),
                    "cannot run {program:?}: {} (PATH is searched when the name has no '/')", error.error());
                self.set_state(State::Failed);
                Err(code)
            }
        }
    }

    /// Forwards a received signal (after rewriting) to the child or its group.
    pub(crate) fn forward(&mut self, child: &mut Child, received: i32) {
        let sig = self.config.rewrite(received);
        let group = self.config.signal_target == SignalTarget::Group;
        if child.signal(sig, group) {
            emit!(info, Event::SignalForwarded, pid = child.pid, signal = %signal_name(sig),
                received = %signal_name(received),
                "forwarded {} to {}{}", signal_name(sig), if group { "process group " } else { "pid " }, child.pid);
        }
    }

    /// Logs a child's exit and keeps it as the snapshot's last exit.
    fn record_child_exit(&mut self, child: &Child, exit: Exit) {
        emit!(
            info,
            Event::ChildExited,
            pid = child.pid,
            exit_code = exit.code(),
            signal = exit.signal().map(signal_name),
            duration_ms = child.started.elapsed().as_millis() as u64,
            "pid {} exited with code {}",
            child.pid,
            exit.code()
        );
        self.snapshot.record_exit(exit);
    }

    /// Records the child's exit, cleans up what is left, and maps the exit to tend's code.
    async fn finish(&mut self, child: &mut Child, exit: Exit, ending: Ending) -> i32 {
        self.record_child_exit(child, exit);
        self.snapshot.child_pid = None;
        let shutdown_started = Instant::now();
        let grace = match ending {
            Ending::ChildExited => self.config.shutdown_timeout,
            _ => self.leftover_grace(),
        };
        self.set_state(State::Stopping);
        self.sweep(grace).await;
        crate::startup::post_stop(&self.config, &self.reaper).await;
        self.set_state(State::Stopped);
        let code = match ending {
            Ending::Unhealthy => EX_UNHEALTHY,
            _ => self.exit_code(exit),
        };
        let reason = match ending {
            Ending::Signal(sig) => format!("signal_{}", signal_name(sig)),
            Ending::Unhealthy => "unhealthy".to_string(),
            _ => "child_exited".to_string(),
        };
        emit!(info, Event::ShutdownCompleted, exit_code = code, child_exit_code = exit.code(),
            reason = %reason, duration_ms = shutdown_started.elapsed().as_millis() as u64,
            "exiting with code {code}");
        code
    }

    /// After a drain the other processes get a short grace of their own: TERM, then KILL.
    fn leftover_grace(&self) -> Duration {
        self.config.shutdown_timeout.min(Duration::from_millis(500))
    }

    fn exit_code(&self, exit: Exit) -> i32 {
        let code = exit.code();
        if self.config.success_exit_codes.contains(&code) {
            0
        } else {
            code
        }
    }

    pub(crate) fn set_state(&mut self, state: State) {
        if self.snapshot.state != state {
            emit!(debug, Event::StateChanged, state = ?state, "state changed to {state:?}");
            self.snapshot.state = state;
            self.write_status();
        }
    }

    fn write_status(&mut self) {
        self.status.write(&self.snapshot);
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

fn health_name(health: Health) -> &'static str {
    match health {
        Health::Unknown => "unknown",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
    }
}

/// Resolves at the deadline, or never without one (so a `select!` branch stays idle).
async fn overdue(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
