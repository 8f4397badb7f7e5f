//! The supervisor: one loop owns the lifecycle state. The edges (`edges.rs`) turn what
//! happens into one `Input`; `step` (`step.rs`, with `child.rs` and `checks.rs`), pure,
//! returns the next state and the `Action`s; the edges carry them out. Nothing else
//! decides anything about the run.
//!
//! ```text
//! loop {
//!     let input = edges.next().await;           // exit, signal, request, verdict, timer, job
//!     let (next, actions) = step(state, input, now);
//!     state = next;
//!     edges.execute(&state, actions);           // spawn, signal, kill, timer, status, event, exit
//! }
//! ```

mod action;
mod checks;
mod child;
mod edges;
mod input;
mod notes;
mod step;
mod sweep;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Config, SignalTarget};
use crate::process::signals::Signals;
use crate::process::spawn::{Credentials, Isolation, SpawnSpec};
use crate::process::Reaper;
use crate::status::Snapshot;

pub use edges::AfterSpawn;
use edges::Edges;
use input::{Input, Now};
use step::{step, State};

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
    let spec = spec(&config, setup.argv, setup.has_tty, setup.credentials);
    let command = spec.argv[0].to_string_lossy().into_owned();
    let snapshot = setup.snapshots.borrow().clone();
    let began = crate::report::started();
    let mut state = State::new(config.clone(), snapshot, command, began);
    let mut edges = Edges::new(
        config,
        setup.reaper,
        setup.signals,
        spec,
        setup.snapshots,
        setup.after_first_spawn,
    );
    edges.push(Input::Begin {
        failed: setup.checked.err(),
    });
    loop {
        let input = edges.next().await;
        let (next, actions) = step(state, input, Now::read());
        state = next;
        if let Some(code) = edges.execute(&state, actions) {
            edges.answers_written().await;
            return code;
        }
    }
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
