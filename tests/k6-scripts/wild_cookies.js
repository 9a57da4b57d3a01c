// Cookies: set by the server through a redirect, kept in the VU's jar, sent back, set and read
// by the script, cleared, and sent per request.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE_URL;
  const res = http.get(`${base}/cookies/set/session/abc123`);
  check(res, {
    'redirected to /cookies': (r) => r.status === 200 && r.url === `${base}/cookies`,
    'server saw the cookie': (r) => r.json('cookies.session') === 'abc123',
  });
  const jar = http.cookieJar();
  check(jar.cookiesForURL(base), {
    'jar has it': (c) => c.session !== undefined && c.session[0] === 'abc123',
  });
  jar.set(base, 'theme', 'dark');
  check(http.get(`${base}/cookies`), {
    'both cookies sent': (r) => r.json('cookies.theme') === 'dark' && r.json('cookies.session') === 'abc123',
  });
  jar.delete(base, 'theme');
  check(http.get(`${base}/cookies`), {
    'deleted cookie not sent': (r) => r.json('cookies.theme') === undefined,
  });
  jar.clear(base);
  check(http.get(`${base}/cookies`, { cookies: { once: 'only-here' } }), {
    'jar cleared, request cookie sent': (r) =>
      r.json('cookies.session') === undefined && r.json('cookies.once') === 'only-here',
  });
  check(http.get(`${base}/cookies`), {
    'request cookie not kept': (r) => r.json('cookies.once') === undefined,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
