// A session kept in cookies: the server sets them through redirects, the script reads them
// from the VU's jar, adds its own with options, deletes one and clears a second jar.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate==1'] } };

export default function () {
  const B = __ENV.BASE_URL;
  const jar = http.cookieJar();
  const res = http.get(`${B}/cookies/set?session=abc&theme=dark`);
  check(res, {
    'redirected to the cookie list': (r) => r.status === 200 && r.url === `${B}/cookies`,
    'server saw both': (r) => r.json('cookies.session') === 'abc' && r.json('cookies.theme') === 'dark',
  });
  const forUrl = jar.cookiesForURL(`${B}/`);
  check(forUrl, {
    'jar lists them as arrays': (c) => Array.isArray(c.session) && c.session[0] === 'abc',
  });
  jar.set(B, 'lang', 'en', { path: '/' });
  jar.set(B, 'scoped', 'x', { path: '/cookies' });
  check(http.get(`${B}/cookies`), {
    'own cookies sent': (r) => r.json('cookies.lang') === 'en' && r.json('cookies.scoped') === 'x',
  });
  check(http.get(`${B}/get`), {
    'path-scoped cookie not sent elsewhere': (r) => !String(r.json('headers.Cookie') || '').includes('scoped='),
  });
  jar.delete(B, 'theme');
  check(http.get(`${B}/cookies`), { 'deleted cookie gone': (r) => r.json('cookies.theme') === undefined });
  const other = new http.CookieJar();
  other.set(B, 'temp', '1');
  check(http.get(`${B}/cookies`, { jar: other }), { 'a second jar': (r) => r.json('cookies.temp') === '1' && r.json('cookies.session') === undefined });
  other.clear(B);
  check(http.get(`${B}/cookies`, { jar: other }), { 'cleared jar': (r) => Object.keys(r.json('cookies')).length === 0 });
  check(http.get(`${B}/cookies`, { cookies: { session: { value: 'override', replace: true } } }), {
    'replace wins over the jar': (r) => r.json('cookies.session') === 'override',
  });
  jar.clear(B);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
