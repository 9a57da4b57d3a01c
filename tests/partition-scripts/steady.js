// A steady load over 3 agents for one agent to be cut off from the controller (network
// partition). Every iteration requests the target in the agent's own network namespace
// (BASE_URL, on that namespace's loopback) and logs `ITER <unix ms>`, so the test reads from
// each agent's own output when its load stopped, measured on the agent's clock. The duration
// is far longer than the test: only the partition ends this run.
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: 6, duration: '60s' },
  },
  volley: { agents: 3 },
};

export function setup() {
  console.log('SETUP-RAN');
}

export default function () {
  http.get(`${__ENV.BASE_URL}/get`);
  console.log(`ITER ${Date.now()}`);
  sleep(0.1);
}

export function teardown() {
  console.log('TEARDOWN-RAN');
}
