// k6/net/grpc against Volley's gRPC test server (tests/src/grpc_server.rs, its service from
// ./grpc/echo.proto): unary calls and the protobuf JSON mapping, metadata, error statuses, a
// deadline, asyncInvoke, server reflection and streams of every kind. The thresholds on
// submetrics check the tags of k6's gRPC metrics.
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const addr = __ENV.GRPC_ADDR;
const say = `/volley.echo.Echo/Say`;

export const options = {
  scenarios: { calls: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '30s' } },
  thresholds: {
    checks: ['rate==1'],
    [`grpc_req_duration{name:${say},method:Say,service:volley.echo.Echo,status:0,url:${addr}${say}}`]: ['max>0'],
    'grpc_req_duration{status:5}': ['max>0'],
    'grpc_req_duration{kind:tagged}': ['max>0'],
    // A call whose own deadline passed is not recorded.
    'grpc_req_duration{status:4}': ['max==0'],
    'grpc_req_duration{method:Count,status:0}': ['max>0'],
    'grpc_streams{method:Count}': ['count==4'],
    'grpc_streams_msgs_sent{method:Chat}': ['count==8'],
    'grpc_streams_msgs_received{method:Count}': ['count==8'],
  },
};

const client = new grpc.Client();
const methods = client.load(['grpc'], 'echo.proto');

export default async function () {
  check(methods, {
    'load lists the methods': (m) => m.length === 6 && m[0].full_method === say && m[0].service === 'Echo',
    'load flags streams': (m) => m.find((x) => x.name === 'Chat').is_client_stream === true,
  });
  check(client, { 'connect returns true': (c) => c.connect(addr, { plaintext: true }) === true });

  const full = {
    text: 'hi', big: '9007199254740993', small: -5, ratio: 1.5, flag: true, blob: 'aGVsbG8=',
    mood: 'HAPPY', words: ['a', 'b'], scores: { x: 1 }, where: { x: 3, label: 'p' }, number: 7,
    at: '2024-01-02T03:04:05.500Z', took: '1.500s',
  };
  const r = client.invoke('volley.echo.Echo/Say', full, {
    metadata: { 'x-one': 'uno', 'x-two-bin': new Uint8Array([1, 2, 3]) },
    tags: { kind: 'tagged' },
  });
  check(r, {
    'status is the OK object': (x) => x.status === grpc.StatusOK && x.status == 0 && String(x.status) === 'OK',
    'no error': (x) => x.error === null,
    'int64 as strings': (x) => x.message.echo.big === '9007199254740993' && x.message.echo.ubig === '0',
    'enums by name': (x) => x.message.echo.mood === 'HAPPY',
    'unset fields shown': (x) => x.message.echo.text === 'hi' && x.message.echo.fraction === 0 && x.message.echo.where.y === 0,
    'unset messages are null': (x) => x.message.echo.at !== null && x.message.echo.signedBig === '0',
    'oneof and well-known types': (x) => x.message.echo.number === 7 && x.message.echo.took === '1.500s',
    'metadata reaches the server': (x) => x.message.metadata['x-one'] === 'uno' && x.message.metadata['x-two-bin'] === 'AQID',
    'headers are lists': (x) => x.headers['x-served-by'][0] === 'volley-echo',
    'no trailers': (x) => Object.keys(x.trailers).length === 0,
  });

  const f = client.invoke('volley.echo.Echo/Fail', { code: 5, message: 'no such thing' });
  check(f, {
    'error status': (x) => x.status === grpc.StatusNotFound && x.error.code === 5 && x.error.message === 'no such thing',
    'error shows the empty reply': (x) => x.message.sequence === 0 && x.message.echo === null,
    'status metadata are trailers': (x) => x.trailers['x-reason'][0] === 'asked',
  });
  const d = client.invoke('volley.echo.Echo/Slow', { millis: 2000 }, { timeout: '100ms' });
  check(d, { 'deadline exceeded': (x) => x.status === grpc.StatusDeadlineExceeded && x.error.message === 'context deadline exceeded' });

  let missing = '';
  try { client.invoke('volley.echo.Echo/Nope', {}); } catch (e) { missing = String(e); }
  check(missing, { 'a missing method throws': (m) => m === 'GoError: method "/volley.echo.Echo/Nope" not found in file descriptors' });

  const a = await client.asyncInvoke('volley.echo.Echo/Say', { text: 'async' });
  check(a, { 'asyncInvoke resolves': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'async' });

  const reflected = new grpc.Client();
  reflected.connect(addr, { plaintext: true, reflect: true });
  check(reflected.invoke('volley.echo.Echo/Say', { mood: 'GRUMPY' }), {
    'reflection finds the service': (x) => x.message.echo.mood === 'GRUMPY',
  });
  reflected.close();

  const log = [];
  await new Promise((resolve) => {
    const s = new grpc.Stream(client, 'volley.echo.Echo/Count');
    s.on('data', (m) => log.push(`count ${m.sequence} ${m.echo.text}`));
    s.on('end', () => resolve());
    s.write({ count: 2, gapMillis: 5 });
    s.end();
  });
  await new Promise((resolve) => {
    const s = new grpc.Stream(client, 'volley.echo.Echo/Chat');
    s.on('data', (m) => { log.push(`chat ${m.echo.text}`); if (m.sequence === 2) s.end(); });
    s.on('end', () => resolve());
    s.write({ text: 'one' });
    s.write({ text: 'two' });
  });
  await new Promise((resolve) => {
    const s = new grpc.Stream(client, 'volley.echo.Echo/Collect');
    s.on('data', (m) => log.push(`collect ${m.echo.text}`));
    s.on('end', () => resolve());
    ['a', 'b', 'c'].forEach((t) => s.write({ text: t }));
    s.end();
  });
  await new Promise((resolve) => {
    const s = new grpc.Stream(client, 'volley.echo.Echo/Fail');
    s.on('error', (e) => log.push(`error ${e.code} ${e.message} ${String(e)}`));
    s.on('end', () => resolve());
    s.write({ code: 7, message: 'denied' });
    s.end();
  });
  check(log, {
    'streams in order': (l) => l.join('|') === 'count 1 reply 1|count 2 reply 2|chat one|chat two|collect a,b,c|error PermissionDenied denied code: 7, message: denied',
  });
  client.close();
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
