// A steady 30 s run to be stopped (REST API stop, Ctrl+C in `submit --wait`), or to wait in
// the queue: `-e AGENTS=4` asks for 4 agents. setup() and teardown() say when they ran: a run
// stopped while running still runs teardown() once (docs/cluster-runs.md).
import { sleep } from 'k6';

export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: 3, duration: __ENV.DURATION || '30s' },
  },
  volley: { agents: Number(__ENV.AGENTS || 3) },
};

export function setup() {
  console.log('SETUP-RAN');
}

export default function () {
  sleep(0.1);
}

export function teardown() {
  console.log('TEARDOWN-RAN');
}
