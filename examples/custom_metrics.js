// Custom metrics (Counter, Gauge, Rate, Trend) with tags, the k6/execution module and the
// __VU / __ITER globals. 3 VUs × 4 iterations: the expected values are in the comments.
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

export { handleSummary } from './lib/summary.js';

const items = new Counter('items');      // +2 per iteration → 24; tagged kind=a or kind=b
const level = new Gauge('level');        // __VU × 10 → min 10, max 30
const evens = new Rate('even_iters');    // __ITER even → 6 of 12
const waits = new Trend('waits', true);  // __ITER × 10 ms → 0, 10, 20, 30 per VU
const seen = new Counter('iteration_ids');

export const options = {
  scenarios: { default: { executor: 'per-vu-iterations', vus: 3, iterations: 4 } },
  thresholds: {
    // Thresholds on tagged submetrics make them appear in the summary data.
    items: ['count==24'],
    'items{kind:a}': ['count==12'],
    'waits{vu:1}': ['max==30'],
    even_iters: ['rate==0.5'],
    checks: ['rate==1'],
  },
};

export default function () {
  items.add(2, { kind: __ITER % 2 === 0 ? 'a' : 'b' });
  level.add(__VU * 10);
  evens.add(__ITER % 2 === 0);
  waits.add(__ITER * 10, { vu: String(__VU) });
  // With --out json, these samples show that every global iteration number is used once.
  seen.add(1, { iter: String(exec.scenario.iterationInTest) });
  check(exec, {
    'idInTest is __VU': (e) => e.vu.idInTest === __VU && e.vu.idInInstance === __VU,
    'iterationInScenario is __ITER': (e) => e.vu.iterationInScenario === __ITER,
    'scenario name': (e) => e.scenario.name === 'default' && e.scenario.executor === 'per-vu-iterations',
    'iterationInTest in range': (e) => e.scenario.iterationInTest >= 0 && e.scenario.iterationInTest < 12,
  });
}
