// A script with scenarios that a pipeline shortens with `--vus 2 --duration 1s`: the flags
// replace the scenarios with one constant-vus scenario.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    soak: { executor: 'constant-vus', vus: 20, duration: '30m', exec: 'soak' },
  },
  thresholds: { checks: ['rate==1'] },
};

export function soak() {
  http.get(`${__ENV.BASE_URL}/get?soak=1`);
}

export default function () {
  check(http.get(`${__ENV.BASE_URL}/get`), {
    'default function runs': (r) => r.status === 200,
    'constant vus from flags': () => exec.test.options.scenarios.default.executor === 'constant-vus',
    'duration from flag': () => exec.test.options.scenarios.default.duration === '1s',
    'soak scenario gone': () => exec.test.options.scenarios.soak === undefined,
  });
  sleep(0.2);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
