// How a script ends a run, and the exit code each way gives (pick with -e MODE=...):
//   abort      exec.test.abort() in the third iteration         → 108
//   abort-code exec.test.abort({ exitCode: 42, message })        → 42
//   fail       exec.test.fail(): the run goes on, then fails     → 110
//   init-throw an exception in the init context                  → 107
//   iter-throw an exception in every other iteration             → 0 (only that iteration stops)
//   (default)  a clean run                                       → 0
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const MODE = __ENV.MODE || 'ok';
const after = new Counter('after_the_throw');

if (MODE === 'init-throw') {
  throw new Error('boom in init');
}

export const options = { vus: 1, iterations: 10 };

export default function () {
  http.get(`${BASE}/`);
  const i = exec.scenario.iterationInTest;
  if (MODE === 'abort' && i === 2) exec.test.abort('enough after three requests');
  if (MODE === 'abort-code' && i === 2) {
    exec.test.abort({ exitCode: 42, message: 'custom code', context: { at: i } });
  }
  if (MODE === 'fail' && i === 0) exec.test.fail('marked as failed, but keep going');
  if (MODE === 'iter-throw' && i % 2 === 1) throw new Error(`boom in iteration ${i}`);
  after.add(1);
}
