// Custom metrics of every kind with thresholds on tagged submetrics; one of them fails with
// abortOnFail, which stops the test early (k6 evaluates thresholds every two seconds).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const latency = new Trend('api_latency', true);
const errors = new Rate('api_errors');
const calls = new Counter('api_calls');
const queue = new Gauge('queue_depth');

export const options = {
  scenarios: {
    api: { executor: 'constant-vus', vus: 2, duration: '20s', gracefulStop: '0s' },
  },
  thresholds: {
    'api_latency{endpoint:get}': ['p(95)<10000'],
    'api_errors{endpoint:status}': [{ threshold: 'rate<0.1', abortOnFail: true }],
    'api_calls{endpoint:get}': ['count>0'],
    queue_depth: ['value>=0'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get`);
  latency.add(res.timings.duration, { endpoint: 'get' });
  calls.add(1, { endpoint: 'get' });
  errors.add(res.status !== 200, { endpoint: 'get' });
  const bad = http.get(`${__ENV.BASE_URL}/status/503`);
  errors.add(bad.status !== 200, { endpoint: 'status' });
  queue.add(__ITER % 5);
  check(res, { 'ok': (r) => r.status === 200 });
  sleep(0.2);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
