// The k6/http API against `volley target`: form and JSON bodies (echoed back by /post),
// cookies set by a redirecting endpoint, http.batch, res.json() selectors and status codes.
// One iteration sends exactly 8 requests; 1 of them (the 404) counts as failed.
import http from 'k6/http';
import { check } from 'k6';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate==1'] } };

export default function () {
  // 1: an object body is sent as application/x-www-form-urlencoded.
  const form = http.post(`${BASE}/post`, { name: 'volley', kind: 'load test' });
  check(form, {
    'form: status 200': (r) => r.status === 200,
    'form: fields echoed': (r) => r.json('form.name') === 'volley' && r.json('form.kind') === 'load test',
    'form: content type': (r) => r.json('headers.Content-Type') === 'application/x-www-form-urlencoded',
  });

  // 2: a string body with a JSON content type.
  const payload = { user: 'ada', tags: ['a', 'b'], n: 42 };
  const json = http.post(`${BASE}/echo`, JSON.stringify(payload), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(json, {
    'json: echoed': (r) => r.json('json.user') === 'ada' && r.json('json.n') === 42,
    'json: array selector': (r) => r.json('json.tags.1') === 'b' && r.json('json.tags.#') === 2,
    'json: method': (r) => r.json().method === 'POST',
  });

  // 3 and 4: /cookies/set answers 302 to /cookies; the redirect is followed (two requests)
  // and the VU's cookie jar sends the cookie along.
  const cookies = http.get(`${BASE}/cookies/set?flavour=oat&size=large`);
  check(cookies, {
    'cookies: followed redirect': (r) => r.status === 200 && r.url.endsWith('/cookies'),
    'cookies: jar sent them back': (r) => r.json('cookies.flavour') === 'oat' && r.json('cookies.size') === 'large',
    'cookies: in the jar': () => http.cookieJar().cookiesForURL(`${BASE}/`).flavour[0] === 'oat',
  });

  // 5, 6, 7: three requests in parallel.
  const [a, b, c] = http.batch([
    ['GET', `${BASE}/json`],
    ['GET', `${BASE}/headers`, null, { headers: { 'X-Batch': 'yes' } }],
    { method: 'POST', url: `${BASE}/anything`, body: 'raw text' },
  ]);
  check(null, {
    'batch: json': () => a.json('slideshow.title') !== undefined,
    'batch: headers': () => b.json('headers.X-Batch') === 'yes',
    'batch: body': () => c.json('body') === 'raw text' && c.json('method') === 'POST',
  });

  // 8: a 404 is a failed request (http_req_failed), but not an exception.
  const missing = http.get(`${BASE}/status/404`);
  check(missing, { 'status 404': (r) => r.status === 404 && r.error_code === 1404 });
}
