//! A WebSocket server on 127.0.0.1 for the end-to-end and differential tests of `k6/ws` and
//! `k6/websockets` (tokio-tungstenite, on its own thread and runtime; stopped on drop).
//!
//! Paths:
//! * `/echo` — echoes text and binary messages; `close:CODE` makes the server close with that
//!   code (reason "bye"); `ping-me` makes it ping the client (payload "srv"); `drop` makes it
//!   drop the connection without a close frame.
//! * `/404` — answers the upgrade with `404 Not Found` (header `X-A: b`, body `not found`).
//! * `/hello` — sends `hello` first, then behaves as `/echo`.
//! * `/broadcast/ROOM` — every text message is sent to every client connected to the same
//!   room (its sender included), prefixed with the number of clients there: `3:text`.
//!
//! [`WsServer::start_tls`] serves the same over TLS with a self-signed certificate (`wss://`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::server_thread::ServerThread;

/// Clients of the broadcast rooms: room path, client id, its outbox.
type Room = Arc<Mutex<Vec<(String, u64, UnboundedSender<String>)>>>;

/// A running server; its URLs are `{url}/echo` and so on.
pub struct WsServer {
    /// `ws://127.0.0.1:PORT` (or `wss://`).
    pub url: String,
    /// How many WebSocket connections it accepted.
    accepted: Arc<AtomicU64>,
    _thread: ServerThread,
}

impl WsServer {
    /// A plain `ws://` server.
    pub fn start() -> WsServer {
        Self::start_with(None)
    }

    /// A `wss://` server with a self-signed certificate for 127.0.0.1 (clients must skip
    /// verification: k6's `insecureSkipTLSVerify`).
    pub fn start_tls() -> WsServer {
        let (config, _) = crate::loopback_tls::loopback_tls();
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> WsServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        let accepted = Arc::new(AtomicU64::new(0));
        let count = accepted.clone();
        let thread = ServerThread::spawn(listener, move |listener, stopped| async move {
            let room: Room = Arc::default();
            let accept = async {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let (room, tls, count) = (room.clone(), tls.clone(), count.clone());
                    tokio::spawn(async move {
                        match tls {
                            Some(acceptor) => {
                                if let Ok(s) = acceptor.accept(tcp).await {
                                    serve(s, room, count).await;
                                }
                            }
                            None => serve(tcp, room, count).await,
                        }
                    });
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stopped => {}
            }
        });
        WsServer {
            url: format!("{scheme}://{addr}"),
            accepted,
            _thread: thread,
        }
    }

    /// How many WebSocket handshakes it completed.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(stream: S, room: Room, count: Arc<AtomicU64>) {
    let mut path = String::new();
    // The callback's signature (and its large error type) is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, mut resp: Response| {
        path = req.uri().path().to_owned();
        if path == "/404" {
            let refused = tokio_tungstenite::tungstenite::http::Response::builder()
                .status(404)
                .header("x-a", "b")
                .body(Some("not found".to_string()))
                .expect("response");
            return Err(refused);
        }
        resp.headers_mut()
            .insert("x-server", "volley-tests".parse().expect("header"));
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let id = count.fetch_add(1, Ordering::SeqCst) + 1;
    let (mut tx, mut rx) = ws.split();
    let (out, mut outbox) = unbounded_channel::<String>();
    let broadcast = path.starts_with("/broadcast");
    if broadcast {
        room.lock().expect("room").push((path.clone(), id, out));
    }
    if path == "/hello" && tx.send(Message::Text("hello".into())).await.is_err() {
        return;
    }
    loop {
        let msg = tokio::select! {
            m = rx.next() => m,
            Some(text) = outbox.recv() => {
                if tx.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let Some(Ok(msg)) = msg else { break };
        let reply = match msg {
            Message::Text(t) if broadcast => {
                let members: Vec<UnboundedSender<String>> = room
                    .lock()
                    .expect("room")
                    .iter()
                    .filter(|(p, _, _)| *p == path)
                    .map(|(_, _, m)| m.clone())
                    .collect();
                for m in &members {
                    let _ = m.send(format!("{}:{}", members.len(), t.as_str()));
                }
                continue;
            }
            Message::Text(t) if t.as_str().starts_with("close:") => {
                let code: u16 = t.as_str()[6..].parse().unwrap_or(1000);
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: "bye".into(),
                }))
            }
            Message::Text(t) if t.as_str() == "ping-me" => Message::Ping("srv".into()),
            // Leaving the loop drops the connection without a close frame.
            Message::Text(t) if t.as_str() == "drop" => break,
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            // tungstenite answers pings and close frames itself.
            _ => continue,
        };
        if tx.send(reply).await.is_err() {
            break;
        }
    }
    room.lock().expect("room").retain(|(_, i, _)| *i != id);
}
