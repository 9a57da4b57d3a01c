// http.batch in every form: URLs, arrays [method, url, body, params], request objects, and an
// object of named requests; then each response's JSON.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE_URL;
  const list = http.batch([
    `${base}/get?n=1`,
    ['GET', `${base}/get?n=2`, null, { tags: { name: 'second' } }],
    ['POST', `${base}/post`, { a: '1' }],
    { method: 'PUT', url: `${base}/put`, body: JSON.stringify({ b: 2 }), params: { headers: { 'Content-Type': 'application/json' } } },
  ]);
  check(list, {
    'four responses in order': (r) => r.length === 4 && r[0].json('args.n') === '1' && r[1].json('args.n') === '2',
    'form body': (r) => r[2].json('form.a') === '1',
    'json body': (r) => r[3].json('json.b') === 2,
    'methods': (r) => r.map((x) => x.json('method')).join() === 'GET,GET,POST,PUT',
  });
  const named = http.batch({
    home: `${base}/`,
    api: { method: 'GET', url: `${base}/json` },
    gone: ['GET', `${base}/status/410`],
  });
  check(named, {
    'named keys': (r) => Object.keys(r).sort().join() === 'api,gone,home',
    'named statuses': (r) => r.home.status === 200 && r.api.status === 200 && r.gone.status === 410,
    'api selector': (r) => r.api.json('slideshow.author') === 'Yours Truly',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
