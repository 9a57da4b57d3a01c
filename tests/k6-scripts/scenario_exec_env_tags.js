// Two scenarios: one with exec + env + tags (and a threshold on its tag), one running default.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    custom: {
      executor: 'per-vu-iterations',
      exec: 'tagged',
      vus: 2,
      iterations: 2,
      env: { SCENARIO_VAR: 'from-scenario' },
      tags: { flavour: 'custom' },
    },
    plain: {
      executor: 'shared-iterations',
      vus: 1,
      iterations: 3,
    },
  },
  thresholds: {
    'http_reqs{flavour:custom}': ['count==4'],
    'http_reqs{scenario:plain}': ['count==3'],
    'checks{scenario:custom}': ['rate==1'],
  },
};

export function tagged() {
  http.get(`${__ENV.BASE_URL}/get?s=custom`);
  check(exec.scenario, {
    'scenario env visible': () => __ENV.SCENARIO_VAR === 'from-scenario',
    'scenario name is custom': (s) => s.name === 'custom',
    'tag visible in vu.tags': () => exec.vu.tags.flavour === 'custom',
  });
}

export default function () {
  http.get(`${__ENV.BASE_URL}/get?s=plain`);
  check(exec.scenario, {
    'plain has no scenario env': () => __ENV.SCENARIO_VAR === undefined,
    'scenario name is plain': (s) => s.name === 'plain',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
