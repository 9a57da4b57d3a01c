// A steady load over 3 agents for an agent to be killed in the middle of (agent lost, abort).
// Every iteration logs ITER, so the test sees on each agent's own output when its load
// stopped; setup() and teardown() say when they ran (teardown at most once per run).
import { sleep } from 'k6';

export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: 6, duration: __ENV.DURATION || '20s' },
  },
  volley: { agents: 3 },
};

export function setup() {
  console.log('SETUP-RAN');
}

export default function () {
  console.log('ITER');
  sleep(0.1);
}

export function teardown() {
  console.log('TEARDOWN-RAN');
}
