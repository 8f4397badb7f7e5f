//! tend: a small, capable init for containers. `main` only picks the subcommand and maps
//! its outcome to an exit code; each stage lives in its own module.
//!
//! std's runtime starts tend as any program (SIGPIPE ignored, fds 0-2 opened on /dev/null
//! when closed, a guard for stack overflows). Until tend was linked with musl it was
//! skipped (`no_main`) to hold the start-up target; with musl the target holds with it
//! (figures in docs/benchmark.md).

mod check_config;
mod cli;
mod config;
mod control;
mod crash;
mod duration;
mod events;
mod exit_code;
mod fsafe;
mod health;
mod http;
mod policy;
mod probe;
mod process;
mod readiness;
mod redact;
mod report;
mod services;
mod shown;
mod signals;
mod startup;
mod status;
mod stdout;
mod supervisor;
mod sys;
mod users;
mod words;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::sync::Arc;

use cli::Command;
use config::Config;
use events::Event;
use exit_code::ExitCode;

fn main() {
    // std's start has set SIGPIPE to ignored: a write to a stderr nobody reads any more
    // fails with EPIPE instead of killing tend. Children get it back at default (see
    // `process`).
    let code = tend(std::env::args_os().skip(1).collect());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    std::process::exit(code);
}

#[cfg_attr(test, allow(dead_code))]
fn tend(mut args: Vec<OsString>) -> libc::c_int {
    let target = match cli::take_pid(&mut args) {
        Ok(target) => target,
        Err(message) if args.first().is_some_and(|w| w == "health") => {
            // A healthcheck reads only 0 and 1: a usage error is a plain no.
            outln!("tend health: {message}");
            return ExitCode::No as i32;
        }
        Err(message) => {
            eprintln!("tend: {message}\nRun `tend --help` for usage.");
            return ExitCode::Usage as i32;
        }
    };
    let code = match cli::parse(args) {
        Ok(Command::Run(argv)) => exit_now(run(argv)),
        Ok(Command::CheckConfig(json)) => check_config::main(environment(), json),
        Ok(Command::Status(table)) => print_status(target, table),
        Ok(Command::Control(verb)) => control::main(verb, target),
        Ok(Command::Health(Ok(question))) => readiness::main(question, target),
        Ok(Command::Health(Err(message))) => {
            // A healthcheck reads only 0 and 1: a usage error is a plain no.
            outln!("tend health: {}", redact::text(&message));
            ExitCode::No as i32
        }
        Ok(Command::Wait(args)) => wait(args),
        Ok(Command::Help) => {
            out!("{}", cli::help());
            0
        }
        Ok(Command::Version) => {
            // What a bug report and a scanner need: the release, the exact source and the
            // architecture (build.rs). The first word after `tend` stays the version.
            outln!(
                "tend {} (commit {}, {})",
                env!("CARGO_PKG_VERSION"),
                env!("BUILD_TEND_COMMIT"),
                env!("BUILD_TEND_TARGET")
            );
            0
        }
        Err(message) => {
            // The message may repeat an argument, and an argument may be a URL.
            let message = redact::text(&message);
            eprintln!("tend: {message}\nRun `tend --help` for usage.");
            ExitCode::Usage as i32
        }
    };
    u8::try_from(code).map_or(1, libc::c_int::from)
}

/// tend's own variables (`TEND_*`), the only ones the configuration reads.
fn environment() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(name, _)| name.as_encoded_bytes().starts_with(b"TEND_"))
        .collect()
}

/// Reads the configuration, reporting every problem as a `config_invalid` event.
fn load_config(sources: config::Sources) -> Result<Config, i32> {
    let (config, errors) = sources.config();
    if errors.is_empty() {
        return Ok(config);
    }
    for error in &errors {
        emit!(error, Event::ConfigInvalid, variable = %error.variable, "{error}");
    }
    emit!(
        error,
        Event::ConfigInvalid,
        count = errors.len(),
        "{} invalid TEND_* setting(s); nothing was started",
        errors.len()
    );
    Err(ExitCode::Config as i32)
}

/// The command after `--` may be left out only when services run (then they alone do).
fn missing_command(argv: &[OsString], config: &Config) -> Option<i32> {
    if !argv.is_empty() || !config.services.is_empty() {
        return None;
    }
    eprintln!(
        "tend: no command after `--`: use `tend -- CMD [ARGS...]`, or declare services (TEND_SERVICE_<NAME>)"
    );
    Some(ExitCode::Usage as i32)
}

fn run(argv: Vec<OsString>) -> i32 {
    report::mark_start();
    let sources = config::Sources::read(environment());
    let (format, level) = sources.logging();
    events::init(format == config::LogFormat::Json, &level);
    crash::install();
    let config = match load_config(sources) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if let Some(code) = missing_command(&argv, &config) {
        return code;
    }
    report::prepare(&config);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let code = runtime.block_on(supervise(config, argv));
    // Not dropped: tearing the tasks down would only free what the kernel frees anyway,
    // and would wait for any blocking thread still in a name lookup.
    std::mem::forget(runtime);
    control::remove_socket();
    code
}

/// Exits at once, without libc's exit handlers: in `run` everything tend writes goes out
/// unbuffered (stderr, the status file, the report) and stdout belongs to the child, so
/// there is nothing to flush, and the time from the child's exit to tend's is what an
/// init is judged by.
fn exit_now(code: i32) -> ! {
    sys::process::exit_now(u8::try_from(code).map_or(1, i32::from))
}

async fn supervise(config: Config, argv: Vec<OsString>) -> i32 {
    let pid1 = std::process::id() == 1;
    let program = match argv.first() {
        Some(program) => program.to_string_lossy().into_owned(),
        None => "(services only)".to_owned(),
    };
    emit!(info, Event::StartupInitiated, version = env!("CARGO_PKG_VERSION"), pid = std::process::id(),
        pid1, command = %program, "tend {} starting {program}", env!("CARGO_PKG_VERSION"));
    if !pid1 && config.subreaper {
        process::become_subreaper();
    }
    let has_tty = std::io::stdin().is_terminal();
    let reaper = Arc::new(process::Reaper::new());
    let signals = match process::signals::start(reaper.clone(), has_tty) {
        Ok(signals) => signals,
        Err(error) => {
            emit!(error, Event::InternalError, error = %error, "cannot install signal handlers: {error}");
            return ExitCode::Software as i32;
        }
    };
    // Published before the gate, so that the HTTP endpoints answer (live, not ready)
    // while dependencies are awaited.
    let snapshots = tokio::sync::watch::Sender::new(status::Snapshot::new());
    if let Some(addr) = config.interfaces.http_addr {
        http::start(addr, snapshots.subscribe(), reaper.clone());
    }
    if config.startup.takes_time() {
        // A liveness probe (`tend health --live`) must find tend alive while it waits.
        snapshots.send_modify(|snapshot| {
            snapshot.with_start_ticks();
        });
        status::StatusFile::open(config.status_file.as_deref()).write(&snapshots.borrow());
    }
    let (credentials, checked) = match startup::check(&config) {
        Ok(credentials) => (credentials, Ok(())),
        Err(code) => (None, Err(code)),
    };
    let interfaces = config.interfaces.clone();
    let limits_pending = !startup::limits_needed(&config);
    let after_first_spawn: supervisor::AfterSpawn = Box::new(move |started| {
        if limits_pending {
            startup::report_limits();
        }
        control::start(
            &interfaces,
            started.status_path,
            started.snapshots,
            started.requests,
        );
    });
    let code = supervisor::run(supervisor::Setup {
        config,
        argv,
        reaper,
        signals,
        has_tty,
        credentials,
        snapshots,
        checked,
        after_first_spawn: Some(after_first_spawn),
    })
    .await;
    // A subcommand is a bare word: a path that was not found is no mistyped one.
    if let Some(hint) = (code == ExitCode::NotFound as i32 && !program.contains('/'))
        .then(|| cli::subcommand_hint(&program))
        .flatten()
    {
        emit!(
            error,
            Event::SpawnFailed,
            hint,
            "did you mean `tend {hint}`?"
        );
    }
    code
}

/// `tend wait`: the dependency wait on its own, then exec the command (if any) in
/// tend's place, so that it keeps tend's pid (PID 1 stays the command in a container).
fn wait(args: cli::WaitArgs) -> i32 {
    let (format, level) = config::Sources::read(environment()).logging();
    events::init(format == config::LogFormat::Json, &level);
    crash::install();
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let code = runtime.block_on(startup::wait_standalone(&args.probes, args.timeout));
    // A probe's name lookup may still sit in a blocking thread: do not wait for it.
    runtime.shutdown_background();
    if code != 0 || args.command.is_empty() {
        return code;
    }
    startup::exec(&args.command)
}

fn print_status(target: status::place::Target, table: bool) -> i32 {
    let path = match status::place::locate(target) {
        Ok(found) => found.path,
        Err(reason) => {
            eprintln!("tend: {reason}");
            return ExitCode::No as i32;
        }
    };
    let text = match status::place::read_text(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "tend: no status file at {}; is tend running here? Name a tend with \
                 --pid PID or TEND_STATUS_FILE",
                path.display()
            );
            return ExitCode::No as i32;
        }
        Err(error) if error.raw_os_error() == Some(libc::EISDIR) => {
            eprintln!("tend: {} is a directory, not a status file", path.display());
            return ExitCode::No as i32;
        }
        Err(error) => {
            eprintln!(
                "tend: cannot read the status file {}: {error}",
                path.display()
            );
            return ExitCode::No as i32;
        }
    };
    let format = if table {
        status::Format::Table
    } else {
        status::Format::Json
    };
    match status::shown(&text, status::writer_alive, format) {
        Ok(status::Shown::Current(document)) => {
            out!("{document}");
            0
        }
        Ok(status::Shown::Stale(document, reason)) => {
            out!("{document}");
            eprintln!(
                "tend: the status file {} {reason}; name another tend with --pid PID or \
                 TEND_STATUS_FILE",
                path.display()
            );
            ExitCode::No as i32
        }
        Err(reason) => {
            eprintln!("tend: the status file {} {reason}", path.display());
            ExitCode::No as i32
        }
    }
}

/// The current-thread runtime: an init has no use for a thread pool.
fn runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            emit!(error, Event::InternalError, error = %error, "cannot start the runtime: {error}");
            ExitCode::Software as i32
        })
}
