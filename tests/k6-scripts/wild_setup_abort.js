// A smoke test that checks its dependencies in setup() and aborts the whole test when one is
// down, with `exec.test.abort(reason)`: no iteration runs, teardown and handleSummary still do.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: { checks: ['rate==1'] },
};

export function setup() {
  const health = http.get(`${__ENV.BASE_URL}/status/503`, { tags: { name: 'health' } });
  check(health, { 'the health probe answered': (r) => r.status !== 0 });
  if (health.status !== 200) {
    exec.test.abort(`dependency down: health answered ${health.status}`);
  }
  return { token: 'never' };
}

export default function (data) {
  http.get(`${__ENV.BASE_URL}/get?t=${data.token}`);
}

export function teardown(data) {
  console.log(`teardown with ${JSON.stringify(data)}`);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
