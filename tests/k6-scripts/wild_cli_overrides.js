// A script whose options CI overrides on the command line: the case runs it with
// `--vus 2 --iterations 6`, which replace the script's duration-based shortcut.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';

export const options = {
  vus: 10,
  duration: '1m',
  thresholds: { iterations: ['count==6'], http_reqs: ['count==6'] },
};

export default function () {
  const o = exec.test.options;
  check(http.get(`${__ENV.BASE_URL}/get`), {
    'vus from the flag': () => o.scenarios.default.vus === 2,
    'iterations from the flag': () => o.scenarios.default.iterations === 6,
    'shared iterations': () => o.scenarios.default.executor === 'shared-iterations',
    'duration dropped': () => o.duration === undefined || o.duration === null,
    'scenario name': () => exec.scenario.name === 'default',
  });
  sleep(0.01);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
