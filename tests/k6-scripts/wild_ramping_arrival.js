// ramping-arrival-rate with preAllocatedVUs and maxVUs, a start rate and stages up and down, and
// thresholds per stage of the request rate.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: 5,
      timeUnit: '1s',
      preAllocatedVUs: 4,
      maxVUs: 8,
      stages: [
        { target: 10, duration: '1s' },
        { target: 10, duration: '1s' },
        { target: 0, duration: '500ms' },
      ],
    },
  },
  thresholds: {
    http_req_duration: ['p(95)<5000'],
    'iterations{scenario:spike}': ['count>5'],
    checks: ['rate==1'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/anything?it=${exec.scenario.iterationInTest}`);
  check(res, { 'iteration number sent': (r) => r.json('args.it') === String(exec.scenario.iterationInTest) });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
