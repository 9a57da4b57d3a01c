// k6/http with tlsCipherSuites that a server speaking only TLS 1.2 with
// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (__ENV.HTTPS_TLS12_URL) does not share: another
// AES-GCM suite, and a CBC one with RSA key exchange (which k6 offers and Volley cannot, with a
// warning at the start). The server refuses the handshake: Go's words for its alert, k6's code.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { suites: { executor: 'per-vu-iterations', vus: 1, iterations: 2, maxDuration: '30s' } },
  insecureSkipTLSVerify: true,
  tlsCipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'TLS_RSA_WITH_AES_128_CBC_SHA'],
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==1'] },
};

// Logs what came instead, so that a failed check says why.
const same = (got, want) => got === want || console.log(`got ${got}, want ${want}`) === 'never';

export default function () {
  const res = http.get(`${__ENV.HTTPS_TLS12_URL}/hello`);
  check(res, {
    'no response': (r) => same(r.status, 0),
    'the server refused the suites': (r) => same(r.error, 'remote error: tls: handshake failure'),
    'error code 1010': (r) => same(r.error_code, 1010),
    'no version': (r) => same(r.tls_version, ''),
    'no suite': (r) => same(r.tls_cipher_suite, ''),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
