//! What to tell a user whose agent cannot reach the controller. The easiest trap is pointing
//! `volley agent --controller` at the controller's REST address (6565) instead of its gRPC
//! address (6566): every other command's `--controller` is the REST one. The gRPC handshake
//! then fails in a way that names neither; so after a failed link the agent asks the address an
//! HTTP/1.1 question, and an HTTP/1.1 answer means "this is the REST API" — unless the answer
//! is a TLS port's refusal of plaintext, which means "use https://". An `https://` URL's
//! failures are TLS's own (a plaintext port, an unknown CA, a missing client certificate) and
//! are explained from the error ([`volley_api::tls::explain`]).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the probe may take, connecting and reading (it runs between reconnects).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What a plaintext TLS port answers an HTTP/1 request with (the controller's refusal).
const TLS_PORT_REFUSAL: &str = "this port speaks TLS";

/// `host:port` of an `http://host:port[/...]` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find('/').unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

/// What an `http://` address answered a plain HTTP/1.1 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// An HTTP/1 server: the REST API rather than the gRPC (HTTP/2) port.
    Http1,
    /// A TLS port telling plaintext clients to use https://.
    SpeaksTls,
    /// Nothing telling (or not probed: `https://` URLs are not).
    Nothing,
}

/// Asks an `http://` URL a plain HTTP/1.1 question.
pub async fn probe(url: &str) -> Probe {
    if !url.starts_with("http://") {
        return Probe::Nothing;
    }
    let Some(addr) = authority(url) else {
        return Probe::Nothing;
    };
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        // The head and the start of the body (bounded).
        let mut buf = Vec::new();
        let _ = (&mut s).take(512).read_to_end(&mut buf).await;
        Some(buf)
    };
    let answer = tokio::time::timeout(PROBE_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    if !answer.starts_with(b"HTTP/1.") {
        Probe::Nothing
    } else if String::from_utf8_lossy(&answer).contains(TLS_PORT_REFUSAL) {
        Probe::SpeaksTls
    } else {
        Probe::Http1
    }
}

/// Whether the failure is a setting to fix (said as an error) rather than a controller not
/// (yet) reachable (a warning).
pub fn misconfigured(url: &str, error: &str, probe: Probe) -> bool {
    probe != Probe::Nothing || explain(url, error).is_some()
}

/// A TLS failure's explanation, including agents' own case: an `https://` REST port (HTTP/1.1
/// only) refuses the agent's HTTP/2.
fn explain(url: &str, error: &str) -> Option<String> {
    if error.contains("NoApplicationProtocol") {
        return Some(format!(
            "{url} does not speak gRPC (it offers no HTTP/2): it is likely the controller's REST address; point --controller at its --grpc address (default port 6566)"
        ));
    }
    volley_api::tls::explain(url, error)
}

/// The line the agent prints after a failed link to `url`; it tries again after `backoff`.
pub fn message(url: &str, error: &str, backoff: Duration, probe: Probe) -> String {
    let retry = format!("retrying in {:.1}s", backoff.as_secs_f64());
    match probe {
        Probe::Http1 => format!(
            "{url} answers HTTP/1.1: it is the controller's REST address, not the gRPC address agents dial; point --controller (or VOLLEY_CONTROLLER_GRPC) at the controller's --grpc address (default http://127.0.0.1:6566); {retry}"
        ),
        Probe::SpeaksTls => format!(
            "{url} speaks TLS: use https:// (and --ca or VOLLEY_CA for the CA that signed its certificate); {retry}",
        ),
        Probe::Nothing => match explain(url, error) {
            Some(hint) => format!("cannot link to the controller: {hint} ({error}); {retry}"),
            None => format!(
                "cannot reach the controller at {url} ({error}); {retry} — is the controller running, and is this its gRPC address (`volley controller --grpc`, default :6566)?"
            ),
        },
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
        assert_eq!(probe(&format!("http://{addr}")).await, Probe::Http1);
        // A port nobody listens on (bound then dropped) answers nothing.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        assert_eq!(
            probe(&format!("http://127.0.0.1:{port}")).await,
            Probe::Nothing
        );
    }

    #[test]
    fn the_messages_name_the_fix() {
        let m = message("http://h:6565", "x", Duration::from_secs(1), Probe::Http1);
        assert!(m.contains("REST address") && m.contains("--grpc"), "{m}");
        let m = message(
            "http://h:1",
            "connection refused",
            Duration::from_secs(1),
            Probe::Nothing,
        );
        assert!(
            m.contains("connection refused") && m.contains("retrying in 1.0s"),
            "{m}"
        );
        let m = message("http://h:1", "x", Duration::from_secs(1), Probe::SpeaksTls);
        assert!(m.contains("speaks TLS: use https://"), "{m}");
        let m = message(
            "https://h:1",
            "received fatal alert: NoApplicationProtocol",
            Duration::from_secs(1),
            Probe::Nothing,
        );
        assert!(m.contains("REST address"), "{m}");
    }
}
