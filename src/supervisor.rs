//! The supervisor loop: the one owner of the lifecycle state. It starts the child, reacts
//! to signals, health verdicts, requests and the child's exit, and hands over to the
//! restart (`restarts.rs`) and shutdown (`shutdown.rs`) sequences, which are part of the
//! same owner. Other tasks only send it events (signals through the pump, exits through
//! the reaper, verdicts from the health task, requests from the control socket).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};

use crate::child::Child;
use crate::config::{Config, SignalTarget};
use crate::control::{self, Ask, Request, Verdict};
use crate::duration::format_duration;
use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::health::{self, CheckResult, HealthTask};
use crate::policy::{Backoff, Health, HealthTracker, Ladder, Step};
use crate::probe::Probe;
use crate::process::signals::Signals;
use crate::process::spawn::{Credentials, Isolation, SpawnSpec};
use crate::process::sweep::Scope;
use crate::process::{Exit, Reaper};
use crate::report;
use crate::signals::signal_name;
use crate::status::{Snapshot, State, StatusFile};

pub struct Supervisor {
    pub(crate) config: Config,
    pub(crate) reaper: Arc<Reaper>,
    pub(crate) signals: Signals,
    pub(crate) scope: Scope,
    /// Opened at the first write, once the child is on its way (see `after_first_spawn`).
    status: Option<StatusFile>,
    pub(crate) snapshot: Snapshot,
    pub(crate) spec: SpawnSpec,
    /// The health check task while the child runs; None without TEND_HEALTH_CHECK.
    pub(crate) health: Option<HealthTask>,
    pub(crate) tracker: HealthTracker,
    ladder: Ladder,
    /// While `starting` with a health check: when the first pass is overdue.
    startup_deadline: Option<tokio::time::Instant>,
    /// Why tend must stop, when a stop signal or `tend stop` came while a restart was
    /// stopping the child.
    pub(crate) stop_requested: Option<Cause>,
    /// Restarts counted for TEND_RESTART_MAX_ATTEMPTS and the backoff delay.
    pub(crate) backoff: Backoff,
    /// Set by a failure that tend acted on; cleared (with `recovery_completed`) once the
    /// child is healthy again.
    pub(crate) recovering: bool,
    /// Every change of the snapshot, for the HTTP endpoints and the control socket.
    snapshots: watch::Sender<Snapshot>,
    /// Requests from the control socket, each judged by `judge_request` in order.
    pub(crate) requests: mpsc::UnboundedReceiver<Request>,
    /// Kept so that `requests` never closes, and cloned for whoever may send requests.
    requests_tx: mpsc::UnboundedSender<Request>,
    /// Answers given but perhaps not yet written to their clients (see `answers_written`).
    answering: Vec<oneshot::Receiver<()>>,
    /// Milliseconds from tend's start to the first `startup_completed`, for the report.
    startup_ms: Option<u64>,
    /// Start-up work that waits until the first child has been spawned.
    after_first_spawn: Option<AfterSpawn>,
}

/// Work that `run` does once, right after the first spawn (whether it worked or not).
pub type AfterSpawn = Box<dyn FnOnce(&mut Supervisor)>;

/// How long tend waits, as it exits, for the control socket to write the answers given.
const ANSWER_GRACE: Duration = Duration::from_millis(500);

/// Why the supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A stop signal while the child runs: drain it.
    Signal(i32),
    /// `tend stop` while the child runs: drain it as a TERM would (no signal came).
    StopRequested,
    /// The remediation ladder reached `exit`, or the restarts ran out while unhealthy:
    /// stop the child.
    Unhealthy,
    /// No child runs any more: its last exit and why tend ends.
    Done(Exit, Cause),
    /// A (re)start could not start the child; tend exits with this code.
    SpawnFailed(i32),
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
}

impl Cause {
    pub fn name(self) -> String {
        match self {
            Cause::ChildExited => "child_exited".into(),
            Cause::Signal(sig) => format!("signal_{}", signal_name(sig)),
            Cause::StopRequested => "stop_requested".into(),
            Cause::Unhealthy => "unhealthy".into(),
            Cause::RestartsExhausted { .. } => "restarts_exhausted".into(),
        }
    }
}

impl Supervisor {
    pub fn new(
        config: Config,
        argv: Vec<OsString>,
        reaper: Arc<Reaper>,
        signals: Signals,
        has_tty: bool,
    ) -> Self {
        let isolation = match config.signal_target {
            // setsid would take the terminal away from the child; a group keeps job control.
            SignalTarget::Group if !has_tty => Isolation::Session,
            _ => Isolation::ProcessGroup,
        };
        let spec = SpawnSpec {
            isolation,
            foreground: has_tty,
            no_new_privs: config.security.no_new_privs,
            ..SpawnSpec::new(argv)
        };
        let restart = &config.restart;
        let (requests_tx, requests) = mpsc::unbounded_channel();
        Supervisor {
            backoff: Backoff::new(restart.delay, restart.max_delay, restart.window),
            recovering: false,
            startup_ms: None,
            answering: Vec::new(),
            snapshots: watch::Sender::new(Snapshot::new()),
            requests,
            requests_tx,
            tracker: HealthTracker::new(config.health.thresholds),
            ladder: Ladder::new(config.health.remediation.clone()),
            stop_requested: None,
            startup_deadline: None,
            config,
            reaper,
            signals,
            scope: Scope::detect(),
            status: None,
            after_first_spawn: None,
            snapshot: Snapshot::new(),
            spec,
            health: None,
        }
    }

    /// The identity the child runs as (TEND_USER, resolved by the startup gate).
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Self {
        let no_new_privs = self.config.security.no_new_privs;
        self.spec.credentials = credentials.map(|c| Credentials { no_new_privs, ..c });
        self
    }

    /// Publishes the snapshots on a channel made earlier (the HTTP endpoints start
    /// before the startup gate).
    pub fn with_snapshots(mut self, snapshots: watch::Sender<Snapshot>) -> Self {
        snapshots.send_replace(self.snapshot.clone());
        self.snapshots = snapshots;
        self
    }

    /// Start-up work that can wait until the first child has been spawned (the control
    /// socket, the limits event): done then, it overlaps the child's exec on another core
    /// instead of delaying it, and the events still come before `child_started`.
    pub fn after_first_spawn(mut self, work: AfterSpawn) -> Self {
        self.after_first_spawn = Some(work);
        self
    }

    /// Every change of the status snapshot, as it happens.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.snapshots.subscribe()
    }

    /// Where requests to the supervisor go (`tend restart`, `tend stop`).
    pub fn requests(&self) -> mpsc::UnboundedSender<Request> {
        self.requests_tx.clone()
    }

    /// The status file in use, if any place was writable.
    pub fn status_path(&mut self) -> Option<&std::path::Path> {
        status_file(&mut self.status, &self.config).path()
    }

    /// Runs the child to the end and returns tend's exit code.
    pub async fn run(mut self) -> i32 {
        // In memory only: the file is written once the child runs (every write is a
        // rename, and start-up latency is what an init is judged by).
        self.note_state(State::Starting);
        let mut child = match self.start_child() {
            Ok(child) => child,
            Err(code) => return self.failed_start(code),
        };
        self.after_start(&child);
        let ending = self.supervise(&mut child).await;
        let ended = Instant::now();
        // No verdicts while draining: the child is expected to stop answering.
        self.health = None;
        let (exit, cause) = match ending {
            Ending::Done(exit, cause) => (exit, cause),
            Ending::Signal(sig) => (self.drain(&mut child, Some(sig)).await, Cause::Signal(sig)),
            Ending::StopRequested => (self.drain(&mut child, None).await, Cause::StopRequested),
            Ending::Unhealthy => (self.stop_unhealthy(&mut child).await, Cause::Unhealthy),
            Ending::SpawnFailed(code) => return self.failed_start(code),
        };
        if !matches!(ending, Ending::Done(..)) {
            self.record_child_exit(&child, exit);
        }
        let code = self.finish(exit, cause, ended).await;
        self.answers_written().await;
        code
    }

    /// Lets the control socket write the answers the supervisor gave (an accepted `tend
    /// stop` among them) before tend exits, for at most ANSWER_GRACE: the server task
    /// runs only when the supervisor waits, and a short shutdown may not wait at all.
    async fn answers_written(&mut self) {
        let deadline = tokio::time::Instant::now() + ANSWER_GRACE;
        for written in self.answering.drain(..) {
            let _ = tokio::time::timeout_at(deadline, written).await;
        }
    }

    /// The child could not be started: nothing to stop, tend exits with `code`.
    fn failed_start(&mut self, code: i32) -> i32 {
        let outcome = report::Outcome {
            exit_code: code,
            cause: "spawn_failed",
            startup_ms: None,
            shutdown_ms: None,
        };
        report::write(&self.config, &self.snapshot, &outcome);
        code
    }

    /// With a health check, the state stays `starting` until the first check passes;
    /// without one the child is `running` at once. One write of the file either way.
    pub(crate) fn after_start(&mut self, child: &Child) {
        self.start_health_checks();
        let ready = self.health.is_none();
        if ready {
            self.note_state(State::Running);
        }
        self.write_status();
        let program = self.spec.argv[0].to_string_lossy();
        emit!(info, Event::ChildStarted, pid = child.pid, command = %program,
            "started {program} as pid {}", child.pid);
        if ready {
            self.startup_completed(child.pid);
        }
    }

    /// Waits for the end of the supervision (a stop signal, an exit the restart policy
    /// does not restart, `exit` on the ladder), forwarding every other signal and taking
    /// the remediation steps and restarts on the way.
    async fn supervise(&mut self, child: &mut Child) -> Ending {
        loop {
            tokio::select! {
                exit = child.wait() => {
                    self.health = None;
                    self.record_child_exit(child, exit);
                    if let Err(ending) = self.after_exit(child, exit).await {
                        return ending;
                    }
                }
                Some(request) = self.requests.recv() => {
                    let Some(ask) = self.judge_request(request) else { continue };
                    if let Err(ending) = self.on_request(child, ask).await {
                        return ending;
                    }
                }
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

    /// Judges a request (`tend restart`, `tend stop`) in the current state and sends the
    /// verdict to the client's connection (and logs it). Some(ask) when it was accepted and the verdict
    /// delivered: the caller must carry it out now. A request whose connection stopped
    /// waiting (it was answered "busy") is dropped: it was not carried out, as it said.
    /// Every loop that waits for something while a request may come calls this, so that
    /// no request is left unanswered or silently dropped.
    pub(crate) fn judge_request(&mut self, request: Request) -> Option<Ask> {
        let ask = request.ask;
        let verdict = control::judge(ask, self.snapshot.state, self.snapshot.child_pid);
        let written = request.answer(verdict)?;
        self.answering
            .retain_mut(|w| matches!(w.try_recv(), Err(TryRecvError::Empty)));
        self.answering.push(written);
        matches!(verdict, Verdict::Accepted { .. }).then_some(ask)
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
        // The start-up grace is over: failures count from now on, at the normal interval.
        self.startup_deadline = None;
        if let Some(task) = &self.health {
            task.end_start_interval();
        }
        let timeout = self.config.health.startup_timeout;
        let step = self.ladder.take();
        emit!(
            error,
            Event::StartupTimeout,
            pid,
            timeout_ms = timeout.as_millis() as u64,
            step = step.as_ref().map(Step::name),
            "no health check passed within {}",
            format_duration(timeout)
        );
        // A failure tend does nothing about is told by `startup_timeout` alone.
        if let Some(step) = &step {
            self.failure_detected(pid, "startup_timeout", None);
            self.remediation_started(pid, step);
        }
        step
    }

    fn mark_running(&mut self, pid: i32) {
        self.set_state(State::Running);
        self.startup_completed(pid);
    }

    fn startup_completed(&mut self, pid: i32) {
        self.startup_deadline = None;
        emit!(info, Event::StartupCompleted, pid, "startup completed");
        self.startup_ms.get_or_insert_with(report::elapsed_ms);
        self.recovered(pid);
    }

    /// Ends a recovery: the child runs (and passes its check, with one) after a failure.
    fn recovered(&mut self, pid: i32) {
        if std::mem::take(&mut self.recovering) {
            emit!(
                info,
                Event::RecoveryCompleted,
                pid,
                restarts = self.snapshot.restarts,
                "recovered: pid {pid} is up and passing"
            );
        }
    }

    pub(crate) fn failure_detected(&mut self, pid: i32, reason: &str, exit_code: Option<i32>) {
        self.recovering = true;
        emit!(
            warn,
            Event::FailureDetected,
            pid,
            reason,
            exit_code,
            "failure detected: {reason}"
        );
    }

    fn remediation_started(&self, pid: i32, step: &Step) {
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

    /// Judges one check result; the first pass ends `starting`. Returns the remediation
    /// step now due, if any.
    fn on_check(&mut self, child: &Child, check: CheckResult) -> Option<Step> {
        let since_start = child.started.elapsed();
        // Starting and within TEND_STARTUP_TIMEOUT: failures do not count.
        let starting = self.startup_deadline.is_some();
        let before = self.tracker.health;
        let changed = self
            .tracker
            .record_in(check.result.is_ok(), since_start, starting);
        self.snapshot.health = self.tracker.health;
        self.snapshot.consecutive_failures = self.tracker.consecutive_failures;
        self.snapshot.last_check_at = Some(crate::events::rfc3339_millis(check.at));
        self.snapshot.last_error = check
            .result
            .as_ref()
            .err()
            .map(|e| crate::redact::text(&e.0));
        self.snapshot.last_check_duration_ms = Some(check.duration.as_millis() as u64);
        match check.result {
            Ok(()) => self.snapshot.checks_passed += 1,
            Err(_) => self.snapshot.checks_failed += 1,
        }
        // The file first: whoever acts on the events below must find it up to date.
        self.write_status();
        self.report_check(&check, self.tracker.counts(since_start, starting));
        if let Some(health) = changed {
            emit!(
                info,
                Event::HealthStateChanged,
                from = before.name(),
                to = health.name(),
                consecutive_failures = self.tracker.consecutive_failures,
                "health changed from {} to {}",
                before.name(),
                health.name()
            );
            // With no remediation step left, `health_state_changed` tells it all.
            if health == Health::Unhealthy && self.ladder.has_next() {
                self.failure_detected(child.pid, "unhealthy", None);
            }
        }
        if check.result.is_ok() && self.snapshot.state == State::Starting {
            self.mark_running(child.pid);
        }
        self.next_step(child.pid)
    }

    fn next_step(&mut self, pid: i32) -> Option<Step> {
        let step = self.ladder.after_check(&self.tracker);
        if self.tracker.health == Health::Healthy {
            self.recovered(pid);
        }
        if let Some(step) = &step {
            self.remediation_started(pid, step);
        }
        step
    }

    /// Takes a remediation step; an error ends the run.
    async fn remediate(&mut self, child: &mut Child, step: Option<Step>) -> Result<(), Ending> {
        match step {
            Some(Step::Exit) => Err(Ending::Unhealthy),
            Some(Step::Restart) => self.restart_unhealthy(child).await,
            Some(Step::Exec(command)) => self.run_remediation(child, &command).await,
            None => Ok(()),
        }
    }

    /// An `exec:` step: runs the command (as TEND_USER, within TEND_HEALTH_TIMEOUT) while
    /// signals keep being forwarded; a stop signal ends the run at once.
    async fn run_remediation(&mut self, child: &mut Child, command: &Probe) -> Result<(), Ending> {
        let timeout = self.config.health.timeout;
        let credentials = self.spec.credentials.clone();
        let reaper = self.reaper.clone();
        let run = command.run_step_as(timeout, &reaper, credentials.as_ref());
        tokio::pin!(run);
        let result = loop {
            tokio::select! {
                result = &mut run => break result,
                Some(sig) = self.signals.recv() => {
                    if self.config.is_stop_signal(sig) {
                        return Err(Ending::Signal(sig));
                    }
                    self.forward(child, sig);
                }
            }
        };
        if let Err(error) = result {
            emit!(warn, Event::RemediationFailed, pid = child.pid, step = "exec", error = %error,
                "remediation command {command} failed: {error}");
        }
        Ok(())
    }

    /// A failure that does not count (starting, or within the start period) is expected
    /// and logged at debug; one that counts at warn.
    fn report_check(&self, check: &CheckResult, counted: bool) {
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
        let failures = self.tracker.consecutive_failures;
        if counted {
            emit!(warn, Event::HealthCheckFailed, error = %error, consecutive_failures = failures,
                counted, duration_ms, "health check failed ({failures} in a row): {error}");
        } else {
            emit!(debug, Event::HealthCheckFailed, error = %error, consecutive_failures = failures,
                counted, duration_ms, "health check failed, not counted (starting or in the start period): {error}");
        }
    }

    pub(crate) fn start_child(&mut self) -> Result<Child, i32> {
        let program = self.spec.argv[0].to_string_lossy().into_owned();
        let spawned = self.reaper.spawn(&self.spec);
        if let Some(work) = self.after_first_spawn.take() {
            work(self);
        }
        if spawned.is_ok() {
            crate::process::leave_workdir();
        }
        match spawned {
            Ok(started) => {
                let child = Child::new(started);
                crate::crash::set_child(child.pid);
                self.snapshot.child_pid = Some(child.pid);
                Ok(child)
            }
            Err(error) => {
                let code = error.exit_code();
                let message = error.message(&program);
                emit!(error, Event::SpawnFailed, command = %program, reason = error.reason(),
                    exit_code = code, error = %error.error(), "{message}");
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

    /// Sends the stop signal when tend stops the child on its own account (a restart,
    /// `tend stop`, the remediation `exit`): TERM after rewriting, as a received TERM
    /// would go, logged without `received` since none was.
    pub(crate) fn send_stop(&mut self, child: &mut Child) {
        let sig = self.config.rewrite(libc::SIGTERM);
        let group = self.config.signal_target == SignalTarget::Group;
        if child.signal(sig, group) {
            emit!(info, Event::SignalForwarded, pid = child.pid, signal = %signal_name(sig),
                "sent {} to {}{} to stop it", signal_name(sig), if group { "process group " } else { "pid " }, child.pid);
        }
    }

    /// Logs a child's exit and keeps it as the snapshot's last exit.
    pub(crate) fn record_child_exit(&mut self, child: &Child, exit: Exit) {
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

    /// Cleans up what is left after the child's last exit and maps it to tend's code.
    async fn finish(&mut self, exit: Exit, cause: Cause, ended: Instant) -> i32 {
        self.snapshot.child_pid = None;
        let grace = self.leftover_grace(cause, ended);
        // Written by the sweep only if something is left to wait for.
        self.note_state(State::Stopping);
        self.sweep(grace).await;
        crate::startup::post_stop(&self.config, &self.reaper).await;
        self.set_state(State::Stopped);
        let code = match cause {
            Cause::Unhealthy | Cause::RestartsExhausted { unhealthy: true } => {
                ExitCode::Unhealthy as i32
            }
            _ => self.exit_code(exit),
        };
        let reason = cause.name();
        let duration_ms = ended.elapsed().as_millis() as u64;
        emit!(info, Event::ShutdownCompleted, exit_code = code, child_exit_code = exit.code(),
            reason = %reason, duration_ms, "exiting with code {code}");
        let outcome = report::Outcome {
            exit_code: code,
            cause: &reason,
            startup_ms: self.startup_ms,
            shutdown_ms: Some(duration_ms),
        };
        report::write(&self.config, &self.snapshot, &outcome);
        code
    }

    /// The processes left behind get one short grace between TERM and KILL, whatever
    /// ended the child (s6-overlay gives them 3 s, as TEND_LEFTOVER_GRACE does). After a
    /// stop it also fits in what is left of the stop's own budget (drain delay + shutdown
    /// timeout, counted from the stop), which users size against their orchestrator's
    /// grace: a slow child must not push tend's exit past it.
    fn leftover_grace(&self, cause: Cause, stopped_at: Instant) -> Duration {
        let budget = match cause {
            Cause::Signal(_) | Cause::StopRequested => {
                self.config.drain_delay + self.config.shutdown_timeout
            }
            Cause::Unhealthy => self.config.shutdown_timeout,
            Cause::ChildExited | Cause::RestartsExhausted { .. } => {
                return self.config.bounded_leftover_grace()
            }
        };
        let left = budget.saturating_sub(stopped_at.elapsed());
        self.config.bounded_leftover_grace().min(left)
    }

    pub(crate) fn exit_code(&self, exit: Exit) -> i32 {
        let code = exit.code();
        if self.config.success_exit_codes.contains(&code) {
            0
        } else {
            code
        }
    }

    pub(crate) fn set_state(&mut self, state: State) {
        if self.note_state(state) {
            self.write_status();
        }
    }

    /// Changes the state without writing the file (the caller writes it soon after);
    /// true when it changed.
    pub(crate) fn note_state(&mut self, state: State) -> bool {
        if self.snapshot.state == state {
            return false;
        }
        // The status file's word (`running`), never the Rust name (`Running`).
        emit!(
            debug,
            Event::StateChanged,
            state = state.name(),
            "state changed to {}",
            state.name()
        );
        self.snapshot.state = state;
        self.publish();
        true
    }

    pub(crate) fn write_status(&mut self) {
        self.snapshot.with_start_ticks();
        self.publish();
        status_file(&mut self.status, &self.config).write(&self.snapshot);
    }

    /// Hands the snapshot, stamped, to the HTTP endpoints and the control socket.
    fn publish(&mut self) {
        self.snapshot.updated_at = crate::events::rfc3339_millis(std::time::SystemTime::now());
        self.snapshots.send_replace(self.snapshot.clone());
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

/// The status file, chosen (and its directory made) on first use: a free function over
/// the two fields, so that the snapshot can be borrowed beside it.
fn status_file<'a>(status: &'a mut Option<StatusFile>, config: &Config) -> &'a mut StatusFile {
    status.get_or_insert_with(|| StatusFile::open(config.status_file.as_deref()))
}

/// Resolves at the deadline, or never without one (so a `select!` branch stays idle).
async fn overdue(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
