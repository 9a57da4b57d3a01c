// A run for the controller to be killed (SIGKILL) and restarted in the middle of: a fixed
// number of iterations (constant-arrival-rate, 40/s for DURATION over 2 agents), each one
// request and one check, so the merged totals after the resume can be compared exactly.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const done = new Counter('resume_iterations');

export const options = {
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate', rate: 40, timeUnit: '1s',
      duration: __ENV.DURATION || '10s', preAllocatedVUs: 10, maxVUs: 10,
    },
  },
  volley: { agents: 2 },
};

export function setup() {
  console.log('SETUP-RAN');
  return { token: 'abc' };
}

export default function (data) {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status 200': (r) => r.status === 200, 'setup data': () => data.token === 'abc' });
  done.add(1);
}

export function teardown(data) {
  console.log(`TEARDOWN-RAN ${data.token}`);
}
