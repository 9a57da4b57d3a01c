use crate::js::modules::ws::tests::{count, echo_server, tags_of};
use crate::js::modulestest::TestVu;

#[test]
fn the_iteration_waits_for_the_socket_and_events_reach_handlers_then_listeners() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import {{ WebSocket, Blob }} from 'k6/experimental/websockets';
         globalThis.log = [];
         const ws = new WebSocket('{url}/hello', null, {{ tags: {{ my: 't' }} }});
         log.push('state ' + ws.readyState + ' ' + ws.binaryType);
         ws.addEventListener('open', () => log.push('listener open'));
         ws.onopen = (e) => {{
           log.push(e.type + ' ' + ws.readyState + ' ' + (e.target === ws));
           ws.send('m1');
           ws.send(new Uint8Array([1, 2]));
           ws.send(new Blob(['a', new Uint8Array([66])]));
           ws.ping();
         }};
         let n = 0;
         ws.onmessage = (e) => {{
           n++;
           if (typeof e.data === 'string') log.push('text ' + e.data + ' ' + e.origin);
           else if (e.data instanceof Blob) e.data.text().then((t) => log.push('blob ' + e.data.size + ' ' + t));
           if (n === 3) {{ ws.binaryType = 'arraybuffer'; }}
           if (n === 4) {{ log.push('ab ' + new Uint8Array(e.data).join(',')); setTimeout(() => ws.close(4002, 'done'), 5); }}
         }};
         ws.onpong = () => log.push('pong');
         ws.onclose = (e) => log.push('close ' + ws.readyState + ' ' + e.code);
         log.push('end of script');"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "state 0 blob",
            "end of script",
            "open 1 true",
            "listener open",
            format!("text hello {url}/hello"),
            format!("text m1 {url}/hello"),
            "blob 2 \u{1}\u{2}",
            "ab 97,66",
            "pong",
            "close 3 4002"
        ])
    );
    let samples = vu.take_samples();
    assert_eq!(count(&samples, "ws_sessions"), 1);
    // Sent: three messages, the ping and the close frame (k6/websockets counts both).
    assert_eq!(count(&samples, "ws_msgs_sent"), 5);
    assert_eq!(count(&samples, "ws_msgs_received"), 4);
    assert_eq!(count(&samples, "ws_ping"), 1);
    assert_eq!(count(&samples, "ws_session_duration"), 1);
    let t = tags_of(&samples, "ws_msgs_received");
    assert_eq!(t["name"], format!("{url}/hello"));
    assert_eq!(t["url"], format!("{url}/hello"));
    assert_eq!(t["status"], "101");
    assert_eq!(t["my"], "t");
}

#[test]
fn a_refused_connection_is_an_error_then_a_close_and_bad_input_throws() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let vu = TestVu::new();
    vu.run(&format!(
        "import {{ WebSocket }} from 'k6/websockets';
         globalThis.log = [];
         const ws = new WebSocket('ws://127.0.0.1:{port}/');
         ws.onerror = (e) => log.push('error ' + e.error + ' ' + ws.readyState);
         ws.onclose = () => log.push('close');
         for (const f of [() => new WebSocket('http://x/'), () => ws.send('early'),
                          () => {{ ws.binaryType = 'nope'; }}]) {{
           try {{ f(); log.push('no throw'); }} catch (e) {{ log.push(e.message); }}
         }}"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "WebSocket requires url with scheme ws or wss, but got \"http\"",
            "InvalidStateError: the WebSocket is not open",
            "unknown binaryType nope, the supported ones are \"blob\" and \"arraybuffer\"",
            format!("error dial tcp 127.0.0.1:{port}: connect: connection refused 3"),
            "close"
        ])
    );
    // A session that never connected is counted, not timed (k6/websockets).
    let samples = vu.take_samples();
    assert_eq!(count(&samples, "ws_sessions"), 1);
    assert_eq!(count(&samples, "ws_session_duration"), 0);
}

#[test]
fn a_handler_exception_fails_the_iteration_and_closes_the_socket() {
    let url = echo_server();
    let vu = TestVu::new();
    let e = vu
        .run(&format!(
            "import {{ WebSocket }} from 'k6/websockets';
             globalThis.log = [];
             const ws = new WebSocket('{url}');
             ws.onopen = () => {{ ws.send('x'); ws.send('y'); }};
             ws.onmessage = (e) => {{ log.push(e.data); ws.close(); setTimeout(() => {{ throw new Error('late'); }}, 50); }};
             const bad = new WebSocket('{url}');
             bad.onopen = () => {{ throw new Error('in open'); }};
             bad.onerror = (e) => log.push('error ' + e.error);
             bad.onclose = () => log.push('close ' + bad.readyState);"
        ))
        .unwrap_err();
    assert_eq!(e.to_string(), "in open");
    assert!(!vu.vu.io.any_open());
    // `y` arrived after close(): not delivered.
    let log = vu.json("log");
    assert!(
        log == serde_json::json!(["error Error: in open", "close 3"])
            || log == serde_json::json!(["x", "error Error: in open", "close 3"]),
        "{log}"
    );
}

#[test]
fn a_close_code_other_than_1000_or_1001_and_a_dropped_connection_are_errors() {
    let url = echo_server();
    let vu = TestVu::new();
    vu.run(&format!(
        "import {{ WebSocket }} from 'k6/websockets';
         globalThis.log = [];
         const watch = (name, ws) => {{
           ws.onerror = (e) => log.push(name + ' error ' + e.error + ' ' + ws.readyState);
           ws.onclose = () => log.push(name + ' close ' + ws.readyState);
         }};
         const cases = [['server 4000', (ws) => ws.send('close:4000')],
                        ['server 1000', (ws) => ws.send('close:1000')],
                        ['client 4005', (ws) => ws.close(4005, 'why')],
                        ['dropped', (ws) => ws.send('drop')],
                        ['404', null]];
         let i = 0;
         const next = () => {{
           if (i === cases.length) return;
           const [name, f] = cases[i++];
           const ws = new WebSocket('{url}' + (f ? '/' : '/404'));
           watch(name, ws);
           ws.onopen = () => f(ws);
           ws.addEventListener('close', next);
         }};
         next();"
    ))
    .unwrap();
    // As k6 v1.1.0: the error comes first, on a socket already closed (readyState 3).
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "server 4000 error websocket: close 4000: bye 3",
            "server 4000 close 3",
            "server 1000 close 3",
            "client 4005 error websocket: close 4005: why 3",
            "client 4005 close 3",
            "dropped error websocket: close 1006 (abnormal closure): unexpected EOF 3",
            "dropped close 3",
            "404 error websocket: bad handshake 3",
            "404 close 3"
        ])
    );
    let samples = vu.take_samples();
    let refused: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.metric == "ws_sessions" && s.tags.get("status").map(String::as_str) == Some("404")
        })
        .collect();
    assert_eq!(refused.len(), 1);
    // Four sessions connected and are timed; the refused upgrade is not.
    assert_eq!(count(&samples, "ws_session_duration"), 4);
}
