// Redirects: followed by default (the response is the last hop's), limited by the maxRedirects
// option and the per-request redirects param, and relative or absolute.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, maxRedirects: 3 };

export default function () {
  const base = __ENV.BASE_URL;
  check(http.get(`${base}/redirect/2`), {
    'followed to the end': (r) => r.status === 200 && r.url === `${base}/get`,
  });
  check(http.get(`${base}/redirect/5`), {
    'stops after maxRedirects': (r) => r.status === 302,
  });
  check(http.get(`${base}/redirect/2`, { redirects: 0 }), {
    'not followed with redirects: 0': (r) => r.status === 302 && r.headers.Location === '/redirect/1',
  });
  check(http.get(`${base}/relative-redirect/1`), { relative: (r) => r.status === 200 });
  check(http.get(`${base}/absolute-redirect/1`), { absolute: (r) => r.status === 200 });
  check(http.get(`${base}/redirect-to?url=${encodeURIComponent(`${base}/headers`)}`), {
    'redirect-to': (r) => r.url === `${base}/headers`,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
