//! One WebSocket session on the IO runtime: dial (with the run's target checks and TLS config,
//! as `k6/http` dials), the opening handshake (tokio-tungstenite), then frames in both
//! directions until the connection ends. The task never touches JS: it posts [`Event`]s to its
//! VU's event loop (`js::io_events`) and takes [`Cmd`]s from the script over a channel.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::http::{canonical_name, dial_checked, HopTrace, HttpShared, Meter};
use crate::js::io_events::EventPoster;

/// The largest message (and frame) a session accepts; a bigger one ends it with an error.
pub const MAX_MESSAGE: usize = 64 << 20;
/// How long the opening handshake (dial, TLS, upgrade) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// After the script closed a socket, how long we wait for the server's close frame before
/// dropping the connection.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a session's byte counter appears once it has dialed, so the VU can read the bytes
/// of a session it drops before the session ends.
pub type MeterSlot = Arc<std::sync::OnceLock<Arc<Meter>>>;

/// What the script asked for.
pub struct Request {
    pub url: url::Url,
    /// Headers in the script's order (after the handshake's own).
    pub headers: Vec<(String, String)>,
    pub user_agent: String,
    pub meter: MeterSlot,
}

/// Commands from the script to its session.
#[derive(Debug)]
pub enum Cmd {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Close(u16, String),
}

/// What a session reports to its VU, in order: `Opened` or `Failed`, then frames, then `Ended`.
#[derive(Debug)]
pub enum Event {
    Opened {
        status: u16,
        /// Response headers, canonical names, values of a repeated name joined by ", ".
        headers: Vec<(String, String)>,
        subprotocol: String,
        /// When the handshake began and how long it took (ms).
        started: SystemTime,
        connecting: f64,
    },
    Failed {
        error: String,
        /// The HTTP status of a refused upgrade (0 when there was no response).
        status: u16,
        /// The refused upgrade's response headers (as in `Opened`) and the start of its body.
        headers: Vec<(String, String)>,
        body: String,
        started: SystemTime,
        connecting: f64,
    },
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The server's close frame.
    Closed {
        code: u16,
        reason: String,
    },
    /// A read or write failed: the message and, for a connection that ended without a close
    /// frame, the close code and text k6 reports (1006, "unexpected EOF").
    Error(String, Option<(u16, String)>),
    /// The connection is gone (its bytes are in the session's [`MeterSlot`]).
    Ended,
}

/// Runs one session to its end.
pub async fn run(
    shared: Arc<HttpShared>,
    req: Request,
    poster: EventPoster,
    mut cmds: UnboundedReceiver<Cmd>,
) {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&shared, &req)).await;
    let connecting = t0.elapsed().as_secs_f64() * 1000.0;
    let mut ws = match opened {
        Ok(Ok((ws, response))) => {
            poster.post(Box::new(Event::Opened {
                status: response.status().as_u16(),
                headers: response_headers(response.headers()),
                subprotocol: response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                started,
                connecting,
            }));
            ws
        }
        Ok(Err(f)) => {
            poster.post(Box::new(Event::Failed {
                error: f.error,
                status: f.status,
                headers: f.headers,
                body: f.body,
                started,
                connecting,
            }));
            poster.post(Box::new(Event::Ended));
            return;
        }
        Err(_) => {
            poster.post(Box::new(Event::Failed {
                error: format!(
                    "the WebSocket handshake with {} did not finish within {}s",
                    req.url,
                    HANDSHAKE_TIMEOUT.as_secs()
                ),
                status: 0,
                headers: Vec::new(),
                body: String::new(),
                started,
                connecting,
            }));
            poster.post(Box::new(Event::Ended));
            return;
        }
    };

    // Once the script closed the socket (or went away), the server has this long to answer.
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let deadline = closing.unwrap_or_else(|| tokio::time::Instant::now() + CLOSE_TIMEOUT);
        tokio::select! {
            cmd = cmds.recv(), if closing.is_none() => {
                let msg = match cmd {
                    Some(Cmd::Text(s)) => Message::Text(s.into()),
                    Some(Cmd::Binary(b)) => Message::Binary(b.into()),
                    Some(Cmd::Ping(b)) => Message::Ping(b.into()),
                    Some(Cmd::Close(code, reason)) => {
                        closing = Some(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                        Message::Close(Some(CloseFrame {
                            code: CloseCode::from(code),
                            reason: reason.into(),
                        }))
                    }
                    None => {
                        // The VU dropped the socket (its iteration ended with an error or it
                        // is stopping): say goodbye as k6 does.
                        closing = Some(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                        Message::Close(Some(CloseFrame {
                            code: CloseCode::Away,
                            reason: "".into(),
                        }))
                    }
                };
                if let Err(e) = ws.send(msg).await {
                    if !quiet(&e) {
                        poster.post(Box::new(ws_error_event(&e)));
                    }
                    break;
                }
            }
            msg = ws.next() => match msg {
                None => break,
                Some(Ok(Message::Text(t))) => poster.post(Box::new(Event::Text(t.as_str().to_owned()))),
                Some(Ok(Message::Binary(b))) => poster.post(Box::new(Event::Binary(b.to_vec()))),
                Some(Ok(Message::Ping(b))) => poster.post(Box::new(Event::Ping(b.to_vec()))),
                Some(Ok(Message::Pong(b))) => poster.post(Box::new(Event::Pong(b.to_vec()))),
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite answers the close frame itself; reading goes on to the end.
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()))
                        .unwrap_or((1005, String::new()));
                    poster.post(Box::new(Event::Closed { code, reason }));
                    closing.get_or_insert(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                }
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => {
                    if !quiet(&e) && closing.is_none() {
                        poster.post(Box::new(ws_error_event(&e)));
                    }
                    break;
                }
            },
            _ = tokio::time::sleep_until(deadline), if closing.is_some() => {
                tracing::debug!(url = %req.url, "no close frame from the WebSocket server within {CLOSE_TIMEOUT:?}; dropping the connection");
                break;
            }
        }
    }
    drop(ws);
    poster.post(Box::new(Event::Ended));
}

type Socket = tokio_tungstenite::WebSocketStream<crate::http::Stream>;
type Response = tokio_tungstenite::tungstenite::handshake::client::Response;

/// A failed opening handshake.
struct Failure {
    error: String,
    /// The HTTP response's status, headers and body when the server answered without
    /// upgrading (status 0: no response).
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Failure {
    fn new(error: String) -> Self {
        Failure {
            error,
            status: 0,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

async fn handshake(shared: &HttpShared, req: &Request) -> Result<(Socket, Response), Failure> {
    let url = &req.url;
    let tls = match url.scheme() {
        "ws" => false,
        "wss" => true,
        _ => return Err(Failure::new("malformed ws or wss URL".into())),
    };
    let Some(host) = url.host_str() else {
        return Err(Failure::new("malformed ws or wss URL".into()));
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let mut trace = HopTrace::new(Instant::now());
    let dialed = dial_checked(shared, tls, host, port, &mut trace)
        .await
        .map_err(|e| Failure::new(e.dial_text(host, port)))?;
    let _ = req.meter.set(dialed.meter.clone());
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Failure::new(ws_error_text(&e)))?;
    let h = request.headers_mut();
    if !req.user_agent.is_empty() {
        if let Ok(v) = http::HeaderValue::from_str(&req.user_agent) {
            h.insert(http::header::USER_AGENT, v);
        }
    }
    for (k, v) in &req.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Failure::new(format!("invalid header name {k:?} in params.headers")))?;
        let value = http::HeaderValue::from_str(v).map_err(|_| {
            Failure::new(format!(
                "invalid value for the header {k:?} in params.headers"
            ))
        })?;
        h.insert(name, value);
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    match tokio_tungstenite::client_async_with_config(request, dialed.stream, Some(config)).await {
        Ok((ws, response)) => Ok((ws, response)),
        Err(WsError::Http(resp)) => Err(Failure {
            error: "websocket: bad handshake".into(),
            status: resp.status().as_u16(),
            headers: response_headers(resp.headers()),
            // What came with the headers (tungstenite reads no further; bounded by its buffer).
            body: resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default(),
        }),
        Err(e) => Err(Failure::new(ws_error_text(&e))),
    }
}

/// Response headers as k6 shows them: canonical names, repeated values joined.
fn response_headers(h: &http::HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in h {
        let name = canonical_name(k.as_str());
        let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, old)) => {
                old.push_str(", ");
                old.push_str(&value);
            }
            None => out.push((name, value)),
        }
    }
    out
}

/// Errors that only say the connection is over.
fn quiet(e: &WsError) -> bool {
    matches!(e, WsError::ConnectionClosed | WsError::AlreadyClosed)
}

/// The event for a failed read or write: a connection that ended without a close frame is an
/// abnormal closure (1006) in k6's words, other failures their own text.
fn ws_error_event(e: &WsError) -> Event {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let eof = match e {
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        WsError::Io(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        _ => false,
    };
    if eof {
        let text = "unexpected EOF";
        Event::Error(close_error_text(1006, text), Some((1006, text.to_owned())))
    } else {
        Event::Error(ws_error_text(e), None)
    }
}

fn ws_error_text(e: &WsError) -> String {
    match e {
        WsError::Io(io) => io.to_string(),
        WsError::Capacity(c) => format!("websocket: {c}"),
        other => format!("websocket: {other}"),
    }
}

/// Go's text for a close frame a server sent (`websocket: close 4000: reason`), which k6 passes
/// to `error` handlers for codes other than a normal closure.
pub fn close_error_text(code: u16, reason: &str) -> String {
    let name = match code {
        1000 => " (normal)",
        1001 => " (going away)",
        1002 => " (protocol error)",
        1003 => " (unsupported data)",
        1005 => " (no status)",
        1006 => " (abnormal closure)",
        1007 => " (invalid payload data)",
        1008 => " (policy violation)",
        1009 => " (message too big)",
        1010 => " (mandatory extension missing)",
        1011 => " (internal server error)",
        1015 => " (TLS handshake error)",
        _ => "",
    };
    if reason.is_empty() {
        format!("websocket: close {code}{name}")
    } else {
        format!("websocket: close {code}{name}: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_ended_without_a_close_frame_is_an_abnormal_closure() {
        use tokio_tungstenite::tungstenite::error::ProtocolError;
        let e = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        let Event::Error(text, close) = ws_error_event(&e) else {
            panic!("not an error event");
        };
        assert_eq!(
            text,
            "websocket: close 1006 (abnormal closure): unexpected EOF"
        );
        assert_eq!(close, Some((1006, "unexpected EOF".to_string())));
        let e = WsError::Io(std::io::Error::other("boom"));
        assert!(matches!(ws_error_event(&e), Event::Error(t, None) if t == "boom"));
    }

    #[test]
    fn close_texts_are_gos() {
        assert_eq!(close_error_text(4000, "bye"), "websocket: close 4000: bye");
        assert_eq!(
            close_error_text(1001, ""),
            "websocket: close 1001 (going away)"
        );
    }

    #[test]
    fn repeated_response_headers_are_joined_under_canonical_names() {
        let mut h = http::HeaderMap::new();
        h.append("x-a", "1".parse().unwrap());
        h.append("x-a", "2".parse().unwrap());
        h.append("sec-websocket-accept", "k".parse().unwrap());
        assert_eq!(
            response_headers(&h),
            vec![
                ("X-A".to_string(), "1, 2".to_string()),
                ("Sec-Websocket-Accept".to_string(), "k".to_string())
            ]
        );
    }
}
