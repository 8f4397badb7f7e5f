//! The supervisor: one loop owns the lifecycle state. The edges (`edges.rs`) turn what
//! happens into one `Input`; `step` (`step.rs`, with `child.rs` and `checks.rs`), pure,
//! returns the next state and the `Action`s; the edges carry them out. Nothing else
//! decides anything about the run.
//!
//! ```text
//! loop {
//!     let (unit, input) = edges.next().await;   // exit, signal, request, verdict, timer, job
//!     let actions = run.step(unit, input, now); // `step` of that lifecycle, then the graph
//!     edges.execute(&run, actions);             // spawn, signal, kill, timer, status, event, exit
//! }
//! ```
//!
//! With services (`run.rs`) each is one more `State` in the role `Service`: the same
//! transitions, tied to the main command's by the dependency graph.

mod action;
mod checks;
mod child;
mod edges;
mod input;
mod notes;
mod run;
mod step;
mod sweep;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::services::Output;
use crate::config::{Config, SignalTarget};
use crate::process::signals::Signals;
use crate::process::spawn::{Credentials, Isolation, SpawnSpec};
use crate::process::Reaper;
use crate::status::Snapshot;

pub use edges::AfterSpawn;
use edges::{Edges, Slot};
use input::{Input, Now};
use run::{Run, MAIN_UNIT};
use step::{Role, State};

/// What the run is given by `main`.
pub struct Setup {
    pub config: Config,
    pub argv: Vec<OsString>,
    pub reaper: Arc<Reaper>,
    pub signals: Signals,
    pub has_tty: bool,
    /// The identity the child runs as (TEND_USER, resolved by the startup gate).
    pub credentials: Option<Credentials>,
    /// The snapshot channel, made early so that the HTTP endpoints answer during the gate.
    pub snapshots: watch::Sender<Snapshot>,
    /// The startup gate's environment checks: Err(code) when they failed.
    pub checked: Result<(), i32>,
    pub after_first_spawn: Option<AfterSpawn>,
}

/// Runs the whole lifecycle, from the dependency wait to the exit, and returns tend's
/// exit code.
pub async fn run(setup: Setup) -> i32 {
    let config = Arc::new(setup.config);
    let has_command = !setup.argv.is_empty();
    let main_spec = spec(&config, setup.argv, setup.has_tty, setup.credentials);
    let command = main_spec
        .argv
        .first()
        .map_or_else(String::new, |p| p.to_string_lossy().into_owned());
    let snapshot = setup.snapshots.borrow().clone();
    let began = crate::report::started();
    let main = State::new(config.clone(), snapshot, command, began);
    let mut slots = vec![Slot::new(None, None, config.clone(), main_spec)];
    let mut units = Vec::new();
    let prefixed = config
        .services
        .iter()
        .filter(|s| s.output == Output::Prefix);
    let width = prefixed.map(|s| s.name.len()).max().unwrap_or(0);
    for service in &config.services {
        let lifecycle = Arc::new(service.lifecycle_config(&config));
        let argv = service.command.iter().map(OsString::from).collect();
        let credentials = service_credentials(service);
        let spec = SpawnSpec {
            cwd: service.workdir.clone(),
            env: service.env.clone(),
            ..spec(&lifecycle, argv, false, credentials)
        };
        let prefix = (service.output == Output::Prefix).then_some(width);
        let program = service.command.first().cloned().unwrap_or_default();
        let mut state = State::new(lifecycle.clone(), Snapshot::new(), program, began);
        state.role = Role::Service {
            oneshot: service.oneshot,
        };
        units.push(state);
        slots.push(Slot::new(Some(&service.name), prefix, lifecycle, spec));
    }
    let mut run = Run::new(main, has_command, units);
    let mut edges = Edges::new(
        config,
        setup.reaper,
        setup.signals,
        slots,
        setup.snapshots,
        setup.after_first_spawn,
    );
    edges.push(
        MAIN_UNIT,
        Input::Begin {
            failed: setup.checked.err(),
        },
    );
    loop {
        let (unit, input) = edges.next().await;
        let actions = run.step(unit, input, Now::read());
        if let Some(code) = edges.execute(&run, actions) {
            edges.answers_written().await;
            return code;
        }
    }
}

/// The identity a service runs as: its TEND_SERVICE_<NAME>_USER (or TEND_USER), looked up
/// now; the startup gate has checked that it resolves.
fn service_credentials(service: &crate::config::services::ServiceConfig) -> Option<Credentials> {
    let user = service.user.as_ref()?;
    crate::users::resolve(user).ok()
}

/// How the child is started: its own process group (or session), the terminal's
/// foreground with one, TEND_USER and TEND_NO_NEW_PRIVILEGES.
fn spec(
    config: &Config,
    argv: Vec<OsString>,
    has_tty: bool,
    credentials: Option<Credentials>,
) -> SpawnSpec {
    let isolation = match config.signal_target {
        // setsid would take the terminal away from the child; a group keeps job control.
        SignalTarget::Group if !has_tty => Isolation::Session,
        _ => Isolation::ProcessGroup,
    };
    let no_new_privs = config.security.no_new_privs;
    SpawnSpec {
        isolation,
        foreground: has_tty,
        no_new_privs,
        credentials: credentials.map(|c| Credentials { no_new_privs, ..c }),
        ..SpawnSpec::new(argv)
    }
}
