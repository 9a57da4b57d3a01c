// Per-VU test data, as data-driven load tests split it: a SharedArray of users cut into one
// slice per VU by `exec.vu.idInTest`, each iteration taking the next user of its slice by
// `exec.vu.iterationInScenario`, a per-iteration VU tag and metadata naming the user, and a
// custom trend per plan checked against thresholds on its tagged submetrics.
import http from 'k6/http';
import exec from 'k6/execution';
import { SharedArray } from 'k6/data';
import { check, sleep } from 'k6';
import { Trend, Counter } from 'k6/metrics';

const users = new SharedArray('users', () => {
  const out = [];
  for (let i = 0; i < 12; i++) out.push({ id: i + 1, plan: i % 3 === 0 ? 'gold' : 'basic' });
  return out;
});
const cartSize = new Trend('cart_size');
const byPlan = new Counter('orders_by_plan');

const VUS = 3;
export const options = {
  scenarios: {
    shoppers: { executor: 'per-vu-iterations', vus: VUS, iterations: 4, maxDuration: '20s' },
  },
  thresholds: {
    checks: ['rate==1'],
    'orders_by_plan{plan:gold}': ['count==4'],
    'orders_by_plan{plan:basic}': ['count==8'],
    'cart_size{plan:gold}': ['max<=10'],
  },
};

export default function () {
  const per = users.length / VUS;
  const slice = users.slice((exec.vu.idInTest - 1) * per, exec.vu.idInTest * per);
  const user = slice[exec.vu.iterationInScenario % slice.length];
  exec.vu.metrics.tags.plan = user.plan;
  exec.vu.metrics.metadata.user_id = String(user.id);
  const res = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ user: user.id }), {
    headers: { 'Content-Type': 'application/json' },
  });
  cartSize.add(user.id % 10 + 1);
  byPlan.add(1);
  check(res, {
    'the order names the user': (r) => r.json('json.user') === user.id,
    'the slice is this vu\'s': () => user.id > (exec.vu.idInTest - 1) * per && user.id <= exec.vu.idInTest * per,
    'iterationInTest counts across vus': () => exec.scenario.iterationInTest >= 0 && exec.scenario.iterationInTest < 12,
  });
  delete exec.vu.metrics.tags.plan;
  sleep(0.01);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
