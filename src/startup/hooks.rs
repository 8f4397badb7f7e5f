//! Pre-start and post-stop hooks: commands run as root, in order, each bounded by the hook
//! timeout, their output on tend's stderr. A failing pre-start hook rolls back: the
//! post-stop commands run, then tend exits 71.

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::process::command::Helper;
use crate::process::signals::Signals;
use crate::process::spawn::SpawnSpec;
use crate::process::{Exit, Reaper};

/// How one hook ended, when not with exit code 0.
enum HookError {
    Exit(Exit),
    TimedOut,
    Spawn(String),
    /// A stop signal arrived; the hook was signalled and is gone.
    Stopped(i32),
}

/// Why the pre-start phase did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    Failed,
    Stopped(i32),
}

/// Runs TEND_PRE_START in order; on the first failure runs TEND_POST_STOP.
pub async fn pre_start(
    config: &Config,
    reaper: &Reaper,
    signals: &mut Signals,
) -> Result<(), Abort> {
    let hooks = &config.startup.pre_start;
    for (index, argv) in hooks.iter().enumerate() {
        let command = shown(argv);
        let started = Instant::now();
        emit!(info, Event::HookStarted, phase = "pre_start", index, command = %command, "running pre-start hook: {command}");
        let result = run(
            argv,
            config.startup.hook_timeout,
            reaper,
            Some((signals, config)),
        )
        .await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let Err(error) = result else {
            emit!(info, Event::HookCompleted, phase = "pre_start", index, command = %command, duration_ms,
                "pre-start hook done: {command}");
            continue;
        };
        // The event tells the code tend then exits with, as the gate picks it.
        let (abort, exit_code) = match error {
            HookError::Stopped(sig) => (Abort::Stopped(sig), Exit::Signaled(sig).code()),
            _ => (Abort::Failed, ExitCode::HookFailed as i32),
        };
        let reason = describe(&error, config.startup.hook_timeout);
        emit!(error, Event::HookFailed, phase = "pre_start", index, command = %command, duration_ms,
            reason = %reason, exit_code,
            "pre-start hook {command} failed: {reason}; running post-stop cleanup, the child will not start");
        post_stop(config, reaper).await;
        return Err(abort);
    }
    Ok(())
}

/// Runs TEND_POST_STOP in order. Each failure is logged and the next command still runs:
/// cleanup should do as much as it can.
pub async fn post_stop(config: &Config, reaper: &Reaper) {
    for (index, argv) in config.startup.post_stop.iter().enumerate() {
        let command = shown(argv);
        let started = Instant::now();
        emit!(info, Event::HookStarted, phase = "post_stop", index, command = %command, "running post-stop hook: {command}");
        let result = run(argv, config.startup.hook_timeout, reaper, None).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(()) => {
                emit!(info, Event::HookCompleted, phase = "post_stop", index, command = %command,
                duration_ms, "post-stop hook done: {command}")
            }
            Err(error) => {
                let reason = describe(&error, config.startup.hook_timeout);
                emit!(warn, Event::HookFailed, phase = "post_stop", index, command = %command,
                    duration_ms, reason = %reason, "post-stop hook {command} failed: {reason}")
            }
        }
    }
}

/// Runs one hook. With `signals`, a stop signal is passed on to the hook's process group,
/// which then gets up to the shutdown timeout to end before SIGKILL.
async fn run(
    argv: &[String],
    timeout: Duration,
    reaper: &Reaper,
    signals: Option<(&mut Signals, &Config)>,
) -> Result<(), HookError> {
    let spec = SpawnSpec::new(argv.iter().map(Into::into).collect());
    let mut helper = Helper::start(reaper, spec).map_err(|e| HookError::Spawn(e.to_string()))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let exit = match signals {
        None => tokio::time::timeout_at(deadline, helper.wait()).await.ok(),
        Some((signals, config)) => loop {
            tokio::select! {
                exit = tokio::time::timeout_at(deadline, helper.wait()) => break exit.ok(),
                Some(sig) = signals.recv() => {
                    if config.is_stop_signal(sig) {
                        return Err(stop_hook(&mut helper, sig, config.shutdown_timeout).await);
                    }
                    // Other signals go to the hook, as they would to the child.
                    helper.signal_group(config.rewrite(sig));
                }
            }
        },
    };
    match exit {
        Some(Exit::Code(0)) => Ok(()),
        Some(exit) => Err(HookError::Exit(exit)),
        None => {
            helper.kill().await;
            Err(HookError::TimedOut)
        }
    }
}

async fn stop_hook(helper: &mut Helper, sig: i32, grace: Duration) -> HookError {
    helper.signal_group(sig);
    if tokio::time::timeout(grace, helper.wait()).await.is_err() {
        helper.kill().await;
    }
    HookError::Stopped(sig)
}

fn describe(error: &HookError, timeout: Duration) -> String {
    match error {
        HookError::Exit(Exit::Code(code)) => format!("exited with code {code}"),
        HookError::Exit(Exit::Signaled(sig)) => format!("killed by signal {sig}"),
        HookError::TimedOut => format!(
            "still running after TEND_HOOK_TIMEOUT {timeout:?}; its process group was killed"
        ),
        HookError::Spawn(error) => format!("cannot be started: {error}"),
        HookError::Stopped(sig) => format!("stopped by signal {sig} received during startup"),
    }
}

fn shown(argv: &[String]) -> String {
    crate::redact::words(argv)
}
