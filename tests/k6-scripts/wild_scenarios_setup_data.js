// A workshop-style test: two scenarios with their own `exec` functions, tags and env, both
// reading the token and the catalogue `setup()` fetched, and `k6/execution` to pick a
// product per iteration and to label what ran where.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, group } from 'k6';
import { Counter } from 'k6/metrics';

const byScenario = new Counter('orders_by_scenario');

export const options = {
  scenarios: {
    browse: {
      executor: 'per-vu-iterations',
      vus: 2,
      iterations: 3,
      exec: 'browse',
      tags: { flow: 'browse' },
      env: { PAGE_SIZE: '5' },
    },
    checkout: {
      executor: 'shared-iterations',
      vus: 1,
      iterations: 2,
      exec: 'checkout',
      startTime: '0s',
      tags: { flow: 'checkout' },
    },
  },
  thresholds: {
    'http_reqs{flow:browse}': ['count==6'],
    'http_reqs{flow:checkout}': ['count==4'],
    'orders_by_scenario{scenario:checkout}': ['count==2'],
    checks: ['rate==1'],
  },
};

export function setup() {
  const login = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ user: 'ann' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  return {
    token: `tok-${login.status}`,
    products: ['apple', 'pear', 'plum', 'fig'],
    startedBy: exec.vu.idInTest,
    nested: { limits: [1, 2, 3], flag: true, nothing: null },
  };
}

export function browse(data) {
  const product = data.products[exec.scenario.iterationInTest % data.products.length];
  const res = http.get(`${__ENV.BASE_URL}/get?product=${product}&size=${__ENV.PAGE_SIZE}`, {
    headers: { Authorization: `Bearer ${data.token}` },
  });
  check(res, {
    'browse: token from setup': (r) => r.json('headers.Authorization') === 'Bearer tok-200',
    'browse: env of the scenario': (r) => r.json('args.size') === '5',
    'browse: scenario name': () => exec.scenario.name === 'browse',
    'browse: setup ran in VU 0': () => data.startedBy === 0,
    'browse: nested data survives': () => data.nested.limits.length === 3 && data.nested.nothing === null,
    'browse: iteration in scenario below 3 per VU': () => exec.vu.iterationInScenario < 3,
  });
}

export function checkout(data) {
  group('cart', () => {
    const res = http.post(`${__ENV.BASE_URL}/post`, { item: data.products[0] });
    check(res, {
      'checkout: form posted': (r) => r.json('form.item') === 'apple',
      'checkout: no PAGE_SIZE here': () => __ENV.PAGE_SIZE === undefined,
      'checkout: scenario executor': () => exec.scenario.executor === 'shared-iterations',
    });
  });
  http.get(`${__ENV.BASE_URL}/get`, { tags: { name: 'confirm' } });
  byScenario.add(1);
}

export function teardown(data) {
  check(data, { 'teardown sees setup data': (d) => d.token === 'tok-200' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
