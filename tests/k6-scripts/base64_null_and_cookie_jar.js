// k6's lenient corners: base64 with a null (or unknown) encoding is the standard alphabet, and
// CookieJar.set() quietly ignores a cookie it cannot store for the URL, returning true.
import http from 'k6/http';
import encoding from 'k6/encoding';
import { check } from 'k6';

export const options = { vus: 1, iterations: 1 };

export default function () {
  const B = __ENV.BASE_URL;
  check(null, {
    'b64encode null is std': () => encoding.b64encode('hi?>~~', null) === 'aGk/Pn5+',
    'b64encode unknown is std': () => encoding.b64encode('hi?>~~', 'standard') === 'aGk/Pn5+',
    'b64decode null is std': () => encoding.b64decode('aGk/Pn5+', null, 's') === 'hi?>~~',
    'b64decode null format is an ArrayBuffer': () =>
      encoding.b64decode('aGk/Pn5+', 'std', null) instanceof ArrayBuffer,
    'url alphabet still url': () => encoding.b64encode('hi?>~~', 'url') === 'aGk_Pn5-',
  });

  const jar = http.cookieJar();
  const other = jar.set(B, 'foreign', '1', { domain: 'example.com' });
  const own = jar.set(B, 'own', '2');
  const parent = new http.CookieJar();
  const p = parent.set('http://a.example.com/', 'p', '3', { domain: 'example.com' });
  const sibling = parent.set('http://a.example.com/', 's', '4', { domain: 'b.example.com' });
  check(null, {
    'set returns true for a foreign domain': () => other === true,
    'set returns true': () => own === true && p === true && sibling === true,
    'foreign-domain cookie not stored': () => jar.cookiesForURL(B).foreign === undefined,
    'own cookie stored': () => jar.cookiesForURL(B).own[0] === '2',
    'parent domain accepted': () => parent.cookiesForURL('http://a.example.com/').p[0] === '3',
    'sibling domain ignored': () =>
      parent.cookiesForURL('http://a.example.com/').s === undefined &&
      parent.cookiesForURL('http://b.example.com/').s === undefined,
    'not a URL: ignored': () => jar.set('notaurl', 'x', 'y') === true,
  });
  const res = http.get(`${B}/cookies`);
  check(res, { 'only the own cookie is sent': (r) => JSON.stringify(r.json('cookies')) === '{"own":"2"}' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
