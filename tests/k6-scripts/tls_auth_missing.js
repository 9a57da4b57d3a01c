// k6/http without tlsAuth against an HTTPS server that wants a client certificate
// (__ENV.HTTPS_MTLS_URL): the request fails with the server's alert, as k6 words it, and k6's
// error code for it.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { plain: { executor: 'per-vu-iterations', vus: 1, iterations: 2, maxDuration: '30s' } },
  insecureSkipTLSVerify: true,
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==1'] },
};

// Logs what came instead, so that a failed check says why.
const same = (got, want) => got === want || console.log(`got ${got}, want ${want}`) === 'never';

export default function () {
  const res = http.get(`${__ENV.HTTPS_MTLS_URL}/hello`);
  check(res, {
    'no response': (r) => same(r.status, 0),
    'the server asked for a certificate': (r) => same(r.error, 'remote error: tls: certificate required'),
    'error code 1010': (r) => same(r.error_code, 1010),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
