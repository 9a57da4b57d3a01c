// A CI pipeline's script that takes its load shape from K6_* variables set by the job
// (`K6_VUS`, `K6_ITERATIONS`), with a fallback in the script, and reads what the run ended up
// with through `k6/execution`.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const perVu = new Counter('iterations_seen');

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: { checks: ['rate==1'], iterations_seen: ['count==6'] },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get?vu=${exec.vu.idInTest}`);
  perVu.add(1, { vu: String(exec.vu.idInTest) });
  const o = exec.test.options;
  check(res, {
    'ok': (r) => r.status === 200,
    'the shortcuts live in the scenario, not at the top': () => o.vus === undefined && o.iterations === undefined,
    'one shared-iterations scenario': () => o.scenarios.default.executor === 'shared-iterations'
      && o.scenarios.default.vus === 3 && o.scenarios.default.iterations === 6,
    'the vu is one of three': () => exec.vu.idInTest >= 1 && exec.vu.idInTest <= 3,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
