// k6/net/grpc over TLS against Volley's gRPC test servers (tests/src/grpc_server.rs): one with
// a certificate from a test CA, one that also wants a client certificate from it. The CA and
// the client certificate are PEM files in __ENV.GRPC_CERTS. Calls and streams over TLS, a
// client certificate from connect's tls param, and the errors of bad certificates, as k6
// words them.
import grpc from 'k6/net/grpc';
import { check } from 'k6';

export const options = {
  scenarios: { tls: { executor: 'per-vu-iterations', vus: 2, iterations: 1, maxDuration: '30s' } },
  thresholds: {
    checks: ['rate==1'],
    'grpc_req_duration{method:Say,status:0}': ['max>0'],
    'grpc_streams{method:Count}': ['count==2'],
  },
};

const certs = __ENV.GRPC_CERTS;
const ca = open(`${certs}/ca.pem`);
const cert = open(`${certs}/client.pem`);
const key = open(`${certs}/client-key.pem`);
const client = new grpc.Client();
client.load(['grpc'], 'echo.proto');
const mutual = new grpc.Client();
mutual.load(['grpc'], 'echo.proto');

const why = (f) => { try { f(); return 'connected'; } catch (e) { return String(e); } };
// Logs what came instead, so that a failed check says why.
const same = (got, want) => got === want || console.log(`got ${got}, want ${want}`) === 'never';
const late = (text) => `GoError: context deadline exceeded: connection error: desc = "${text}"`;

export default async function () {
  // TLS is the default; the server's certificate is checked against tls.cacerts.
  client.connect(__ENV.GRPC_TLS_ADDR, { tls: { cacerts: [ca] }, timeout: '5s' });
  check(client.invoke('volley.echo.Echo/Say', { text: 'over tls' }), {
    'unary over TLS': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'over tls',
  });
  const seen = await new Promise((resolve) => {
    const log = [];
    const s = new grpc.Stream(client, 'volley.echo.Echo/Count');
    s.on('data', (m) => log.push(m.sequence));
    s.on('end', () => resolve(log.join(',')));
    s.write({ count: 3 });
    s.end();
  });
  check(seen, { 'stream over TLS': (l) => l === '1,2,3' });

  const other = new grpc.Client();
  const port = __ENV.GRPC_TLS_ADDR.split(':')[1];
  check(null, {
    'an unknown authority': () => same(why(() => other.connect(__ENV.GRPC_TLS_ADDR, { timeout: '300ms' })),
      late('transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority')),
    'a certificate for another name': () => same(why(() => other.connect(`localhost:${port}`, { tls: { cacerts: ca }, timeout: '300ms' })),
      late('transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match localhost')),
    'cacerts that are no PEM': () => same(why(() => other.connect(__ENV.GRPC_TLS_ADDR, { tls: { cacerts: [ca, 'nope'] } })),
      'GoError: failed to append ca certificate [1] from PEM'),
    'a cert that is no PEM': () => same(why(() => other.connect(__ENV.GRPC_TLS_ADDR, { tls: { cert: 'x', key } })),
      'GoError: failed to append certificate from PEM: tls: failed to find any PEM data in certificate input'),
    'a tls param that is no object': () => same(why(() => other.connect(__ENV.GRPC_TLS_ADDR, { tls: 'yes' })),
      `GoError: invalid grpc.connect() parameters: invalid tls value: '"yes"', expected (optional) keys: cert, key, password, and cacerts`),
    // k6 reads the server's alert, or (racing it) fails writing its preface: "write tcp …:
    // write: broken pipe".
    'no client certificate for a server that wants one': () => {
      const got = why(() => other.connect(__ENV.GRPC_MTLS_ADDR, { tls: { cacerts: ca }, timeout: '300ms' }));
      return same(got, late('error reading server preface: remote error: tls: certificate required')) ||
        (got.startsWith('GoError: context deadline exceeded: write tcp ') && got.endsWith('broken pipe'));
    },
  });

  mutual.connect(__ENV.GRPC_MTLS_ADDR, { tls: { cacerts: ca, cert, key } });
  check(mutual.invoke('volley.echo.Echo/Say', { text: 'mutual' }), {
    'a client certificate from the tls param': (x) => x.status === grpc.StatusOK && x.message.echo.text === 'mutual',
  });
  mutual.close();
  client.close();
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
