//! Name lookups and connects bounded by a deadline. getaddrinfo blocks and cannot be
//! cancelled, so it runs in a detached thread of its own; at the deadline the probe stops
//! waiting for it (the thread ends whenever the resolver gives up, its answer unread).
//! Neither tokio's blocking pool (whose threads a runtime shutdown waits for) nor the
//! supervisor ever waits for a lookup past a deadline.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::ProbeError;
use crate::duration::format_duration;

/// Lookups abandoned at their deadline may pile up while a resolver hangs (one per check
/// or attempt): past this many still running, a probe fails at once instead of adding a
/// thread.
const MAX_PENDING: usize = 16;

static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Connects to `host:port` (an IP literal or a name), giving up at `deadline`.
pub async fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, ProbeError> {
    let addrs = lookup(host, port, deadline).await?;
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(error)) => last = Some(format!("cannot connect to {addr}: {error}")),
            Err(_) => return Err(ProbeError(format!("no answer from {addr} in time"))),
        }
    }
    Err(ProbeError(last.unwrap_or_else(|| {
        format!("{host} has no address to connect to")
    })))
}

/// The addresses of `host`, or an error naming it once `deadline` has passed.
pub async fn lookup(
    host: &str,
    port: u16,
    deadline: Instant,
) -> Result<Vec<SocketAddr>, ProbeError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let started = Instant::now();
    let answer = start(host.to_string(), port)
        .map_err(|e| ProbeError(format!("cannot look up {host}: {e}")))?;
    match tokio::time::timeout_at(deadline, answer).await {
        Ok(Ok(Ok(addrs))) => Ok(addrs),
        Ok(Ok(Err(error))) => Err(ProbeError(format!("cannot look up {host}: {error}"))),
        Ok(Err(_)) => Err(ProbeError(format!(
            "the lookup of {host} ended without an answer"
        ))),
        Err(_) => Err(ProbeError(format!(
            "the name lookup of {host} did not finish within {}",
            format_duration(deadline.saturating_duration_since(started))
        ))),
    }
}

type Answer = oneshot::Receiver<io::Result<Vec<SocketAddr>>>;

/// Starts one lookup in a detached thread.
fn start(host: String, port: u16) -> io::Result<Answer> {
    let pending = PENDING.fetch_add(1, Ordering::AcqRel);
    if pending >= MAX_PENDING {
        PENDING.fetch_sub(1, Ordering::AcqRel);
        return Err(io::Error::other(format!(
            "{pending} earlier name lookups are still unanswered (is the DNS server down?)"
        )));
    }
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("tend-lookup".into())
        // getaddrinfo needs little stack; many abandoned lookups must stay cheap.
        .stack_size(256 * 1024)
        .spawn(move || {
            let result = (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect);
            PENDING.fetch_sub(1, Ordering::AcqRel);
            // Nobody listens any more when the probe gave up: the answer is dropped.
            let _ = tx.send(result);
        });
    if let Err(error) = spawned {
        PENDING.fetch_sub(1, Ordering::AcqRel);
        return Err(error);
    }
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn literals_need_no_lookup() {
        let past = Instant::now() - Duration::from_secs(1);
        let addrs = lookup("127.0.0.1", 80, past).await.expect("literal");
        assert_eq!(addrs, ["127.0.0.1:80".parse::<SocketAddr>().expect("addr")]);
        let addrs = lookup("::1", 80, past).await.expect("literal");
        assert_eq!(addrs.len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn localhost_resolves() {
        let soon = Instant::now() + Duration::from_secs(30);
        assert!(!lookup("localhost", 80, soon)
            .await
            .expect("localhost")
            .is_empty());
    }
}
