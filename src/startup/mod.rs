//! The startup gate, between reading the configuration and starting the child: prove the
//! container can work or fail fast, in this order:
//! 1. log the CPU and memory limits, when TEND_MIN_MEMORY needs them (otherwise `main`
//!    logs them once the child has been spawned, so that reading cgroup files does not
//!    delay it);
//! 2. environment checks (TEND_USER, TEND_REQUIRE_ENV, TEND_ENSURE_DIRS, TEND_MIN_DISK_FREE,
//!    TEND_MIN_MEMORY), all failures reported together, exit 78;
//! 3. dependency waiting (TEND_WAIT_FOR, TEND_WAIT_OPTIONAL), exit 69;
//! 4. pre-start hooks (TEND_PRE_START), rolled back with TEND_POST_STOP, exit 71.
//!
//! 1 and 2 are here (`check`); 3 and 4 are phases of the supervisor's loop, which also
//! decides what a stop signal during them means (128 + signal, at once).

mod environment;
mod limits;
mod preview;
pub mod wait;

use std::sync::Arc;

use crate::config::Config;
use crate::emit;
use crate::events::Event;
use crate::exit_code::ExitCode;
use crate::process::spawn::Credentials;
use crate::process::Reaper;
use crate::signals::signal_name;

pub use environment::{writable_by, Failure};

/// The gate's checks of the container (1 and 2). `Ok` carries the identity the child
/// must run as (TEND_USER); `Err` the exit code tend must exit with.
pub fn check(config: &Config) -> Result<Option<Credentials>, i32> {
    let limits = limits_needed(config).then(|| {
        let limits = limits::detect();
        log_limits(&limits);
        limits
    });
    check_environment(config, limits.as_ref())
}

/// Resolves TEND_USER and runs every environment check; all failures are logged, then
/// the gate fails with 78.
fn check_environment(
    config: &Config,
    limits: Option<&limits::Limits>,
) -> Result<Option<Credentials>, i32> {
    let startup = &config.startup;
    let mut failures = Vec::new();
    let credentials = check_user(config, &mut failures);
    failures.extend(check_require_env(config));
    failures.extend(environment::ensure_dirs(
        &startup.ensure_dirs,
        credentials.as_ref(),
    ));
    failures.extend(check_resources(config, limits));
    let service_users = check_service_users(config);
    for (variable, message) in &service_users {
        emit!(error, Event::ConfigInvalid, variable = %variable, "{variable}: {message}");
    }
    if failures.is_empty() && service_users.is_empty() {
        return Ok(credentials);
    }
    for failure in &failures {
        let event = if failure.variable == "TEND_USER" {
            Event::ConfigInvalid
        } else {
            Event::EnvironmentInvalid
        };
        emit!(
            error,
            event,
            variable = failure.variable,
            "{}: {}",
            failure.variable,
            failure.message
        );
    }
    let count = failures.len() + service_users.len();
    emit!(
        error,
        Event::EnvironmentInvalid,
        count,
        "{count} startup check(s) failed; nothing was started"
    );
    Err(ExitCode::Config as i32)
}

/// `tend check-config`: every check of the gate's environment step, with the one that
/// changes something (TEND_ENSURE_DIRS creates and chowns) replaced by a prediction.
/// The dependency wait and the hooks are not run: they act on the world.
pub fn preview(config: &Config) -> Vec<Failure> {
    let limits = limits_needed(config).then(limits::detect);
    let mut failures = Vec::new();
    let credentials = check_user(config, &mut failures);
    failures.extend(check_require_env(config));
    failures.extend(preview::ensure_dirs(
        &config.startup.ensure_dirs,
        credentials.as_ref(),
    ));
    failures.extend(check_resources(config, limits.as_ref()));
    failures
}

/// TEND_USER resolved against /etc/passwd and /etc/group, and switchable to.
fn check_user(config: &Config, failures: &mut Vec<Failure>) -> Option<Credentials> {
    match config
        .startup
        .user
        .as_ref()
        .map(crate::users::resolve)
        .transpose()
    {
        Ok(credentials) => switchable(credentials, failures),
        Err(message) => {
            failures.push(Failure {
                variable: "TEND_USER",
                message,
            });
            None
        }
    }
}

/// Each service's own user (TEND_SERVICE_<NAME>_USER) resolved as TEND_USER is: the
/// variable and why not, for each that does not resolve.
fn check_service_users(config: &Config) -> Vec<(String, String)> {
    let own = |s: &&crate::config::services::ServiceConfig| s.user != config.startup.user;
    let services = config.services.iter().filter(own);
    services
        .filter_map(|service| {
            let message = crate::users::resolve(service.user.as_ref()?).err()?;
            Some((format!("{}_USER", service.variable), message))
        })
        .collect()
}

fn check_require_env(config: &Config) -> Option<Failure> {
    environment::missing_env(&config.startup.require_env, |name| std::env::var_os(name))
}

fn check_resources(config: &Config, limits: Option<&limits::Limits>) -> Vec<Failure> {
    let startup = &config.startup;
    let mut failures = environment::disk_free(&startup.min_disk_free);
    failures.extend(limits.and_then(|limits| environment::memory(startup.min_memory, limits)));
    failures
}

/// Switching users needs root; asking for the user tend already is needs no switch.
fn switchable(
    credentials: Option<Credentials>,
    failures: &mut Vec<Failure>,
) -> Option<Credentials> {
    let c = credentials?;
    let (euid, egid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    if euid == 0 {
        return Some(c);
    }
    if c.uid != euid || c.gid != egid {
        failures.push(Failure {
            variable: "TEND_USER",
            message: format!(
                "uid {} gid {} needs tend to run as root to switch to, but tend runs as uid {euid}",
                c.uid, c.gid
            ),
        });
    }
    None
}

/// Whether a check of the gate reads the limits (else they are only reported).
pub fn limits_needed(config: &Config) -> bool {
    config.startup.min_memory.is_some()
}

/// Reads the limits and reports them (`resource_limits`).
pub fn report_limits() {
    log_limits(&limits::detect());
}

fn log_limits(limits: &limits::Limits) {
    let cpu = limits.cpu_millis.map_or_else(
        || "unlimited".to_string(),
        |m| format!("{:.2}", m as f64 / 1000.0),
    );
    let memory = limits
        .memory_limit
        .map_or_else(|| "unlimited".to_string(), environment::human);
    emit!(info, Event::ResourceLimits,
        cgroup_version = limits.cgroup_version,
        cpu_limit = %cpu,
        cpus_online = limits.cpus_online,
        memory_limit_bytes = limits.memory_limit,
        memory_total_bytes = limits.memory_total,
        "limits: cpu {cpu} (cpus online {}), memory {memory} (machine {})",
        limits.cpus_online,
        limits.memory_total.map_or_else(|| "unknown".to_string(), environment::human));
}

/// `tend wait`: waits for `probes` with the default backoff; 0 when all passed, 69 when
/// one never did, 128 + N on a stop signal.
pub async fn wait_standalone(probes: &[crate::probe::Probe], timeout: std::time::Duration) -> i32 {
    let reaper = Arc::new(Reaper::new());
    let mut signals = match crate::process::signals::start(reaper.clone(), false) {
        Ok(signals) => signals,
        Err(error) => {
            emit!(error, Event::InternalError, error = %error, "cannot install signal handlers: {error}");
            return ExitCode::Software as i32;
        }
    };
    let defaults = crate::config::startup::StartupConfig::default();
    let settings = wait::Settings {
        timeout,
        interval_max: defaults.wait_interval_max,
        probe_timeout: defaults
            .wait_probe_timeout
            .min(timeout.max(std::time::Duration::from_millis(100))),
    };
    let is_stop = |sig| matches!(sig, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT);
    // One question, no lifecycle: the wait's end, or the first stop signal.
    tokio::select! {
        result = wait::dependencies(probes, &[], settings, &reaper) => match result {
            Ok(()) => 0,
            Err(wait::Unavailable) => ExitCode::Unavailable as i32,
        },
        sig = signals.first(is_stop) => {
            emit!(info, Event::ShutdownInitiated, signal = %signal_name(sig), reason = "signal_during_startup",
                "received {} during the dependency wait; the child will not start", signal_name(sig));
            128 + sig
        }
    }
}

/// Replaces tend with `argv` (PATH lookup as posix_spawnp does it, no shell: a script
/// without `#!` is not executable); returns only on failure, with the shell's code for
/// it (127 not found, 126 not executable).
pub fn exec(argv: &[std::ffi::OsString]) -> i32 {
    use crate::process::spawn::SpawnError;
    let Some(program) = argv.first() else {
        return 0;
    };
    let error = match crate::process::exec::program(argv, None) {
        Ok(executable) => {
            crate::process::signals::clean_for_exec();
            executable.exec()
        }
        Err(error) => error,
    };
    let error = SpawnError::from_io(error);
    let code = error.exit_code();
    let shown = program.to_string_lossy();
    let message = error.message(&shown);
    emit!(error, Event::SpawnFailed, command = %shown, reason = error.reason(), exit_code = code,
        error = %error.error(), "{message}");
    code
}
