//! `k6/net/grpc` end to end: `volley run` (and a cluster) against Volley's gRPC test server
//! (`volley_e2e::grpc_server`, its service from `tests/k6-scripts/grpc/echo.proto`). Scripts
//! check replies, metadata, statuses, deadlines, reflection and streams with k6 checks (a
//! failed check fails the `checks` threshold: exit 99); the test reads the metric counts from
//! `--summary-export`. Everything targets 127.0.0.1 and ends by itself in a few seconds.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use volley_e2e::grpc_server::GrpcServer;
use volley_e2e::summary_run::{checks, count, run_with_summary};
use volley_e2e::{temp_dir, workspace_root, Cluster};

/// A folder with `script` and a copy of the test service's .proto files in `grpc/`.
fn script_dir(name: &str, script: &str) -> PathBuf {
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
    let _ = std::fs::remove_dir_all(&dir);
}
