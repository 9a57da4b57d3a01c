// k6/execution and the __VU/__ITER globals in two scenarios: ids, iteration counters, scenario
// names and executors, tags and the test's options.
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const seen = new Counter('vu_iterations_seen');

export const options = {
  scenarios: {
    first: { executor: 'per-vu-iterations', vus: 2, iterations: 2 },
    second: { executor: 'shared-iterations', vus: 1, iterations: 3, startTime: '0s', exec: 'other' },
  },
};

export default function () {
  seen.add(1, { vu: String(__VU) });
  check(exec, {
    'vu id matches __VU': (e) => e.vu.idInInstance === __VU && e.vu.idInTest === __VU,
    'iteration in scenario matches __ITER': (e) => e.vu.iterationInScenario === __ITER,
    'scenario name': (e) => e.scenario.name === 'first' && e.scenario.executor === 'per-vu-iterations',
    'iteration in test is small': (e) => e.scenario.iterationInTest >= 0 && e.scenario.iterationInTest < 4,
    'scenario tag': (e) => e.vu.tags.scenario === 'first',
    'instance counters': (e) => e.instance.vusInitialized === 3 && e.instance.vusActive >= 1,
    'options scenarios': (e) => Object.keys(e.test.options.scenarios).sort().join() === 'first,second',
    'a spelled default is shown, an unspelled one is null': (e) =>
      e.test.options.scenarios.second.startTime === '0s' && e.test.options.scenarios.first.startTime === null,
  });
}

export function other() {
  check(exec, {
    'other scenario': (e) => e.scenario.name === 'second' && e.scenario.executor === 'shared-iterations',
    'progress between 0 and 1': (e) => e.scenario.progress >= 0 && e.scenario.progress <= 1,
    'iteration in instance counts up': (e) => e.scenario.iterationInInstance === __ITER,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
