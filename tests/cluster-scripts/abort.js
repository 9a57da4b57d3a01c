// test.abort() on one agent stops the whole run: iteration 30 of the run calls it; the run
// was planned for 20 s.
import exec from 'k6/execution';
import { sleep } from 'k6';

export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: 3, duration: '20s' },
  },
  volley: { agents: 3 },
};

export default function () {
  if (exec.scenario.iterationInTest === 30) {
    console.log('ABORTING');
    exec.test.abort('enough');
  }
  sleep(0.05);
}
