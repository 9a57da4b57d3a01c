// setup() data reaches every iteration and teardown(); it also shows up as setup_data in the summary.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 2, iterations: 4 };

export function setup() {
  const res = http.get(`${__ENV.BASE_URL}/json`);
  check(res, { 'setup request ok': (r) => r.status === 200 });
  return { token: 'abc', list: [1, 2, 3], nested: { n: 42 } };
}

export default function (data) {
  check(data, {
    'token passed': (d) => d.token === 'abc',
    'list passed': (d) => d.list.length === 3 && d.list[2] === 3,
    'nested passed': (d) => d.nested.n === 42,
  });
}

export function teardown(data) {
  check(data, { 'teardown got data': (d) => d.token === 'abc' && d.nested.n === 42 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
