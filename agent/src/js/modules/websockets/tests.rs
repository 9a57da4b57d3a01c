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
           try {{ f(); log.push('no throw'); }} catch (e) {{ log.push(e.name); }}
         }}"
    ))
    .unwrap();
    assert_eq!(
        vu.json("log"),
        serde_json::json!([
            "SyntaxError",
            "Error",
            "SyntaxError",
            format!("error dial tcp 127.0.0.1:{port}: connect: connection refused 3"),
            "close"
        ])
    );
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
    assert!(!vu.vu.timers.io.any_open());
    // `y` arrived after close(): not delivered.
    let log = vu.json("log");
    assert!(
        log == serde_json::json!(["error Error: in open", "close 3"])
            || log == serde_json::json!(["x", "error Error: in open", "close 3"]),
        "{log}"
    );
}
