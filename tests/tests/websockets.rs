//! `k6/ws` and `k6/websockets` end to end: `volley run` against a local WebSocket echo and
//! broadcast server (`volley_e2e::ws_server`, plain and TLS with a self-signed certificate).
//! Each script checks messages, close codes and timers with k6 checks (a failed check fails
//! the `checks` threshold: exit 99), and the test reads the metric counts from
//! `--summary-export`. Everything targets 127.0.0.1 and ends by itself in a few seconds.

use serde_json::Value;
use volley_e2e::summary_run::{checks, count, run_with_summary};
use volley_e2e::temp_dir;
use volley_e2e::ws_server::WsServer;

/// Runs `script` (written to a temp dir) with `-e WS_URL=url`; returns the exit code, the
/// summary export and the output.
fn run(name: &str, script: &str, url: &str, extra: &[&str]) -> (i32, Value, String) {
    let dir = temp_dir(name);
    let file = dir.join("script.js");
    std::fs::write(&file, script).expect("write script");
    let ws_url = format!("WS_URL={url}");
    let mut args = vec!["-e", ws_url.as_str()];
    args.extend_from_slice(extra);
    run_with_summary(&dir, &file, &args)
}

const ECHO: &str = r#"
import ws from 'k6/ws';
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '20s' } },
  thresholds: { checks: ['rate==1'] },
};

export default async function () {
  const log = [];
  const res = ws.connect(`${__ENV.WS_URL}/hello`, { tags: { t: 'ws' } }, (socket) => {
    socket.on('open', () => { socket.send('a'); socket.sendBinary(new Uint8Array([7]).buffer); socket.ping(); });
    socket.on('message', (m) => log.push('msg ' + m));
    socket.on('binaryMessage', (b) => log.push('bin ' + new Uint8Array(b)[0]));
    socket.on('pong', () => { log.push('pong'); socket.setTimeout(() => socket.send('close:4000'), 50); });
    socket.on('error', (e) => log.push('error ' + e.error()));
    socket.on('close', (c) => log.push('close ' + c));
  });
  check(res, { 'ws: 101': (r) => r.status === 101, 'ws: server header': (r) => r.headers['X-Server'] === 'volley-tests' });
  check(log, { 'ws: order': (l) => l.join('|') === 'msg hello|msg a|bin 7|pong|error websocket: close 4000: bye|close 4000' });

  const events = [];
  await new Promise((resolve) => {
    const s = new WebSocket(`${__ENV.WS_URL}/echo`, null, { tags: { t: 'websockets' } });
    s.binaryType = 'arraybuffer';
    let ticks = 0;
    s.onopen = () => {
      const iv = setInterval(() => {
        ticks++;
        s.send('tick' + ticks);
        if (ticks === 3) { clearInterval(iv); s.send(new Uint8Array([1, 2])); }
      }, 20);
    };
    s.onmessage = (e) => {
      events.push(typeof e.data === 'string' ? e.data : 'bytes ' + e.data.byteLength);
      if (typeof e.data !== 'string') s.close(4001, 'done');
    };
    s.onclose = (e) => { events.push('close ' + e.code); resolve(); };
  });
  check(events, { 'websockets: order': (l) => l.join('|') === 'tick1|tick2|tick3|bytes 2|close 4001' });
}
"#;

#[test]
fn messages_close_codes_timers_and_metrics_of_both_modules() {
    let server = WsServer::start();
    let (code, summary, out) = run("ws-echo", ECHO, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(checks(&summary), (16, 0), "{out}");
    // Four iterations of two sockets each.
    assert_eq!(count(&summary, "ws_sessions"), 8, "{summary}");
    assert_eq!(server.accepted(), 8);
    // k6/ws: a, the binary, close:4000 (pings and close frames are not counted); k6/websockets:
    // three ticks, the bytes and its close frame.
    assert_eq!(count(&summary, "ws_msgs_sent"), 4 * (3 + 5), "{summary}");
    // k6/ws: hello, a, the binary; k6/websockets: three ticks and the bytes.
    assert_eq!(
        count(&summary, "ws_msgs_received"),
        4 * (3 + 4),
        "{summary}"
    );
    for trend in ["ws_connecting", "ws_session_duration", "ws_ping"] {
        let m = &summary["metrics"][trend];
        assert!(m["min"].as_f64().is_some_and(|v| v >= 0.0), "{trend}: {m}");
    }
    // The k6/ws session lasts at least its 50 ms timer.
    assert!(summary["metrics"]["ws_session_duration"]["max"]
        .as_f64()
        .is_some_and(|v| v >= 50.0));
    assert!(count(&summary, "data_sent") > 8 * 100, "{summary}");
}

const BROADCAST: &str = r#"
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = { vus: 3, iterations: 3, thresholds: { checks: ['rate==1'] } };

export default function () {
  const room = `${__ENV.WS_URL}/broadcast/room-${exec.vu.idInTest}`;
  const got = [];
  const clients = [];
  let open = 0;
  let closed = 0;
  for (let i = 0; i < 3; i++) {
    const c = new WebSocket(room);
    clients.push(c);
    c.onopen = () => {
      if (++open === 3) clients[0].send('hi');
    };
    c.onmessage = (e) => {
      got.push(i + ' ' + e.data);
      c.close();
    };
    c.onclose = () => {
      if (++closed === 3) check(got.sort(), { 'all three got it': (g) => g.join('|') === '0 3:hi|1 3:hi|2 3:hi' });
    };
  }
}
"#;

#[test]
fn a_broadcast_reaches_every_client_and_the_iteration_waits_for_them() {
    let server = WsServer::start();
    let (code, summary, out) = run("ws-broadcast", BROADCAST, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(checks(&summary), (3, 0), "{out}");
    assert_eq!(count(&summary, "ws_sessions"), 9);
    assert_eq!(count(&summary, "ws_msgs_received"), 9);
}

const TLS: &str = r#"
import ws from 'k6/ws';
import { check } from 'k6';

export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };

export default function () {
  const res = ws.connect(`${__ENV.WS_URL}/echo`, (socket) => {
    socket.on('open', () => socket.send('over tls'));
    socket.on('message', (m) => { check(m, { 'echoed over TLS': (x) => x === 'over tls' }); socket.close(1000); });
  });
  check(res, { [`status ${res.status} error ${res.error}`]: () => true });
}
"#;

#[test]
fn wss_with_a_self_signed_certificate_needs_insecure_skip_tls_verify() {
    let server = WsServer::start_tls();
    let (code, summary, out) = run("wss-verify", TLS, &server.url, &[]);
    // Verified: the handshake fails, so the message check never runs.
    assert_eq!(code, 0, "{out}");
    let names = check_names(&summary);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("status 0 error ") && n.contains("unknown authority")),
        "{names:?}\n{out}"
    );
    let (code, summary, out) = run(
        "wss-insecure",
        TLS,
        &server.url,
        &["--insecure-skip-tls-verify"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        check_names(&summary),
        vec![
            "echoed over TLS".to_string(),
            "status 101 error ".to_string()
        ],
        "{out}"
    );
    assert_eq!(count(&summary, "ws_msgs_received"), 1);
}

/// The names of the root group's checks (the export lists them by name).
fn check_names(summary: &Value) -> Vec<String> {
    let mut names: Vec<String> = summary["root_group"]["checks"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

const REFUSED: &str = r#"
import ws from 'k6/ws';
import http from 'k6/http';
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';

export const options = { iterations: 1, blacklistIPs: ['127.0.0.0/8'], thresholds: { checks: ['rate==1'] } };

export default function () {
  const res = ws.connect(`${__ENV.WS_URL}/echo`, () => {});
  const h = http.get(`${__ENV.WS_URL}/echo`.replace('ws://', 'http://'));
  check(res, {
    'ws: refused like http': (r) => r.status === 0 && r.error === 'IP (127.0.0.1) is in a blacklisted range (127.0.0.0/8)',
    'http: refused': () => h.error_code === 1110,
  });
  const s = new WebSocket(`${__ENV.WS_URL}/echo`);
  s.onerror = (e) => check(e, { 'websockets: refused': (x) => x.error.indexOf('blacklisted') > 0 });
}
"#;

#[test]
fn blacklisted_addresses_refuse_sockets_as_they_refuse_requests() {
    let server = WsServer::start();
    let (code, summary, out) = run("ws-refused", REFUSED, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(checks(&summary), (3, 0), "{out}");
    assert_eq!(server.accepted(), 0);
}

const NEVER_CLOSED: &str = r#"
import { WebSocket } from 'k6/websockets';

export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '0s' } },
};

export default function () {
  const s = new WebSocket(`${__ENV.WS_URL}/echo`);
  s.onopen = () => s.send('stay');
}
"#;

#[test]
fn a_socket_that_never_closes_is_stopped_with_its_scenario() {
    let server = WsServer::start();
    volley_e2e::volley_bin(); // built before the clock starts
    let started = std::time::Instant::now();
    let (code, summary, out) = run("ws-never-closed", NEVER_CLOSED, &server.url, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{out}"
    );
    assert_eq!(count(&summary, "ws_sessions"), 2, "{summary}");
    assert_eq!(count(&summary, "ws_msgs_received"), 2, "{summary}");
    // The interrupted sessions' bytes still count, as in k6.
    assert!(count(&summary, "data_received") > 0, "{summary}");
}
