// exec.test.abort() in the third iteration of a single VU: exit code 108, teardown and handleSummary still run.
import exec from 'k6/execution';
import { check } from 'k6';

export const options = {
  scenarios: {
    one: { executor: 'per-vu-iterations', vus: 1, iterations: 10, maxDuration: '10s' },
  },
};

export default function () {
  check(true, { 'before abort': (v) => v });
  if (exec.scenario.iterationInTest === 2) {
    exec.test.abort('stop here');
  }
}

export function teardown() {
  check(true, { 'teardown ran': (v) => v });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
