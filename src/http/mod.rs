//! TEND_HTTP_ADDR: `/livez`, `/readyz`, `/healthz`, `/status` and `/metrics` (Prometheus
//! text), answered from the supervisor's snapshots. Never touches the lifecycle state.
//!
//! An init must not be taken down by its own status port: connections are bounded in
//! number and in lifetime (one request each, a few seconds at most), request bodies are
//! never read, and nothing here can panic on what a client sends. Nor can its probes be
//! starved: a connection must send its request head within HEAD_DEADLINE, and when every
//! slot is taken a new connection takes the slot of the one that has waited longest for
//! its request (waiting.rs).

mod metrics;
mod routes;
mod waiting;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::emit;
use crate::events::Event;
use crate::process::Reaper;
use crate::report;
use crate::status::Snapshot;
use waiting::Waiting;

/// Connections open at once. Past this, a new connection sheds the oldest one still
/// waiting for its request, or (when all are being answered) waits for one to end.
const MAX_CONNECTIONS: usize = 32;
/// A connection is not shed this soon after it was accepted, so that its request has time
/// to arrive. Under a flood of silent connections, tend accepts MAX_CONNECTIONS per grace:
/// a probe behind 68 of them in the kernel's queue is answered in about 0.2 s.
const SHED_GRACE: Duration = Duration::from_millis(100);
/// From accept to a complete request head (line and headers). Kubelet's probes, curl and
/// Prometheus send theirs at once; a silent or slow client gives its slot back after this.
const HEAD_DEADLINE: Duration = Duration::from_secs(1);
/// The most a connection may live, from accept to the end of its one response: a client
/// that does not read the response is cut off after this.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Request line and headers beyond this are refused (hyper's minimum is 8 KiB).
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// After a failed accept (out of file descriptors, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the endpoints read from.
struct Source {
    snapshots: watch::Receiver<Snapshot>,
    reaper: Arc<Reaper>,
}

impl Source {
    /// The current snapshot; the supervisor stamps `updated_at` as it publishes it.
    fn snapshot(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }
}

/// Binds `addr` and serves in the background. A failed bind is reported (`http_failed`)
/// and the endpoints stay off; supervising goes on either way.
pub fn start(addr: SocketAddr, snapshots: watch::Receiver<Snapshot>, reaper: Arc<Reaper>) {
    let listener = match bind(addr) {
        Ok(listener) => listener,
        Err(error) => {
            emit!(error, Event::HttpFailed, addr = %addr, error = %error,
                "cannot listen on TEND_HTTP_ADDR={addr}: {error}; the HTTP endpoints are off, \
                 supervising goes on (expected a free address this container may bind)");
            return;
        }
    };
    let local = listener.local_addr().unwrap_or(addr);
    emit!(info, Event::HttpListening, addr = %local,
        "HTTP endpoints on http://{local} (/livez, /readyz, /healthz, /status, /metrics)");
    let source = Arc::new(Source { snapshots, reaper });
    tokio::spawn(serve(listener, source));
}

/// Binds at once (no await), so that `http_listening` or `http_failed` comes before the
/// startup gate's events. std sets SO_REUSEADDR, so a quick restart finds the port free.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

async fn serve(listener: TcpListener, source: Arc<Source>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let waiting = Arc::new(Waiting::default());
    let mut failing = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                failing = false;
                stream
            }
            Err(error) => {
                // Reported once per run of failures, so that a lack of descriptors
                // does not flood the log; the loop keeps trying.
                if !failing {
                    failing = true;
                    emit!(warn, Event::HttpFailed, error = %error,
                        "cannot accept an HTTP connection: {error}; retrying");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Never closed, so this only waits; a closed semaphore would end serving.
        let Some(slot) = make_room(&slots, &waiting).await else {
            return;
        };
        let (source, registry) = (source.clone(), waiting.clone());
        waiting.spawn(move |id| async move {
            connection(stream, source, &registry, id).await;
            drop(slot);
        });
    }
}

/// A slot for a connection just accepted: a free one, else the one of the connection that
/// has waited longest for its request (once past SHED_GRACE), else (all are being answered,
/// which takes milliseconds) the first to end. At most MAX_CONNECTIONS are open, plus
/// this one; the rest wait in the kernel's accept queue.
async fn make_room(slots: &Arc<Semaphore>, waiting: &Waiting) -> Option<OwnedSemaphorePermit> {
    loop {
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        // No connection enters `waiting` while this loop runs: with none there, only the
        // end of one being answered can free a slot.
        let Some(oldest) = waiting.oldest() else {
            return slots.clone().acquire_owned().await.ok();
        };
        tokio::select! {
            slot = slots.clone().acquire_owned() => return slot.ok(),
            () = tokio::time::sleep_until(oldest + SHED_GRACE) => {}
        }
        // Its slot comes back when its task drops, at the top of the loop or in the select.
        waiting.shed_oldest(SHED_GRACE);
    }
}

/// Serves one request on one connection: its head within HEAD_DEADLINE, the whole within
/// CONNECTION_TIMEOUT. Errors (a client that hangs up, sends garbage or is too slow) end
/// the connection and nothing else.
async fn connection(stream: TcpStream, source: Arc<Source>, waiting: &Waiting, id: u64) {
    // Removes `id` however the connection ends, aborted included.
    let _registered = Registered { waiting, id };
    let service = service_fn(move |request| {
        // The head is complete: this connection is being answered, not to be shed.
        waiting.remove(id);
        let response = answer(&request, &source);
        async move { Ok::<_, Infallible>(response) }
    });
    let mut builder = http1::Builder::new();
    builder.keep_alive(false).max_buf_size(MAX_HEADER_BYTES);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let head = tokio::time::timeout(HEAD_DEADLINE, served.as_mut()).await;
    // Done within the deadline, or still without a complete request head: closed.
    if head.is_ok() || waiting.contains(id) {
        return;
    }
    let _ = tokio::time::timeout(CONNECTION_TIMEOUT - HEAD_DEADLINE, served).await;
}

/// A connection's entry in `Waiting`, removed when the connection's future is dropped.
struct Registered<'a> {
    waiting: &'a Waiting,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.waiting.remove(self.id);
    }
}

fn answer(request: &Request<Incoming>, source: &Source) -> Response<Full<Bytes>> {
    let snapshot = source.snapshot();
    let view = routes::View {
        snapshot: &snapshot,
        uptime_seconds: report::elapsed_ms() as f64 / 1000.0,
        orphans_reaped: source.reaper.orphans_reaped(),
    };
    let reply = routes::respond(request.method(), request.uri().path(), &view);
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(allow) = reply.allow {
        headers.insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}
