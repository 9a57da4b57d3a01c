// An async test in the style of recent k6 examples: `await` on a promise-wrapped timer,
// `Promise.all` and `Promise.allSettled` over `http.asyncRequest` (one request per page, one
// that the client refuses with `throw: true` so its promise rejects), `Promise.race` against a
// timer, and `http.batch` given arrays of `[method, url, body, params]` in the same iteration.
import http from 'k6/http';
import { check } from 'k6';
import { setTimeout } from 'k6/timers';
import { Counter } from 'k6/metrics';

const rejected = new Counter('rejected_promises');
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], rejected_promises: ['count==2'] },
};

export default async function () {
  const B = __ENV.BASE_URL;
  await delay(5);
  const pages = await Promise.all([1, 2, 3].map((p) => http.asyncRequest('GET', `${B}/anything/page/${p}`)));
  check(pages, {
    'all pages in order': (rs) => rs.map((r) => r.json('path')).join() === '/anything/page/1,/anything/page/2,/anything/page/3',
  });
  const settled = await Promise.allSettled([
    http.asyncRequest('GET', `${B}/status/201`),
    http.asyncRequest('GET', 'ftp://example.invalid/file', null, { throw: true }),
  ]);
  if (settled[1].status === 'rejected') rejected.add(1);
  check(settled, {
    'first fulfilled': (s) => s[0].status === 'fulfilled' && s[0].value.status === 201,
    'second rejected with the reason': (s) => s[1].status === 'rejected'
      && String(s[1].reason).includes('unsupported protocol scheme "ftp"'),
  });
  const winner = await Promise.race([
    http.asyncRequest('GET', `${B}/delay/300`).then(() => 'request'),
    delay(20).then(() => 'timer'),
  ]);
  check(winner, { 'the timer wins the race': (w) => w === 'timer' });
  const batch = http.batch([
    ['GET', `${B}/get?a=1`],
    ['POST', `${B}/post`, 'raw body', { headers: { 'Content-Type': 'text/plain' }, tags: { name: 'raw' } }],
    ['PUT', `${B}/put`, { k: 'v' }],
  ]);
  check(batch, {
    'batch statuses': (rs) => rs.every((r) => r.status === 200),
    'batch bodies': (rs) => rs[0].json('args.a') === '1' && rs[1].json('body') === 'raw body' && rs[2].json('form.k') === 'v',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
