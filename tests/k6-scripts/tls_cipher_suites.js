// k6/http with tlsCipherSuites. A server that speaks only TLS 1.2 with
// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (__ENV.HTTPS_TLS12_URL) accepts a list that holds
// that suite, and the response names the suite and the version. The list restricts TLS 1.2
// only: a server that speaks only TLS 1.3 with TLS_AES_256_GCM_SHA384 (__ENV.HTTPS_TLS13_URL)
// is reached whatever the list holds. Plain http has neither.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { suites: { executor: 'per-vu-iterations', vus: 1, iterations: 2, maxDuration: '30s' } },
  insecureSkipTLSVerify: true,
  tlsCipherSuites: ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
};

// Logs what came instead, so that a failed check says why.
const same = (got, want) => got === want || console.log(`got ${got}, want ${want}`) === 'never';

export default function () {
  const tls12 = http.get(`${__ENV.HTTPS_TLS12_URL}/hello`);
  check(tls12, {
    'TLS 1.2: status 200': (r) => same(r.status, 200),
    'TLS 1.2: the body came': (r) => same(r.body, 'hello'),
    'TLS 1.2: the version': (r) => same(r.tls_version, 'tls1.2'),
    'TLS 1.2: the chosen suite': (r) => same(r.tls_cipher_suite, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'),
  });
  const tls13 = http.get(`${__ENV.HTTPS_TLS13_URL}/hello`);
  check(tls13, {
    'TLS 1.3: status 200': (r) => same(r.status, 200),
    'TLS 1.3: the version': (r) => same(r.tls_version, 'tls1.3'),
    'TLS 1.3: the server\'s suite': (r) => same(r.tls_cipher_suite, 'TLS_AES_256_GCM_SHA384'),
  });
  const plain = http.get(`${__ENV.BASE_URL}/get`);
  check(plain, {
    'http: status 200': (r) => same(r.status, 200),
    'http: no TLS version': (r) => same(r.tls_version, ''),
    'http: no suite': (r) => same(r.tls_cipher_suite, ''),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
