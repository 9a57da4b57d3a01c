// A login flow: setup() gets a token (bearer), every iteration sends it and posts JSON,
// teardown() checks out; setup data is the same object in every VU.
import http from 'k6/http';
import { check, fail } from 'k6';

export const options = { vus: 2, iterations: 4, setupTimeout: '10s' };

export function setup() {
  const res = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ user: 'ada' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  if (res.status !== 200) fail(`login failed with ${res.status}`);
  return { token: `token-${res.json('json.user')}`, ids: [1, 2, 3] };
}

export default function (data) {
  const params = { headers: { Authorization: `Bearer ${data.token}` } };
  const me = http.get(`${__ENV.BASE_URL}/bearer`, params);
  check(me, {
    'authorized': (r) => r.status === 200 && r.json('token') === 'token-ada',
  });
  const anon = http.get(`${__ENV.BASE_URL}/bearer`);
  check(anon, { 'unauthorized without token': (r) => r.status === 401 });
  const created = http.post(`${__ENV.BASE_URL}/anything/items`, JSON.stringify({ id: data.ids[__ITER % 3] }), params);
  check(created, {
    'header echoed': (r) => r.json('headers.Authorization') === `Bearer ${data.token}`,
  });
}

export function teardown(data) {
  check(data, { 'teardown gets setup data': (d) => d.ids.length === 3 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
