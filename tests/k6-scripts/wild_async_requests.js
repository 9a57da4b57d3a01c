// An async default function the way newer tutorials write it: http.asyncRequest awaited one by
// one and in parallel with Promise.all, requests in flight while timers fire, async setup and
// teardown.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = { vus: 2, iterations: 4 };

export async function setup() {
  const res = await http.asyncRequest('POST', `${__ENV.BASE_URL}/post`, JSON.stringify({ user: 'admin' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  return { user: res.json('json.user'), status: res.status };
}

export default async function (data) {
  const base = __ENV.BASE_URL;
  const first = await http.asyncRequest('GET', `${base}/get?step=1`);
  const [a, b, c] = await Promise.all([
    http.asyncRequest('GET', `${base}/anything/a`, null, { tags: { name: 'parallel' } }),
    http.asyncRequest('PUT', `${base}/put`, 'x=1', { tags: { name: 'parallel' } }),
    http.asyncRequest('GET', `${base}/status/404`, null, { tags: { name: 'parallel' } }),
  ]);
  check(first, { 'first awaited': (r) => r.status === 200 && r.json('args.step') === '1' });
  check([a, b, c], {
    'parallel in order': (rs) => rs[0].json('path') === '/anything/a' && rs[1].json('method') === 'PUT',
    'parallel 404': (rs) => rs[2].status === 404,
  });
  check(data, { 'async setup data': (d) => d.user === 'admin' && d.status === 200 });
  const order = [];
  setTimeout(() => order.push('timer'), 20);
  const slow = http.asyncRequest('GET', `${base}/delay/400`).then(() => order.push('slow'));
  const fast = http.asyncRequest('GET', `${base}/delay/1`).then(() => order.push('fast'));
  order.push('sync');
  await Promise.all([slow, fast]);
  check(order, { 'requests run while the script goes on': (o) => o.join() === 'sync,fast,timer,slow' });
  const p = http.asyncRequest('GET', `${base}/delay/10`);
  check(p, { 'asyncRequest returns a promise': (x) => x instanceof Promise });
  const late = await p;
  check(late, { 'awaited later': (r) => r.status === 200 });
  sleep(0.05);
}

export async function teardown(data) {
  const res = await http.asyncRequest('DELETE', `${__ENV.BASE_URL}/delete?user=${data.user}`);
  check(res, { 'async teardown': (r) => r.json('args.user') === 'admin' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
