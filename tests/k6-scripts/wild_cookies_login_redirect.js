// A login flow across redirects: the server sets a session cookie on a redirect, the VU's jar
// keeps it for the next requests, a cookie set by hand with `jar.set` (path and domain
// options) joins it, a request with `redirects: 0` sees the 302 itself, and a per-request
// `cookies` param with `replace: true` overrides the jar's value for that request only.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const B = __ENV.BASE_URL;
  const jar = http.cookieJar();
  const login = http.get(`${B}/cookies/set?session=abc123&theme=dark`);
  check(login, {
    'redirected to the cookie list': (r) => r.url === `${B}/cookies` && r.status === 200,
    'both cookies seen': (r) => r.json('cookies.session') === 'abc123' && r.json('cookies.theme') === 'dark',
  });
  jar.set(B, 'csrf', 'tok-1', { path: '/' });
  const after = http.get(`${B}/cookies`);
  check(after, {
    'the jar sends all three': (r) => r.json('cookies.csrf') === 'tok-1' && r.json('cookies.session') === 'abc123',
    'the jar lists them': () => jar.cookiesForURL(`${B}/cookies`).session[0] === 'abc123',
  });
  const manual = http.get(`${B}/redirect-to?url=${encodeURIComponent(`${B}/get`)}`, { redirects: 0 });
  check(manual, {
    'no redirect followed': (r) => r.status === 302 && r.headers.Location === `${B}/get`,
  });
  const override = http.get(`${B}/cookies`, { cookies: { theme: { value: 'light', replace: true } } });
  check(override, {
    'the param wins for this request': (r) => r.json('cookies.theme') === 'light',
    'the jar keeps its value': () => jar.cookiesForURL(`${B}/cookies`).theme[0] === 'dark',
  });
  jar.clear(B);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
