//! The `http://` probe: one GET over a fresh HTTP/1.1 connection; 2xx and 3xx pass.
//! Redirects are not followed (a 3xx already shows the server is up and answering).

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use super::{bracket, HttpTarget, ProbeError};

/// One GET; the caller bounds the whole exchange by `deadline` (the connect, and its
/// name lookup, stop waiting at it too).
pub async fn get(target: &HttpTarget, deadline: Instant) -> Result<(), ProbeError> {
    let stream = super::resolve::connect(&target.host, target.port, deadline).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProbeError(format!("HTTP handshake failed: {e}")))?;
    let request = request(target)?;
    // The connection is driven here rather than spawned, so that a timeout (the caller's)
    // drops it together with the request instead of leaving a task behind.
    tokio::pin!(connection);
    let response = sender.send_request(request);
    tokio::pin!(response);
    let response = tokio::select! {
        biased;
        response = &mut response => response,
        // With `connection: close` the connection may end in the same poll that hands
        // over the response: the response future then still resolves with it.
        ended = &mut connection => match ended {
            Ok(()) => response.await,
            Err(e) => return Err(ProbeError(format!("HTTP connection failed: {e}"))),
        },
    }
    .map_err(|e| ProbeError(format!("no HTTP response: {e}")))?;
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        Ok(())
    } else {
        Err(ProbeError(format!("HTTP status {status}")))
    }
}

fn request(target: &HttpTarget) -> Result<Request<Empty<Bytes>>, ProbeError> {
    let host = match target.port {
        80 => bracket(&target.host),
        port => format!("{}:{port}", bracket(&target.host)),
    };
    let mut builder = Request::get(target.path.as_str())
        .header("host", host)
        .header("user-agent", concat!("tend/", env!("CARGO_PKG_VERSION")))
        .header("connection", "close");
    if let Some(user) = &target.user {
        let credentials = format!("{user}:{}", target.password.as_deref().unwrap_or(""));
        builder = builder.header(
            "authorization",
            format!("Basic {}", base64(credentials.as_bytes())),
        );
    }
    builder
        .body(Empty::new())
        .map_err(|e| ProbeError(format!("cannot build the request for {}: {e}", target.path)))
}

/// Standard base64 with padding, for the Basic authorization header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
