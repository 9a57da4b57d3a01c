//! A follower sends writes, and the views that exist only on the leader, on to the Raft
//! leader and passes its answer back, so that one address — any controller, a Kubernetes
//! Service, a `kubectl port-forward`, a load balancer — serves the whole API
//! (docs/ha.md#followers-forward-writes-to-the-leader).
//!
//! The request goes as it came: method, path and query, every end-to-end header
//! (`Authorization`, a request id, `Host`, `Origin`), and the body streamed — never held whole
//! — and cut off past the largest body the API takes. The leader checks the token again and
//! answers with its own `Volley-Raft-Leader` headers; its answer (status, headers, body) is
//! streamed back, so a live stream (SSE) stays live. Every wait is bounded and names what it
//! waited for; a write whose answer never came may still have been applied, and the answer
//! says so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio_stream::StreamExt as _;

use super::extract::{fmt_bytes, AppState};
use super::ApiError;
use crate::tls::peers::ClientTls;

/// Sent with a forwarded request (and its answer): the node id of the follower that forwarded
/// it. A node that is not the leader never forwards a request that carries it, so two nodes
/// that disagree for a moment about who leads cannot pass a request back and forth.
pub const FORWARDED_BY_HEADER: &str = "volley-forwarded-by";

/// Longest wait for a TCP connection and TLS handshake with the leader: below the election
/// timeout, so a dead leader costs a client less than an election.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the head of the leader's answer to a write: the body upload and the
/// proposal (at most 5 s, docs/ha.md#timeouts) fit, and the CLI (30 s) hears this answer
/// rather than its own timeout.
pub const WRITE_ANSWER_TIMEOUT: Duration = Duration::from_secs(25);
/// Longest wait for the head of the leader's answer to a read (a live stream's head comes at
/// once; its events then flow without a bound).
pub const READ_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Seconds a client waits before trying again when the leader could not be reached.
const RETRY_AFTER_SECS: u32 = 1;

/// Headers of one hop that a proxy does not pass on (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// How this controller reaches the leader's REST API: plaintext, or TLS trusting only the
/// group's CA (`--raft-ca`, the CA that signs every controller's certificate), its files read
/// again when they change as the Raft port's are ([`Forwarder::watch`]).
#[derive(Debug)]
pub struct Forwarder {
    tls: Option<Arc<ClientTls>>,
}

/// Where the leader middleware (`super::leader`) sends a request, once the guard let it in.
#[derive(Clone)]
pub(super) struct ForwardTo {
    pub(super) leader: u64,
    pub(super) api: String,
    pub(super) via: Arc<Forwarder>,
}

impl Forwarder {
    /// A forwarder that dials the leader's API with TLS when it is `https://`, trusting the
    /// group's CA of `raft_tls` (and presenting this controller's certificate); without it,
    /// only `http://` leaders are forwarded to.
    pub fn new(raft_tls: Option<&crate::tls::TlsFiles>) -> Result<Forwarder, crate::tls::TlsError> {
        let tls = match raft_tls {
            None => None,
            Some(files) => Some(ClientTls::load_for(
                files.clone(),
                "REST API (forwarding to the leader)",
                vec![b"http/1.1".to_vec()],
            )?),
        };
        Ok(Forwarder { tls })
    }

    /// Reads the certificate, key and CA again every `every` when they changed, so that a
    /// renewed `controller.crt` or CA is used without a restart (on the runtime's tasks).
    pub fn watch(&self, every: Duration) {
        if let Some(tls) = &self.tls {
            tls.watch(every);
        }
    }

    /// Whether this forwarder can reach a leader at `api` (an `https://` leader needs the
    /// group's CA).
    pub fn reaches(&self, api: &str) -> bool {
        !api.starts_with("https://") || self.tls.is_some()
    }

    /// Sends `req` to node `leader` at `api` and streams its answer back; `me` is this node's
    /// id, `max_body` the largest body sent on.
    async fn forward(
        &self,
        mut req: Request,
        leader: u64,
        api: &str,
        me: u64,
        max_body: usize,
    ) -> Response {
        let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let what = format!("{} {}", req.method(), req.uri().path());
        let (uri, host, port, https) = match leader_uri(api, req.uri()) {
            Some(t) => t,
            None => {
                return unreachable_leader(format!(
                    "node {leader} leads but advertised an unusable API address ({api}); give it \
                     a REST API URL with --advertise-api"
                ))
            }
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body as u64) {
            return too_large(max_body);
        }
        let over = Arc::new(AtomicBool::new(false));
        let body = bounded(std::mem::take(req.body_mut()), max_body, over.clone());
        let (mut parts, _) = req.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        if !parts.headers.contains_key(header::HOST) {
            if let Ok(v) = HeaderValue::from_str(&authority(&host, port)) {
                parts.headers.insert(header::HOST, v);
            }
        }
        parts
            .headers
            .insert(FORWARDED_BY_HEADER, HeaderValue::from(me));
        parts.uri = uri;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let out = axum::http::Request::from_parts(parts, body);

        let mut sender = match self.connect(&host, port, https).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(leader, %what, request_id, "cannot forward to the Raft leader: {e}");
                return unreachable_leader(format!(
                    "this controller (node {me}) is a follower and could not reach the Raft leader \
                     (node {leader} at {api}) to forward {what}: {e}; the leader may have just \
                     failed and the controllers are electing another: retry shortly"
                ));
            }
        };
        let limit = if write {
            WRITE_ANSWER_TIMEOUT
        } else {
            READ_ANSWER_TIMEOUT
        };
        let may_apply = if write {
            "; the write may still have been applied: check (e.g. `volley runs`) before sending \
             it again"
        } else {
            ""
        };
        let answer = match tokio::time::timeout(limit, sender.send_request(out)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => {
                if over.load(Ordering::Relaxed) {
                    return too_large(max_body);
                }
                tracing::warn!(leader, %what, request_id, "forwarding to the Raft leader failed: {e}");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "leader_failed",
                    format!(
                        "this controller (node {me}) forwarded {what} to the Raft leader (node \
                         {leader} at {api}), which failed to answer: {e}{may_apply}"
                    ),
                )
                .into_response();
            }
            Err(_) => {
                tracing::warn!(leader, %what, request_id, "the Raft leader did not answer a forwarded request within {limit:?}");
                return ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "leader_timeout",
                    format!(
                        "this controller (node {me}) forwarded {what} to the Raft leader (node \
                         {leader} at {api}), which did not answer within {} s{may_apply}",
                        limit.as_secs()
                    ),
                )
                .into_response();
            }
        };
        tracing::debug!(leader, %what, request_id, status = answer.status().as_u16(), "forwarded to the Raft leader");
        let (mut parts, incoming) = answer.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .insert(FORWARDED_BY_HEADER, HeaderValue::from(me));
        Response::from_parts(parts, Body::new(incoming))
    }

    /// One HTTP/1.1 connection to the leader, TLS when `https`, within [`CONNECT_TIMEOUT`].
    async fn connect(
        &self,
        host: &str,
        port: u16,
        https: bool,
    ) -> Result<hyper::client::conn::http1::SendRequest<Body>, String> {
        let dial = async {
            let tcp = tokio::net::TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            let _ = tcp.set_nodelay(true);
            if !https {
                return handshake(TokioIo::new(tcp)).await;
            }
            let config = self.tls.as_ref().map(|t| t.config()).ok_or(
                "its API speaks TLS and this controller has no --raft-ca to trust it with",
            )?;
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| format!("`{host}` is not a TLS server name: {e}"))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake failed: {e}"))?;
            handshake(TokioIo::new(tls)).await
        };
        tokio::time::timeout(CONNECT_TIMEOUT, dial)
            .await
            .map_err(|_| format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()))?
    }
}

/// The HTTP/1.1 handshake on `io`; the connection is driven on a task of its own until the
/// answer (a live stream's too) is done.
async fn handshake<T>(
    io: TokioIo<T>,
) -> Result<hyper::client::conn::http1::SendRequest<Body>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("connection to the Raft leader: {e}");
        }
    });
    Ok(sender)
}

/// The middleware inside the guard: a request the leader middleware marked goes to the
/// leader instead of its handler.
pub(super) async fn to_leader(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(to) = req.extensions_mut().remove::<ForwardTo>() else {
        return next.run(req).await;
    };
    let me = state.svc.raft_status().map_or(0, |s| s.node.id);
    to.via
        .forward(req, to.leader, &to.api, me, state.limits.max_upload_bytes)
        .await
}

/// The leader's URI for the request's path and query (`api` may carry a base path), with
/// its host, port and whether it is `https`.
fn leader_uri(api: &str, original: &Uri) -> Option<(Uri, String, u16, bool)> {
    let base: Uri = api.trim_end_matches('/').parse().ok()?;
    let https = match base.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = base.host()?.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    let port = base.port_u16().unwrap_or(if https { 443 } else { 80 });
    let prefix = base.path().trim_end_matches('/');
    let rest = original.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = format!("{prefix}{rest}").parse().ok()?;
    Some((uri, host.to_string(), port, https))
}

/// `host:port` as a `Host` header writes it (IPv6 in brackets).
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers a `Connection` header names are of this hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The body as a stream that fails (and sets `over`) past `max` bytes.
fn bounded(body: Body, max: usize, over: Arc<AtomicBool>) -> Body {
    let mut sent = 0usize;
    Body::from_stream(body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| e.into_inner())?;
        sent = sent.saturating_add(chunk.len());
        if sent > max {
            over.store(true, Ordering::Relaxed);
            return Err(format!("the request body is larger than {max} bytes").into());
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(chunk)
    }))
}

fn too_large(max: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is larger than any endpoint accepts (at most {})",
            fmt_bytes(max)
        ),
    )
    .into_response()
}

/// 503 `no_leader` with `Retry-After`: a client given several controllers tries the next one
/// (`volley_api::client`), as during an election.
fn unreachable_leader(message: String) -> Response {
    let mut resp =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_leader", message).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaders_uri_keeps_the_path_and_query_and_a_base_path() {
        let original: Uri = "/v1/tests/3/stop?x=1".parse().unwrap();
        let (uri, host, port, https) = leader_uri("https://c1.example:6565/", &original).unwrap();
        assert_eq!(
            (uri.to_string(), host.as_str(), port, https),
            ("/v1/tests/3/stop?x=1".into(), "c1.example", 6565, true)
        );
        let (uri, host, port, https) = leader_uri("http://[::1]/volley", &original).unwrap();
        assert_eq!(
            (uri.to_string(), host.as_str(), port, https),
            ("/volley/v1/tests/3/stop?x=1".into(), "::1", 80, false)
        );
        assert_eq!(authority("::1", 80), "[::1]:80");
        assert!(leader_uri("ftp://c1:21", &original).is_none());
        assert!(leader_uri("c1:6565", &original).is_none());
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Token t"));
        h.insert("x-request-id", HeaderValue::from_static("r1"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["authorization", "x-request-id"]);
    }

    #[test]
    fn only_https_leaders_need_the_groups_ca() {
        let plain = Forwarder { tls: None };
        assert!(plain.reaches("http://c1:6565"));
        assert!(!plain.reaches("https://c1:6565"));
    }
}
