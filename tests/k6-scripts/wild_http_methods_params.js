// Every HTTP method helper and http.request, with headers, tags, timeouts, binary responses,
// query strings, and a request that times out.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE_URL;
  const json = { headers: { 'Content-Type': 'application/json', 'X-Trace': 'abc' }, tags: { api: 'items' } };
  const responses = {
    put: http.put(`${base}/put`, JSON.stringify({ a: 1 }), json),
    patch: http.patch(`${base}/patch`, JSON.stringify({ b: 2 }), json),
    del: http.del(`${base}/delete?id=3`, null, json),
    options: http.options(`${base}/anything`),
    head: http.head(`${base}/get`),
    request: http.request('POST', `${base}/anything/x`, 'raw body', { headers: { 'Content-Type': 'text/plain' } }),
  };
  check(responses, {
    'put echoes json': (r) => r.put.json('json.a') === 1 && r.put.json('headers.X-Trace') === 'abc',
    'patch': (r) => r.patch.json('method') === 'PATCH',
    'delete query': (r) => r.del.json('args.id') === '3',
    'options method': (r) => r.options.json('method') === 'OPTIONS',
    'head has no body': (r) => r.head.status === 200 && r.head.body === '',
    'request body': (r) => r.request.json('body') === 'raw body',
  });
  const bin = http.get(`${base}/bytes/16`, { responseType: 'binary' });
  check(bin, { 'binary body': (r) => r.body instanceof ArrayBuffer && r.body.byteLength === 16 });
  const none = http.get(`${base}/get`, { responseType: 'none' });
  check(none, { 'no body kept': (r) => r.body === null && r.status === 200 });
  const slow = http.get(`${base}/delay/2000`, { timeout: '200ms' });
  check(slow, {
    'timed out': (r) => r.status === 0 && r.error_code === 1050,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
