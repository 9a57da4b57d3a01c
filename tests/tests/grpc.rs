//! `k6/net/grpc` end to end: `volley run` (and a cluster) against Volley's gRPC test server
//! (`volley_e2e::grpc_server`, its service from `tests/k6-scripts/grpc/echo.proto`). Scripts
//! check replies, metadata, statuses, deadlines, reflection and streams with k6 checks (a
//! failed check fails the `checks` threshold: exit 99); the test reads the metric counts from
//! `--summary-export`. Everything targets 127.0.0.1 and ends by itself in a few seconds.

use std::time::Duration;

use serde_json::Value;
use volley_e2e::grpc_server::{GrpcServer, Reflection};
use volley_e2e::loopback_tls::TestCa;
use volley_e2e::summary_run::{checks, count, run_with_summary};
use volley_e2e::{temp_dir, workspace_root, Cluster, TempDir};

/// A folder with `script` and a copy of the test service's .proto files in `grpc/`.
fn script_dir(name: &str, script: &str) -> TempDir {
    let dir = temp_dir(name);
    let protos = workspace_root().join("tests/k6-scripts/grpc");
    std::fs::create_dir_all(dir.join("grpc/shared")).expect("mkdir");
    for f in ["echo.proto", "shared/kinds.proto"] {
        std::fs::copy(protos.join(f), dir.join("grpc").join(f)).expect("copy proto");
    }
    std::fs::write(dir.join("script.js"), script).expect("write script");
    dir
}

/// Runs `script` with `-e GRPC_ADDR=addr`; returns the exit code, the summary export and the
/// output.
fn run(name: &str, script: &str, addr: &str) -> (i32, Value, String) {
    let dir = script_dir(name, script);
    let env = format!("GRPC_ADDR={addr}");
    let file = dir.join("script.js");
    run_with_summary(&dir, &file, &["-e", &env])
}

const UNARY: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 3, maxDuration: '20s' } },
  thresholds: { checks: ['rate==1'] },
  summaryTrendStats: ['avg', 'count'],
};

const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');

export default async function () {
  client.connect(__ENV.GRPC_ADDR, { plaintext: true, timeout: '5s' });
  const r = client.invoke('volley.echo.Echo/Say', { text: `vu ${__VU}`, big: 12, where: { label: 'p' } }, {
    metadata: { 'x-vu': String(__VU), 'x-raw-bin': new Uint8Array([255, 0]) },
  });
  check(r, {
    'unary: OK': (x) => x.status === grpc.StatusOK && x.error === null,
    'unary: echo': (x) => x.message.echo.text === `vu ${__VU}` && x.message.echo.big === '12' && x.message.echo.where.x === 0,
    'unary: metadata echo': (x) => x.message.metadata['x-vu'] === String(__VU) && x.message.metadata['x-raw-bin'] === '/wA=',
    'unary: headers': (x) => x.headers['x-served-by'][0] === 'volley-echo',
  });
  const codes = [3, 5, 7, 13, 16].map((code) => client.invoke('volley.echo.Echo/Fail', { code, message: `m${code}` }));
  check(codes, {
    'errors: statuses': (l) => l.every((x, i) => x.status == [3, 5, 7, 13, 16][i] && x.error.message === `m${x.error.code}`),
    'errors: status objects': (l) => l[4].status === grpc.StatusUnauthenticated && String(l[4].status) === 'Unauthenticated',
  });
  const started = Date.now();
  const d = client.invoke('volley.echo.Echo/Slow', { millis: 3000 }, { timeout: 150 });
  check(d, {
    'deadline: status': (x) => x.status === grpc.StatusDeadlineExceeded && x.error.message === 'context deadline exceeded',
    'deadline: on time': () => Date.now() - started < 2000,
  });
  const why = (f) => { try { f(); return 'no error'; } catch (e) { return String(e); } };
  check(null, {
    'missing method': () => why(() => client.invoke('volley.echo.Echo/Nope', {})) === 'GoError: method "/volley.echo.Echo/Nope" not found in file descriptors',
    'bad field': () => why(() => client.invoke('volley.echo.Echo/Say', { nope: 1 })).startsWith('GoError: unable to serialise request object to protocol buffer:'),
    'bad param': () => why(() => client.invoke('volley.echo.Echo/Say', {}, { bogus: 1 })) === `GoError: invalid GRPC's client.invoke() parameters: unknown param: "bogus"`,
  });
  const both = await Promise.all([
    client.asyncInvoke('volley.echo.Echo/Slow', { millis: 100 }),
    client.asyncInvoke('volley.echo.Echo/Say', { text: 'async' }),
  ]);
  check(both, { 'asyncInvoke: both resolve': (l) => l[0].status === grpc.StatusOK && l[1].message.echo.text === 'async' });
  client.close();
  check(null, { 'closed': () => why(() => client.invoke('volley.echo.Echo/Say', {})) === 'GoError: no gRPC connection, you must call connect first' });
}
"#;

#[test]
fn unary_calls_metadata_statuses_deadlines_and_errors() {
    let server = GrpcServer::start();
    let (code, summary, out) = run("grpc-unary", UNARY, &server.addr);
    assert_eq!(code, 0, "{out}");
    // Six iterations of 4 + 2 + 2 + 3 + 1 + 1 checks.
    assert_eq!(checks(&summary), (6 * 13, 0), "{out}");
    // Per iteration: Say, five Fails, two asyncInvokes; the call past its deadline is not
    // recorded, as in k6.
    assert_eq!(count(&summary, "grpc_req_duration"), 6 * 8, "{summary}");
    assert!(count(&summary, "data_sent") > 0, "{summary}");
}

const STREAMS: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '20s' } },
  thresholds: { checks: ['rate==1'] },
  summaryTrendStats: ['avg', 'count'],
};

const client = new grpc.Client();

export default function () {
  // Server reflection instead of .proto files.
  client.connect(__ENV.GRPC_ADDR, { plaintext: true, reflect: true });
  const log = [];
  let open = 3;
  // The iteration waits for every stream; the checks run once the last has ended.
  const ended = (what) => {
    log.push(`${what} end`);
    if (--open > 0) return;
    check(log, {
      'streams: count in order': (l) => l.filter((x) => x.startsWith('count')).join('|') === 'count 1|count 2|count 3|count end',
      'streams: chat': (l) => l.filter((x) => x.startsWith('chat')).join('|') === 'chat a|chat b|chat end',
      'streams: deadline': (l) => l.filter((x) => x.startsWith('late')).join('|') === 'late DeadlineExceeded context deadline exceeded|late end',
    });
  };
  const count = new grpc.Stream(client, 'volley.echo.Echo/Count', { tags: { s: 'count' } });
  count.on('data', (m) => log.push(`count ${m.sequence}`));
  count.on('end', () => ended('count'));
  count.write({ count: 3, gapMillis: 20 });
  count.end();
  const chat = new grpc.Stream(client, 'volley.echo.Echo/Chat');
  chat.on('data', (m) => { log.push(`chat ${m.echo.text}`); if (m.sequence === 2) chat.end(); });
  chat.on('end', () => ended('chat'));
  chat.write({ text: 'a' });
  chat.write({ text: 'b' });
  const late = new grpc.Stream(client, 'volley.echo.Echo/Slow', { timeout: '50ms' });
  late.on('error', (e) => log.push(`late ${e.code} ${e.message}`));
  late.on('end', () => ended('late'));
  late.write({ millis: 2000 });
  late.end();
}
"#;

#[test]
fn streams_of_every_kind_over_reflection_and_their_metrics() {
    let server = GrpcServer::start();
    let (code, summary, out) = run("grpc-streams", STREAMS, &server.addr);
    assert_eq!(code, 0, "{out}");
    assert_eq!(checks(&summary), (4 * 3, 0), "{out}");
    assert_eq!(count(&summary, "grpc_streams"), 4 * 3, "{summary}");
    // count: 1 message up, 3 down; chat: 2 up, 2 down; the late one: 1 up.
    assert_eq!(
        count(&summary, "grpc_streams_msgs_sent"),
        4 * 4,
        "{summary}"
    );
    assert_eq!(
        count(&summary, "grpc_streams_msgs_received"),
        4 * 5,
        "{summary}"
    );
    // The streams that ended with a status from the server; the late one is not recorded.
    assert_eq!(count(&summary, "grpc_req_duration"), 4 * 2, "{summary}");
}

#[test]
fn agents_read_the_proto_files_from_the_archive() {
    let server = GrpcServer::start();
    let script = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { iterations: 2, vus: 1, thresholds: { checks: ['rate==1'] } };
const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');
let outside = 'loaded';
try { new grpc.Client().load(null, '/etc/hostname'); } catch (e) { outside = String(e); }
console.log(`OUTSIDE ${outside}`);
export default function () {
  client.connect(__ENV.GRPC_ADDR, { plaintext: true });
  const r = client.invoke('volley.echo.Echo/Say', { text: 'from an agent', mood: 'HAPPY' });
  check(r, { 'agent: echo': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'from an agent' && x.message.echo.mood === 'HAPPY' });
}
"#;
    let dir = script_dir("grpc-cluster", script);
    let cluster = Cluster::start("grpc-cluster", 1);
    let env = format!("GRPC_ADDR={}", server.addr);
    let mut submit = cluster.submit(&dir.join("script.js"), &["-e", &env]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(60), 0);
    let msgs: Vec<String> = cluster
        .console_messages()
        .into_iter()
        .flat_map(|(_, m)| m)
        .collect();
    assert!(
        msgs.iter().any(|m| m.starts_with(
            "OUTSIDE GoError: \"/etc/hostname\" is an absolute path, and a script run by an agent \
             reads only the files bundled in its archive"
        )),
        "{msgs:?}"
    );
}

/// Runs `script` (in a folder with the .proto files and `ca`'s certificates) with
/// `-e GRPC_TLS=tls -e GRPC_MTLS=mtls`.
fn run_tls(name: &str, script: &str, ca: &TestCa, tls: &str, mtls: &str) -> (i32, Value, String) {
    let dir = script_dir(name, script);
    ca.write_to(&dir);
    let file = dir.join("script.js");
    let (tls, mtls) = (format!("GRPC_TLS={tls}"), format!("GRPC_MTLS={mtls}"));
    run_with_summary(&dir, &file, &["-e", &tls, "-e", &mtls])
}

/// The names of the checks that failed, for assertion messages.
fn failed_checks(summary: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(checks) = summary["root_group"]["checks"].as_object() {
        for (name, c) in checks {
            if c["fails"].as_i64().unwrap_or(0) > 0 {
                out.push(name.clone());
            }
        }
    }
    out
}

const TLS: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 1, maxDuration: '30s' } },
  thresholds: { checks: ['rate==1'] },
  summaryTrendStats: ['avg', 'count'],
};
const ca = open('./ca.pem');
const cert = open('./client.pem');
const key = open('./client-key.pem');
const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');
const mutual = new grpc.Client();
mutual.load(['grpc'], 'echo.proto');
const why = (f) => { try { f(); return 'connected'; } catch (e) { return String(e); } };
// Logs what came instead, so that a failed check says why.
const same = (got, want) => got === want || console.log(`got ${got}, want ${want}`) === 'never';
const desc = (text) => `GoError: context deadline exceeded: connection error: desc = "${text}"`;

export default function () {
  // TLS is the default; the server's certificate is checked against tls.cacerts.
  client.connect(__ENV.GRPC_TLS, { tls: { cacerts: ca }, timeout: '5s' });
  check(client.invoke('volley.echo.Echo/Say', { text: 'over tls' }), {
    'tls: unary': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'over tls',
  });
  const log = [];
  const s = new grpc.Stream(client, 'volley.echo.Echo/Count');
  s.on('data', (m) => log.push(m.sequence));
  s.on('end', () => check(log, { 'tls: stream': (l) => l.join(',') === '1,2,3' }));
  s.write({ count: 3 });
  s.end();

  const other = new grpc.Client();
  const port = __ENV.GRPC_TLS.split(':')[1];
  check(null, {
    'tls: unknown authority': () => same(why(() => other.connect(__ENV.GRPC_TLS, { timeout: '300ms' })),
      desc('transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority')),
    'tls: name mismatch': () => same(why(() => other.connect(`localhost:${port}`, { tls: { cacerts: ca }, timeout: '300ms' })),
      desc('transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match localhost')),
    'tls: bad cacerts': () => same(why(() => other.connect(__ENV.GRPC_TLS, { tls: { cacerts: [ca, 'nope'] } })),
      'GoError: failed to append ca certificate [1] from PEM'),
    'tls: bad cert': () => same(why(() => other.connect(__ENV.GRPC_TLS, { tls: { cert: 'x', key } })),
      'GoError: failed to append certificate from PEM: tls: failed to find any PEM data in certificate input'),
    'tls: not an object': () => same(why(() => other.connect(__ENV.GRPC_TLS, { tls: 'yes' })),
      `GoError: invalid grpc.connect() parameters: invalid tls value: '"yes"', expected (optional) keys: cert, key, password, and cacerts`),
    'mtls: no client certificate': () => same(why(() => other.connect(__ENV.GRPC_MTLS, { tls: { cacerts: ca }, timeout: '300ms' })),
      desc('error reading server preface: remote error: tls: certificate required')),
  });
  mutual.connect(__ENV.GRPC_MTLS, { tls: { cacerts: ca, cert, key } });
  check(mutual.invoke('volley.echo.Echo/Say', { text: 'mutual' }), {
    'mtls: unary with the tls param certificate': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'mutual',
  });
}
"#;

#[test]
fn tls_calls_streams_client_certificates_and_go_worded_failures() {
    let ca = TestCa::new();
    let (tls, mtls) = (
        GrpcServer::start_tls(&ca, false),
        GrpcServer::start_tls(&ca, true),
    );
    let (code, summary, out) = run_tls("grpc-tls", TLS, &ca, &tls.addr, &mtls.addr);
    assert_eq!(
        code,
        0,
        "failed checks {:?}\n{out}",
        failed_checks(&summary)
    );
    assert_eq!(checks(&summary), (2 * 9, 0), "{out}");
    // Per iteration: two unary calls and the stream.
    assert_eq!(count(&summary, "grpc_req_duration"), 2 * 3, "{summary}");
}

const RUN_OPTIONS: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';

// The run's TLS options hold for gRPC: no certificate check, the first tlsAuth certificate
// presented (whatever its domains, as in k6), TLS 1.3 only.
export const options = {
  iterations: 2,
  insecureSkipTLSVerify: true,
  tlsVersion: { min: 'tls1.3' },
  tlsAuth: [{ domains: ['example.com'], cert: open('./client.pem'), key: open('./client-key.pem') }],
  thresholds: { checks: ['rate==1'] },
};
const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');
const why = (f) => { try { f(); return 'connected'; } catch (e) { return String(e); } };
const ca = open('./ca.pem');
const said = (text, part) => text.includes(part) || console.log(`got ${text}`) === 'never';

export default function () {
  client.connect(__ENV.GRPC_MTLS, { timeout: '5s' });
  check(client.invoke('volley.echo.Echo/Say', { text: 'run options' }), {
    'insecureSkipTLSVerify and tlsAuth': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'run options',
  });
  client.close();
  // A tls param replaces the run's certificates (the check is still skipped).
  check(null, {
    'the tls param replaces tlsAuth': () => said(why(() => new grpc.Client().connect(__ENV.GRPC_MTLS, { tls: { cacerts: ca }, timeout: '300ms' })), 'certificate required'),
  });
}
"#;

#[test]
fn the_runs_tls_options_hold_for_grpc() {
    let ca = TestCa::new();
    let mtls = GrpcServer::start_tls(&ca, true);
    let (code, summary, out) = run_tls("grpc-tls-options", RUN_OPTIONS, &ca, "", &mtls.addr);
    assert_eq!(
        code,
        0,
        "failed checks {:?}\n{out}",
        failed_checks(&summary)
    );
    assert_eq!(checks(&summary), (2 * 2, 0), "{out}");
}

/// `tlsCipherSuites` holds for gRPC too: TLS 1.2 alone, with the suite `SUITE` (the test
/// server's key is ECDSA, so an RSA suite is one it does not share).
const CIPHER_SUITES: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = {
  iterations: 1,
  insecureSkipTLSVerify: true,
  tlsVersion: 'tls1.2',
  tlsCipherSuites: ['SUITE'],
  thresholds: { checks: ['rate==1'] },
};
const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');
const why = (f) => { try { f(); return 'connected'; } catch (e) { return String(e); } };
const said = (text, part) => text.includes(part) || console.log(`got ${text}`) === 'never';

export default function () {
  check(null, { 'SUITE': () => said(why(() => client.connect(__ENV.GRPC_TLS, { timeout: '3s' })), 'WANT') });
}
"#;

#[test]
fn the_runs_cipher_suites_hold_for_grpc() {
    let ca = TestCa::new();
    let tls = GrpcServer::start_tls(&ca, false);
    for (suite, want) in [
        ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "connected"),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "remote error: tls: handshake failure",
        ),
    ] {
        let script = CIPHER_SUITES.replace("SUITE", suite).replace("WANT", want);
        let (code, summary, out) = run_tls("grpc-cipher-suites", &script, &ca, &tls.addr, "");
        assert_eq!(
            code,
            0,
            "{suite}: failed checks {:?}\n{out}",
            failed_checks(&summary)
        );
        assert_eq!(checks(&summary), (1, 0), "{suite}: {out}");
    }
}

const OLD_REFLECTION: &str = r#"
import grpc from 'k6/net/grpc';
import { check } from 'k6';
export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };
const why = (f) => { try { f(); return 'connected'; } catch (e) { return String(e); } };

export default function () {
  // grpc.reflection.v1alpha only (grpc-go servers before 1.57): asked when v1 is unknown.
  const old = new grpc.Client();
  old.connect(__ENV.GRPC_ADDR, { plaintext: true, reflect: true });
  check(old.invoke('volley.echo.Echo/Say', { text: 'v1alpha' }), {
    'v1alpha reflection': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'v1alpha',
  });
  old.close();
  // No reflection at all: k6's words (grpc-go's status of the call).
  const got = why(() => new grpc.Client().connect(__ENV.GRPC_NONE, { plaintext: true, reflect: true }));
  check(got, {
    'no reflection': (t) => t === 'GoError: can\'t list services: rpc error: code = Unimplemented desc = ' || console.log(t) === 'never',
  });
}
"#;

#[test]
fn reflection_falls_back_to_v1alpha_and_says_when_there_is_none() {
    let old = GrpcServer::start_reflecting(Reflection::V1alphaOnly);
    let none = GrpcServer::start_reflecting(Reflection::None);
    let dir = script_dir("grpc-v1alpha", OLD_REFLECTION);
    let file = dir.join("script.js");
    let (a, n) = (
        format!("GRPC_ADDR={}", old.addr),
        format!("GRPC_NONE={}", none.addr),
    );
    let (code, summary, out) = run_with_summary(&dir, &file, &["-e", &a, "-e", &n]);
    assert_eq!(
        code,
        0,
        "failed checks {:?}\n{out}",
        failed_checks(&summary)
    );
    assert_eq!(checks(&summary), (2 * 2, 0), "{out}");
}
