// k6/http with tlsAuth against an HTTPS server that wants a client certificate from a test CA
// (__ENV.HTTPS_MTLS_URL; the CA's PEM files are in __ENV.GRPC_CERTS). The certificate is
// presented whatever its entry's domains say: k6 chooses by the authorities the server accepts.
import http from 'k6/http';
import { check } from 'k6';

const certs = __ENV.GRPC_CERTS;
const cert = open(`${certs}/client.pem`);
const key = open(`${certs}/client-key.pem`);

export const options = {
  scenarios: { mtls: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '30s' } },
  insecureSkipTLSVerify: true,
  tlsAuth: [{ domains: ['example.com'], cert, key }],
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
};

export default function () {
  const res = http.get(`${__ENV.HTTPS_MTLS_URL}/hello`);
  check(res, {
    'status 200 with a client certificate': (r) => r.status === 200,
    'the body came': (r) => r.body === 'hello',
    'over TLS': (r) => r.tls_version === 'tls1.3' || r.tls_version === 'tls1.2',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
