// exec.test.fail() marks the run failed but lets it finish: exit code 110.
import exec from 'k6/execution';
import { check } from 'k6';

export const options = { vus: 2, iterations: 6 };

export default function () {
  check(true, { 'still running': (v) => v });
  if (exec.scenario.iterationInTest === 1) {
    exec.test.fail('marked failed');
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
