use std::collections::BTreeMap;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::js::modulestest::{Sample, TestVu};

/// A WebSocket server on loopback for the module tests, on its own thread: it echoes text
/// and binary messages, answers `close:CODE` with a close frame of that code (reason "bye"),
/// sends "hello" first on `/hello`, pings the client when told `ping-me`, drops the
/// connection without a close frame when told `drop`, and refuses to upgrade `/404`.
pub(crate) fn echo_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(tcp));
            }
        });
    });
    format!("ws://{addr}")
}

async fn serve(tcp: tokio::net::TcpStream) {
    let mut path = String::new();
    // The callback's signature (and its large error type) is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback =
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
         mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
            path = req.uri().path().to_owned();
            if path == "/404" {
                let refused = http::Response::builder()
                    .status(404)
                    .header("x-a", "b")
                    .body(Some("not found".to_string()))
                    .unwrap();
                return Err(refused);
            }
            resp.headers_mut()
                .insert("x-server", "echo".parse().unwrap());
            Ok(resp)
        };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    if path == "/hello" {
        let _ = ws.send(Message::Text("hello".into())).await;
    }
    while let Some(Ok(msg)) = ws.next().await {
        let reply = match msg {
            Message::Text(t) if t.as_str().starts_with("close:") => {
                let code: u16 = t.as_str()[6..].parse().unwrap_or(1000);
                Message::Close(Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: "bye".into(),
                }))
            }
            Message::Text(t) if t.as_str() == "ping-me" => Message::Ping("srv".into()),
            // Dropping the connection ends it without a close frame.
            Message::Text(t) if t.as_str() == "drop" => return,
            Message::Text(t) => Message::Text(t),
            Message::Binary(b) => Message::Binary(b),
            _ => continue,
        };
        if ws.send(reply).await.is_err() {
            return;
        }
    }
}

pub(crate) fn count(samples: &[Sample], metric: &str) -> usize {
    samples.iter().filter(|s| s.metric == metric).count()
}

pub(crate) fn tags_of(samples: &[Sample], metric: &str) -> BTreeMap<String, String> {
    let s = samples
        .iter()
        .find(|s| s.metric == metric)
        .unwrap_or_else(|| panic!("no {metric} sample"));
    s.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn connect_runs_the_handlers_until_the_socket_closes_and_emits_k6s_metrics() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.log = [];
         const res = ws.connect('{url}/hello', {{ headers: {{ 'X-Id': '7' }}, tags: {{ my: 't' }} }}, (socket) => {{
           log.push('callback');
           socket.on('open', () => {{
             log.push('open');
             socket.send('m1');
             socket.sendBinary(new Uint8Array([1, 2, 3]).buffer);
             socket.ping();
           }});
           socket.on('message', (m) => {{ log.push('message ' + m); if (m === 'm1') socket.send('ping-me'); }});
           socket.on('binaryMessage', (b) => log.push('binary ' + new Uint8Array(b).join(',')));
           socket.on('pong', () => log.push('pong'));
           socket.on('ping', () => {{ log.push('ping'); socket.setTimeout(() => socket.close(), 20); }});
           socket.on('close', (c) => log.push('close ' + c));
         }});
         log.push('after ' + res.status + ' ' + res.headers['X-Server'] + ' ' + (res.url === '{url}/hello'));"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "callback",
            "open",
            "message hello",
            "message m1",
            "binary 1,2,3",
            "pong",
            "ping",
            "close 1001",
            "after 101 echo true"
        ])
    );
    let samples = vu.take_samples();
    assert_eq!(count(&samples, "ws_sessions"), 1);
    assert_eq!(count(&samples, "ws_connecting"), 1);
    assert_eq!(count(&samples, "ws_session_duration"), 1);
    // Sent: m1, the binary, ping-me (k6/ws counts neither pings nor the close frame).
    assert_eq!(count(&samples, "ws_msgs_sent"), 3);
    assert_eq!(count(&samples, "ws_msgs_received"), 3);
    assert_eq!(count(&samples, "ws_ping"), 1);
    let t = tags_of(&samples, "ws_msgs_sent");
    assert_eq!(t["url"], format!("{url}/hello"));
    assert_eq!(t["status"], "101");
    assert_eq!(t["subproto"], "");
    assert_eq!(t["my"], "t");
    assert!(!t.contains_key("name"), "{t:?}");
    let st = vu.vu.state.borrow();
    assert!(st.bytes_sent > 100 && st.bytes_received > 100);
}

#[test]
fn a_server_close_with_an_unusual_code_is_an_error_then_a_close() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.log = [];
         for (const code of [4000, 1000, 1001]) {{
           ws.connect('{url}', (socket) => {{
             socket.on('open', () => socket.send('close:' + code));
             socket.on('error', (e) => log.push('error ' + e.error() + ' ' + e.code + ' ' + e.text));
             socket.on('close', (c) => log.push('close ' + c));
           }});
         }}"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "error websocket: close 4000: bye 4000 bye",
            "close 4000",
            "close 1000",
            "close 1001"
        ])
    );
}

#[test]
fn a_refused_connection_returns_the_error_without_calling_the_callback() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.called = false;
         globalThis.res = ws.connect('ws://127.0.0.1:{port}/x', () => {{ called = true; }});
         globalThis.bad = ws.connect('http://127.0.0.1:{port}/x', () => {{ called = true; }});"
    ))
    .unwrap();
    assert_eq!(vu.json("called"), serde_json::json!(false));
    assert_eq!(
        vu.json("res"),
        serde_json::json!({
            "url": "", "status": 0, "headers": {}, "body": "",
            "error": format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        })
    );
    assert_eq!(
        vu.json("bad.error"),
        serde_json::json!("malformed ws or wss URL")
    );
    let samples = vu.take_samples();
    assert_eq!(count(&samples, "ws_sessions"), 2);
    let t = tags_of(&samples, "ws_sessions");
    assert!(!t.contains_key("status"), "{t:?}");
    assert_eq!(t["url"], format!("ws://127.0.0.1:{port}/x"));
}

#[test]
fn a_handler_that_throws_closes_the_socket_and_fails_connect() {
    let url = echo_server();
    let vu = TestVu::new();
    let e = vu
        .run(&format!(
            "import ws from 'k6/ws';
             globalThis.log = [];
             ws.connect('{url}', (socket) => {{
               socket.on('open', () => {{ throw new Error('boom'); }});
               socket.on('close', (c) => log.push('close ' + c));
             }});"
        ))
        .unwrap_err();
    assert_eq!(e.to_string(), "boom");
    assert_eq!(vu.json("log"), serde_json::json!(["close 1001"]));
}

#[test]
fn sending_after_close_is_an_error_event_and_intervals_stop_with_the_socket() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.log = [];
         ws.connect('{url}', (socket) => {{
           let n = 0;
           socket.setInterval(() => {{ n++; log.push('tick ' + n); if (n === 3) socket.close(4001); }}, 5);
           socket.on('close', (c) => {{ log.push('close ' + c); socket.send('late'); }});
           socket.on('error', (e) => log.push('error ' + e.error() + ' ' + Object.keys(e).join('+')));
         }});"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "tick 1",
            "tick 2",
            "tick 3",
            "close 4001",
            "error websocket: close sent error"
        ])
    );
}

#[test]
fn sockets_are_refused_in_the_init_context_with_k6s_message() {
    let vu = TestVu::new();
    vu.set_phase(crate::js::vu_ctx::Phase::Init);
    for src in [
        "import ws from 'k6/ws'; ws.connect('ws://127.0.0.1:1/', () => {});",
        "import { WebSocket } from 'k6/websockets'; new WebSocket('ws://127.0.0.1:1/');",
    ] {
        let e = vu.run(src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "using websockets in the init context is not supported"
        );
    }
}

#[test]
fn connect_runs_only_its_own_socket_and_timers_until_it_returns() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.log = [];
         setTimeout(() => log.push('global timeout'), 1);
         Promise.resolve().then(() => log.push('microtask'));
         ws.connect('{url}', (socket) => {{
           log.push('callback');
           socket.on('open', () => socket.setTimeout(() => {{ log.push('socket timeout'); socket.close(); }}, 40));
           socket.on('close', (c) => log.push('close ' + c));
         }});
         log.push('returned');"
    ))
    .unwrap();
    // As in k6: the VU's own timers and promise jobs wait until connect has returned.
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "callback",
            "socket timeout",
            "close 1001",
            "returned",
            "microtask",
            "global timeout"
        ])
    );
}

#[test]
fn socket_timers_refuse_a_delay_that_is_not_positive_with_k6s_text() {
    let url = echo_server();
    let vu = TestVu::new();
    for (call, text) in [
        (
            "setTimeout(() => {}, 0)",
            "GoError: setTimeout requires a >0 timeout parameter, received 0.00",
        ),
        (
            "setInterval(() => {}, -1.5)",
            "GoError: setInterval requires a >0 timeout parameter, received -1.50",
        ),
    ] {
        let e = vu
            .run(&format!(
                "import ws from 'k6/ws'; ws.connect('{url}', (s) => s.{call});"
            ))
            .unwrap_err();
        assert_eq!(e.to_string(), text);
    }
}

#[test]
fn a_server_that_does_not_upgrade_gives_its_response_without_an_error_as_in_k6() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.called = false;
         globalThis.res = ws.connect('{url}/404', () => {{ called = true; }});"
    ))
    .unwrap();
    assert_eq!(vu.json("called"), serde_json::json!(false));
    assert_eq!(vu.json("res.status"), serde_json::json!(404));
    assert_eq!(vu.json("res.error"), serde_json::json!(""));
    assert_eq!(vu.json("res.body"), serde_json::json!("not found"));
    assert_eq!(vu.json("res.headers['X-A']"), serde_json::json!("b"));
    let samples = vu.take_samples();
    let t = tags_of(&samples, "ws_sessions");
    assert_eq!(t["status"], "404");
    assert_eq!(t["subproto"], "");
    assert_eq!(count(&samples, "ws_session_duration"), 1);
}

#[test]
fn a_connection_dropped_without_a_close_frame_is_an_abnormal_closure() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import ws from 'k6/ws';
         globalThis.log = [];
         ws.connect('{url}', (socket) => {{
           socket.on('open', () => socket.send('drop'));
           socket.on('error', (e) => log.push('error ' + e.error() + ' ' + JSON.stringify(e)));
           socket.on('close', (c) => log.push('close ' + c));
         }});"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "error websocket: close 1006 (abnormal closure): unexpected EOF {\"code\":1006,\"text\":\"unexpected EOF\"}",
            "close 1006"
        ])
    );
}
