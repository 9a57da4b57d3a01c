// Scripts that log where they run and branch on it: `k6/execution`'s instance, VU and test
// fields, `__VU` and `__ITER` in the init context and in iterations, tags set on the VU.
import exec from 'k6/execution';
import { check } from 'k6';
import http from 'k6/http';

const initVu = __VU;

export const options = {
  scenarios: {
    steady: { executor: 'per-vu-iterations', vus: 2, iterations: 2, tags: { team: 'core' } },
  },
  tags: { suite: 'nightly' },
  thresholds: {
    'http_reqs{suite:nightly}': ['count==4'],
    'http_reqs{team:core}': ['count==4'],
    'http_reqs{vu_kind:even}': ['count==2'],
    checks: ['rate==1'],
  },
};

export default function () {
  exec.vu.tags.vu_kind = exec.vu.idInTest % 2 === 0 ? 'even' : 'odd';
  http.get(`${__ENV.BASE_URL}/get`);
  check(null, {
    'init context __VU is this VU': () => initVu === __VU,
    '__VU matches idInTest': () => __VU === exec.vu.idInTest && exec.vu.idInInstance === __VU,
    '__ITER matches iterationInScenario': () => __ITER === exec.vu.iterationInScenario && __ITER === exec.vu.iterationInInstance,
    'scenario tag on the VU': () => exec.vu.tags.scenario === 'steady',
    'options tags on the VU': () => exec.vu.tags.suite === 'nightly' && exec.vu.tags.team === 'core',
    'instance counters are numbers': () => typeof exec.instance.iterationsCompleted === 'number'
      && typeof exec.instance.iterationsInterrupted === 'number' && exec.instance.vusInitialized === 2,
    'active VUs': () => exec.instance.vusActive >= 1 && exec.instance.vusActive <= 2,
    'run duration grows': () => exec.instance.currentTestRunDuration >= 0,
    'scenario start and progress': () => typeof exec.scenario.startTime === 'number'
      && exec.scenario.progress >= 0 && exec.scenario.progress <= 1,
    'test options': () => exec.test.options.scenarios.steady.vus === 2
      && exec.test.options.tags.suite === 'nightly',
    'iteration in test is unique per scenario': () => exec.scenario.iterationInTest >= 0 && exec.scenario.iterationInTest < 4,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
