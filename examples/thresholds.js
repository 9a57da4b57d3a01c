// Thresholds decide the exit code: 0 when all pass, 99 when one fails at the end of the test.
// -e MODE=pass (default) uses loose limits, -e MODE=fail adds limits a local target cannot
// meet. One in four requests goes to /status/404, so http_req_failed is exactly 25 %.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const failing = __ENV.MODE === 'fail';

export const options = {
  vus: 2,
  iterations: 20,
  thresholds: {
    http_req_duration: ['p(95)<5000', 'avg<5000'],
    // Submetrics: only the samples tagged status=200 (15 of the 20 requests).
    'http_req_duration{status:200}': ['max<5000'],
    'http_reqs{status:200}': ['count==15'],
    http_req_failed: failing ? ['rate<0.1'] : ['rate<=0.25'],
    http_reqs: failing ? ['count>1000'] : ['count==20'],
    checks: ['rate==1'],
  },
};

export default function () {
  // The global iteration number (0..19) picks the path: exactly 5 iterations ask for a 404.
  const path = exec.scenario.iterationInTest % 4 === 3 ? '/status/404' : '/';
  const res = http.get(`${BASE}${path}`);
  check(res, { 'status as asked': (r) => r.status === (path === '/' ? 200 : 404) });
}
