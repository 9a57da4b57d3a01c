// Checks inside nested groups: the summary's root_group tree has one node per group (path
// "::a::b", id = md5 of the path) with each check's passes and fails.
// 2 VUs × 5 iterations: __ITER is 0..4 in each VU, so "even iteration" passes 6 times, fails 4.
import http from 'k6/http';
import { check, group } from 'k6';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: { default: { executor: 'per-vu-iterations', vus: 2, iterations: 5 } },
};

export default function () {
  check(__ITER, { 'at the root': () => true });
  group('api', () => {
    const res = http.get(`${BASE}/json`);
    check(res, { 'status is 200': (r) => r.status === 200 });
    group('nested', () => {
      check(__ITER, { 'even iteration': (i) => i % 2 === 0 });
    });
  });
  group('html', () => {
    const res = http.get(`${BASE}/html`);
    // Two checks in one call: both are recorded, the call returns false if one fails.
    const ok = check(res, {
      'is html': (r) => r.headers['Content-Type'].startsWith('text/html'),
      'never true': () => false,
    });
    check(ok, { 'check() returned false': (v) => v === false });
  });
}
