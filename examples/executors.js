// Every k6 executor against `volley target`, one at a time: pick it with -e EXECUTOR=<name>
// (default shared-iterations) and size it with -e VUS / ITERATIONS / RATE / DURATION.
//   volley run -e BASE_URL=http://127.0.0.1:8080 -e EXECUTOR=constant-arrival-rate examples/executors.js
// Each iteration is one GET / plus one check, so iterations == http_reqs == checks.
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const num = (name, dflt) => Number(__ENV[name] || dflt);
const dur = __ENV.DURATION || '2s';

// One sample per iteration, tagged with the global iteration number and VU id, so that
// `--out json` shows which iterations this instance ran (see the execution-segment test).
const ran = new Counter('iterations_ran');

const scenarios = {
  'shared-iterations': {
    executor: 'shared-iterations', vus: num('VUS', 5), iterations: num('ITERATIONS', 50),
  },
  'per-vu-iterations': {
    executor: 'per-vu-iterations', vus: num('VUS', 3), iterations: num('ITERATIONS', 4),
  },
  'constant-vus': { executor: 'constant-vus', vus: num('VUS', 3), duration: dur },
  'ramping-vus': {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [{ duration: '1s', target: num('VUS', 4) }, { duration: '1s', target: 0 }],
    gracefulRampDown: '0s',
  },
  'constant-arrival-rate': {
    executor: 'constant-arrival-rate',
    rate: num('RATE', 50), timeUnit: '1s', duration: dur,
    preAllocatedVUs: num('VUS', 10),
  },
  'ramping-arrival-rate': {
    executor: 'ramping-arrival-rate',
    // 0 → RATE/s over 1 s, then RATE/s for 1 s: RATE/2 + RATE iterations (150 by default).
    startRate: 0, timeUnit: '1s',
    stages: [{ duration: '1s', target: num('RATE', 100) }, { duration: '1s', target: num('RATE', 100) }],
    preAllocatedVUs: num('VUS', 10),
  },
};

const name = __ENV.EXECUTOR || 'shared-iterations';
if (!scenarios[name]) {
  throw new Error(`unknown EXECUTOR ${name}; use one of ${Object.keys(scenarios).join(', ')}`);
}

export const options = { scenarios: { [name]: scenarios[name] } };

export default function () {
  const res = http.get(`${BASE}/`);
  check(res, { 'status is 200': (r) => r.status === 200 });
  ran.add(1, { iter: String(exec.scenario.iterationInTest), vu: String(exec.vu.idInTest) });
  if (__ENV.SLEEP) sleep(Number(__ENV.SLEEP));
}
