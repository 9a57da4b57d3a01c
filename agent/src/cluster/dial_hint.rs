//! What to tell a user whose agent cannot reach the controller. The easiest trap is pointing
//! `volley agent --controller` at the controller's REST address (6565) instead of its gRPC
//! address (6566): every other command's `--controller` is the REST one. The gRPC handshake
//! then fails in a way that names neither; so after a failed link the agent asks the address an
//! HTTP/1.1 question, and an HTTP/1.1 answer means "this is the REST API".

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the probe may take, connecting and reading (it runs between reconnects).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// `host:port` of an `http://host:port[/...]` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

/// Whether `url` answers a plain HTTP/1.1 request, i.e. is an HTTP/1 server (the REST API)
/// rather than a gRPC (HTTP/2) one.
pub async fn answers_http1(url: &str) -> bool {
    let Some(addr) = authority(url) else {
        return false;
    };
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1."))
    };
    tokio::time::timeout(PROBE_TIMEOUT, probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The line the agent prints after a failed link to `url`; it tries again after `backoff`.
pub fn message(url: &str, error: &str, backoff: Duration, http1: bool) -> String {
    if http1 {
        format!(
            "{url} answers HTTP/1.1: it is the controller's REST address, not the gRPC address agents dial; point --controller (or VOLLEY_CONTROLLER_GRPC) at the controller's --grpc address (default http://127.0.0.1:6566); retrying in {:.1}s",
            backoff.as_secs_f64()
        )
    } else {
        format!(
            "cannot reach the controller at {url} ({error}); retrying in {:.1}s — is the controller running, and is this its gRPC address (`volley controller --grpc`, default :6566)?",
            backoff.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authority_of_a_controller_url() {
        assert_eq!(authority("http://127.0.0.1:6566"), Some("127.0.0.1:6566"));
        assert_eq!(authority("https://c1:6566/x"), Some("c1:6566"));
        assert_eq!(authority("127.0.0.1:6566"), None);
        assert_eq!(authority("http://"), None);
    }

    #[tokio::test]
    async fn an_http1_server_is_recognised_and_a_closed_port_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        assert!(answers_http1(&format!("http://{addr}")).await);
        // A port nobody listens on (bound then dropped) answers nothing.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        assert!(!answers_http1(&format!("http://127.0.0.1:{port}")).await);
    }

    #[test]
    fn the_messages_name_the_fix() {
        let m = message("http://h:6565", "x", Duration::from_secs(1), true);
        assert!(m.contains("REST address") && m.contains("--grpc"), "{m}");
        let m = message(
            "http://h:1",
            "connection refused",
            Duration::from_secs(1),
            false,
        );
        assert!(
            m.contains("connection refused") && m.contains("retrying in 1.0s"),
            "{m}"
        );
    }
}
