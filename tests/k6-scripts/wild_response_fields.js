// What API tests read off a response besides the status: headers in k6's canonical case,
// status_text, cookies set and sent, timings, remote address, protocol, the request as sent,
// error codes, and bodies that are not JSON.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE_URL;
  const res = http.post(`${base}/anything/fields?x=1`, JSON.stringify({ a: 1 }), {
    headers: { 'content-type': 'application/json', 'x-lower-case': 'yes' },
    cookies: { session: 'abc' },
  });
  check(res, {
    'status_text': (r) => r.status_text === '200 OK',
    'canonical header name': (r) => r.headers['Content-Type'] === 'application/json',
    'lower-case name absent': (r) => r.headers['content-type'] === undefined,
    'proto': (r) => r.proto === 'HTTP/1.1',
    'remote ip': (r) => r.remote_ip === '127.0.0.1' && typeof r.remote_port === 'number' && r.remote_port > 0,
    'tls fields empty on http': (r) => r.tls_version === '' && r.tls_cipher_suite === '',
    'timings keys': (r) => ['blocked', 'looking_up', 'connecting', 'tls_handshaking', 'sending', 'waiting', 'receiving', 'duration'].every((k) => typeof r.timings[k] === 'number'),
    'no ocsp over http': (r) => r.ocsp.status === '' && r.ocsp.produced_at === 0 && r.ocsp.revocation_reason === '',
    'request method': (r) => r.request.method === 'POST',
    'request url': (r) => r.request.url === `${base}/anything/fields?x=1`,
    'request body': (r) => r.request.body === '{"a":1}',
    'request header as array': (r) => Array.isArray(r.request.headers['X-Lower-Case']) && r.request.headers['X-Lower-Case'][0] === 'yes',
    'request cookie': (r) => r.request.cookies.session[0].value === 'abc',
    'sent header canonical': (r) => r.json('headers.X-Lower-Case') === 'yes',
    'sent cookie': (r) => r.json('headers.Cookie') === 'session=abc',
    'error empty': (r) => r.error === '' && r.error_code === 0,
    'url': (r) => r.url === `${base}/anything/fields?x=1`,
    'body string': (r) => typeof r.body === 'string',
  });
  const set = http.get(`${base}/cookies/set?flavour=choc`, { redirects: 0 });
  check(set, {
    'response cookie': (r) => r.cookies.flavour !== undefined && r.cookies.flavour[0].value === 'choc',
    'response cookie fields': (r) => typeof r.cookies.flavour[0].path === 'string' && r.cookies.flavour[0].http_only === false,
    'set-cookie header': (r) => r.headers['Set-Cookie'].startsWith('flavour=choc'),
  });
  check(set, { 'session cookie expires as k6 shows it': (r) => r.cookies.flavour[0].expires === -6795364578871 });
  const withJar = http.get(`${base}/headers`, { cookies: { extra: 'x' } });
  check(withJar, {
    'jar and params cookies sent': (r) => r.request.cookies.flavour[0].value === 'choc' && r.request.cookies.extra[0].value === 'x',
    'request headers without Host and Content-Length': (r) => Object.keys(r.request.headers).sort().join() === 'Cookie,User-Agent',
  });
  const html = http.get(`${base}/html`);
  let threw = false;
  try {
    html.json();
  } catch (e) {
    threw = true;
  }
  check(html, {
    'non-JSON body throws without a selector': () => threw,
    'a selector on a non-JSON body is undefined': (r) => r.json('title') === undefined,
  });
  const missing = http.get(`${base}/status/404`);
  check(missing, {
    '404 status_text': (r) => r.status_text === '404 Not Found',
    '404 error code': (r) => r.error === '' && r.error_code === 1404,
  });
  const server = http.get(`${base}/status/503`);
  check(server, { '503 error code': (r) => r.error_code === 1503 && r.error === '' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
