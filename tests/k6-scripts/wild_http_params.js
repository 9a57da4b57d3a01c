// Request parameters as tutorials show them: batch with request objects, redirects: 0 per
// request and maxRedirects for the run, timeouts as strings and numbers, binary and no bodies,
// and the error codes of failed requests.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, maxRedirects: 1 };

export default function () {
  const base = __ENV.BASE_URL;
  const responses = http.batch([
    { method: 'GET', url: `${base}/get?i=1`, params: { tags: { name: 'batch-get' } } },
    { method: 'POST', url: `${base}/post`, body: { a: '1' }, params: { headers: { 'X-Batch': 'yes' } } },
    { method: 'PUT', url: `${base}/put`, body: JSON.stringify({ p: true }), params: { headers: { 'Content-Type': 'application/json' } } },
    ['GET', `${base}/status/418`],
  ]);
  check(responses, {
    'batch get': (r) => r[0].json('args.i') === '1',
    'batch post form': (r) => r[1].json('form.a') === '1' && r[1].json('headers.X-Batch') === 'yes',
    'batch put json': (r) => r[2].json('json.p') === true,
    'batch array form': (r) => r[3].status === 418,
  });
  const named = http.batch({
    home: `${base}/anything/home`,
    about: { method: 'GET', url: `${base}/anything/about` },
  });
  check(named, { 'named batch': (r) => r.home.json('path') === '/anything/home' && r.about.json('path') === '/anything/about' });

  const noFollow = http.get(`${base}/redirect/2`, { redirects: 0 });
  check(noFollow, {
    'redirect not followed': (r) => r.status === 302 && r.headers.Location === '/redirect/1',
    'no error for a kept redirect': (r) => r.error === '' && r.error_code === 0,
  });
  const limited = http.get(`${base}/redirect/3`);
  check(limited, { 'maxRedirects stops early': (r) => r.status === 302 && r.url.endsWith('/redirect/2') });
  const allowed = http.get(`${base}/redirect/3`, { redirects: 5 });
  check(allowed, { 'per-request redirects wins': (r) => r.status === 200 && r.url.endsWith('/get') });

  const t1 = http.get(`${base}/delay/1000`, { timeout: 100 });
  const t2 = http.get(`${base}/delay/1000`, { timeout: '0.1s' });
  const fast = http.get(`${base}/delay/10`, { timeout: '5s' });
  check([t1, t2, fast], {
    'number timeout': (r) => r[0].status === 0 && r[0].error_code === 1050,
    'string timeout': (r) => r[1].status === 0 && r[1].error_code === 1050,
    'fast within timeout': (r) => r[2].status === 200,
  });

  const bin = http.get(`${base}/bytes/64`, { responseType: 'binary' });
  check(bin, { 'binary': (r) => r.body instanceof ArrayBuffer && r.body.byteLength === 64 });
  const none = http.post(`${base}/post`, 'x', { responseType: 'none' });
  check(none, { 'none': (r) => r.body === null && r.status === 200 });
  const refused = http.get('http://127.0.0.1:1/nothing-listens');
  check(refused, { 'connection refused': (r) => r.status === 0 && r.error_code === 1212 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
