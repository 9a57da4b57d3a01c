// per-vu-iterations with tags set per VU at run time: exec.vu.metrics.tags (and the older
// exec.vu.tags) on every later sample, metadata, and thresholds on those tags.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const steps = new Counter('steps');

export const options = {
  scenarios: {
    users: { executor: 'per-vu-iterations', vus: 3, iterations: 2, maxDuration: '30s' },
  },
  thresholds: {
    'http_reqs{tier:gold}': ['count==2'],
    'http_reqs{tier:basic}': ['count==4'],
    'steps{tier:gold}': ['count==2'],
    'steps{step:login}': ['count==6'],
  },
};

export default function () {
  exec.vu.metrics.tags.tier = exec.vu.idInTest === 1 ? 'gold' : 'basic';
  exec.vu.metrics.metadata.trace_id = `t-${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  exec.vu.tags.step = 'login';
  steps.add(1);
  const res = http.get(`${__ENV.BASE_URL}/get`);
  check(res, {
    'tags readable': () => exec.vu.tags.tier === exec.vu.metrics.tags.tier,
    'scenario tag present': () => exec.vu.tags.scenario === 'users',
    'metadata readable': () => exec.vu.metrics.metadata.trace_id.startsWith('t-'),
  });
  let refused = false;
  try {
    exec.vu.tags.obj = { a: 1 };
  } catch (e) {
    refused = true;
  }
  check(refused, { 'object tag value': (r) => typeof r === 'boolean' });
  delete exec.vu.metrics.tags.step;
  delete exec.vu.metrics.metadata.trace_id;
  check(exec.vu.metrics.metadata, { 'metadata deleted': (m) => m.trace_id === undefined });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
