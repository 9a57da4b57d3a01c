// A known plan over 3 agents: 6 VUs × 100 iterations = 600 iterations, 600 requests and 600
// passing checks (2 VUs per agent, about 11 s). One agent's link to the controller is cut
// for a moment in the middle: the merged totals must still be exact (every metric batch
// merged once). Requests go to the target in the agent's own network namespace (BASE_URL).
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    pervu: { executor: 'per-vu-iterations', vus: 6, iterations: 100, maxDuration: '40s' },
  },
  volley: { agents: 3 },
};

export function setup() {
  console.log('SETUP-RAN');
}

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get`);
  check(res, { 'status is 200': (r) => r.status === 200 });
  console.log(`ITER ${Date.now()}`);
  sleep(0.1);
}

export function teardown() {
  console.log('TEARDOWN-RAN');
}
