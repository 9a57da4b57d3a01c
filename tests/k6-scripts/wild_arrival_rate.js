// Arrival-rate executors side by side: constant-arrival-rate and ramping-arrival-rate with
// pre-allocated VUs, a threshold on dropped iterations and one per scenario.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: 20,
      timeUnit: '1s',
      duration: '2s',
      preAllocatedVUs: 2,
      maxVUs: 4,
    },
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: 5,
      timeUnit: '1s',
      preAllocatedVUs: 2,
      maxVUs: 4,
      stages: [{ target: 20, duration: '1s' }, { target: 0, duration: '1s' }],
    },
  },
  thresholds: {
    'iterations{scenario:steady}': ['count>10'],
    'http_req_duration{scenario:ramp}': ['p(95)<5000'],
    dropped_iterations: ['count<1000'],
  },
};

export default function () {
  check(http.get(`${__ENV.BASE_URL}/get`), { 'status 200': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
