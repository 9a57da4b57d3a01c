// A workshop-style test plan: a smoke scenario first, then browsing and checkout scenarios
// that start later (`startTime`), each with its own `exec` function, `tags` and `env`, a
// `gracefulStop`, and thresholds per scenario and per status through tagged submetrics.
import http from 'k6/http';
import { check, group } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

const orders = new Counter('orders_placed');

export const options = {
  scenarios: {
    smoke: {
      executor: 'per-vu-iterations', vus: 1, iterations: 2, exec: 'smoke',
      tags: { phase: 'smoke' }, gracefulStop: '2s',
    },
    browse: {
      executor: 'shared-iterations', vus: 2, iterations: 6, exec: 'browse',
      startTime: '200ms', env: { SECTION: 'books' }, tags: { phase: 'load' },
    },
    checkout: {
      executor: 'per-vu-iterations', vus: 2, iterations: 2, exec: 'checkout',
      startTime: '400ms', gracefulStop: '5s', env: { PAY: 'card' }, tags: { phase: 'load', flow: 'buy' },
    },
  },
  thresholds: {
    'http_reqs{scenario:smoke}': ['count==2'],
    'http_reqs{scenario:browse}': ['count==6'],
    'http_reqs{phase:load}': ['count==14'],
    'http_req_duration{status:200}': ['max<5000'],
    'http_req_failed{flow:buy}': ['rate==0'],
    'iterations{scenario:checkout}': ['count==4'],
    'orders_placed{payment:card}': ['count==4'],
    'checks{scenario:browse}': ['rate==1'],
  },
};

export function smoke() {
  const res = http.get(`${__ENV.BASE_URL}/get`);
  check(res, {
    'smoke: up': (r) => r.status === 200,
    'smoke: scenario name': () => exec.scenario.name === 'smoke',
  });
}

export function browse() {
  const res = http.get(`${__ENV.BASE_URL}/anything/${__ENV.SECTION}?page=${exec.scenario.iterationInTest}`);
  check(res, {
    'browse: section from env': (r) => r.json('path') === '/anything/books',
    'browse: tag phase': () => exec.vu.tags.phase === 'load',
  });
}

export function checkout() {
  group('cart', () => {
    const res = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ sku: 7 }), {
      headers: { 'Content-Type': 'application/json' },
    });
    check(res, { 'cart: accepted': (r) => r.status === 200 && r.json('json.sku') === 7 });
  });
  group('pay', () => {
    const res = http.get(`${__ENV.BASE_URL}/get?pay=${__ENV.PAY}`);
    if (check(res, { 'pay: paid': (r) => r.json('args.pay') === 'card' })) {
      orders.add(1, { payment: __ENV.PAY });
    }
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
