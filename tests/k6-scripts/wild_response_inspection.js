// A script that logs and asserts everything about its responses, as debugging sessions do:
// every method helper, status text, protocol, headers by canonical name, cookies, timings and
// binary bodies.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 1, thresholds: { checks: ['rate==1'], http_req_failed: ['rate<0.1'] } };

export default function () {
  const B = __ENV.BASE_URL;
  const get = http.get(`${B}/get`, { headers: { 'x-lower-case': 'v' } });
  check(get, {
    'status text': (r) => r.status_text === '200 OK',
    'protocol': (r) => r.proto === 'HTTP/1.1',
    'header names canonical': (r) => r.headers['Content-Type'] === 'application/json' && r.headers['content-type'] === undefined,
    'request header canonical': (r) => r.request.headers['X-Lower-Case'][0] === 'v',
    'timings keys': (r) => Object.keys(r.timings).sort().join(',') === 'blocked,connecting,duration,looking_up,receiving,sending,tls_handshaking,waiting',
    'timings add up': (r) => Math.abs(r.timings.duration - (r.timings.sending + r.timings.waiting + r.timings.receiving)) < 1,
    'remote address': (r) => r.remote_ip === '127.0.0.1' && r.remote_port > 0,
    'no tls': (r) => r.tls_version === '' && r.tls_cipher_suite === '',
    'no error': (r) => r.error === '' && r.error_code === 0,
  });
  const methods = [
    http.post(`${B}/post`, 'a'),
    http.put(`${B}/put`, 'b'),
    http.patch(`${B}/patch`, 'c'),
    http.del(`${B}/delete`, 'd'),
    http.request('DELETE', `${B}/delete`),
    http.options(`${B}/anything`),
    http.head(`${B}/get`),
    http.request('get', `${B}/get`),
  ];
  check(methods, {
    'bodies echoed': (m) => m.slice(0, 4).map((r) => r.json('body')).join('') === 'abcd',
    'methods': (m) => m.map((r) => r.request.method).join(',') === 'POST,PUT,PATCH,DELETE,DELETE,OPTIONS,HEAD,get',
    'a method is sent as written': (m) => m[7].status === 405,
    'head has an empty body': (m) => m[6].body === '' && m[6].status === 200,
  });
  const set = http.get(`${B}/cookies/set?a=1&b=2`, { redirects: 0 });
  check(set, {
    'redirect kept': (r) => r.status === 302 && r.headers.Location === '/cookies',
    'response cookies': (r) => r.cookies.a[0].value === '1' && r.cookies.b[0].name === 'b'
      && typeof r.cookies.a[0].http_only === 'boolean' && r.cookies.a[0].path === '/',
  });
  const bin = http.get(`${B}/bytes/4`, { responseType: 'binary' });
  check(bin, {
    'binary body': (r) => r.body instanceof ArrayBuffer && r.body.byteLength === 4 && new Uint8Array(r.body)[3] === 3,
  });
  const none = http.get(`${B}/bytes/4`, { responseType: 'none' });
  check(none, { 'discarded body': (r) => r.body === null && r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
