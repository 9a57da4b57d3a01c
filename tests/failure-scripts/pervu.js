// A known plan over 3 agents (6 VUs × 80 iterations = 480, 2 VUs per agent, about 8 s) for
// an agent to be killed in the middle of (agent lost, on_agent_lost: continue): the agents
// that stay complete their 320 exactly; the lost one's unfinished share is missing.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    pervu: { executor: 'per-vu-iterations', vus: 6, iterations: 80, maxDuration: '25s' },
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
