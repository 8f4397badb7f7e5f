//! The control socket: `tend restart` and `tend stop` ask the running tend, over a unix
//! socket beside the status file (mode 0600, other users refused), to restart the child
//! or to begin the shutdown. The supervisor acts on the requests; this only relays them.

use std::path::Path;

use tokio::sync::{mpsc, watch};

use crate::config::lifecycle::InterfacesConfig;
use crate::status::Snapshot;
use crate::supervisor::Request;

/// Starts listening in the background. (Being built: see issue 4.)
pub fn start(
    _config: &InterfacesConfig,
    _status_path: Option<&Path>,
    _snapshots: watch::Receiver<Snapshot>,
    _requests: mpsc::UnboundedSender<Request>,
) {
}
