// Exact merging of trends across 3 agents. Every iteration logs the raw `http_req_duration`
// sample it produced (`res.timings.duration` is the very value the engine records) and feeds
// a custom Trend a value computed from the global iteration number, so the test can compute the
// exact statistics of all agents' raw samples and compare them with the controller's merged
// summary. The agents' shares differ on purpose (the value depends on which third of the
// sequence the iteration falls in), so a merge that averaged per-agent percentiles would be off.
import http from 'k6/http';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';

const det = new Trend('det_value');

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 6, iterations: 3000, maxDuration: '25s' },
  },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'],
  volley: { agents: 3 },
};

// Mirrored by `det_value` in tests/tests/cluster.rs.
function value(i) {
  return ((i % 3) + 1) ** 3 * (1 + ((i * 37) % 500)) / 8;
}

export default function () {
  const i = exec.scenario.iterationInTest;
  det.add(value(i));
  const res = http.get(`${__ENV.BASE_URL}/`);
  console.log(`DUR ${i} ${res.timings.duration}`);
}
