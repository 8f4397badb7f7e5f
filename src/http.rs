//! TEND_HTTP_ADDR: `/livez`, `/readyz`, `/healthz`, `/status` and `/metrics` (Prometheus
//! text), answered from the supervisor's snapshots. Never touches the lifecycle state.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::process::Reaper;
use crate::status::Snapshot;

/// Starts serving in the background. (Being built: see issue 4.)
pub fn start(_addr: SocketAddr, _snapshots: watch::Receiver<Snapshot>, _reaper: Arc<Reaper>) {}
