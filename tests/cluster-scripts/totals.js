// Iteration totals over 3 agents, setup()/teardown() once, setup data on every agent.
// Two scenarios run side by side: shared-iterations (each global iteration logged, so the
// test can check that every number appears exactly once) and per-vu-iterations. The
// `iterations{scenario:...}` thresholds always pass; they are there so the merged summary
// carries the per-scenario totals.
import http from 'k6/http';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', exec: 'shared', vus: 6, iterations: 3000, maxDuration: '25s' },
    pervu: { executor: 'per-vu-iterations', exec: 'perVu', vus: 6, iterations: 50, maxDuration: '25s' },
  },
  thresholds: {
    'iterations{scenario:shared}': ['count>=0'],
    'iterations{scenario:pervu}': ['count>=0'],
    'http_reqs{scenario:shared}': ['count>=0'],
  },
  volley: { agents: 3 },
};

export function setup() {
  console.log('SETUP-RAN');
  return { token: 'tok-42' };
}

export function shared(data) {
  http.get(`${__ENV.BASE_URL}/`);
  console.log(`SHARED ${exec.scenario.iterationInTest} ${data.token}`);
}

export function perVu(data) {
  console.log(`PERVU ${exec.scenario.iterationInTest} ${data.token}`);
}

export function teardown(data) {
  console.log(`TEARDOWN-RAN ${data.token}`);
}
