// per-vu-iterations with custom Counter/Rate/Trend/Gauge metrics, tagged samples and submetric thresholds.
import { Counter, Rate, Trend, Gauge } from 'k6/metrics';
import exec from 'k6/execution';

const myCounter = new Counter('my_counter');
const myRate = new Rate('my_rate');
const myTrend = new Trend('my_trend');
const myTimeTrend = new Trend('my_time_trend', true);
const myGauge = new Gauge('my_gauge');

export const options = {
  scenarios: {
    pervu: { executor: 'per-vu-iterations', vus: 3, iterations: 4, maxDuration: '10s' },
  },
  thresholds: {
    my_counter: ['count==24'],
    'my_counter{kind:odd}': ['count==12'],
    my_rate: ['rate>0.4'],
    my_trend: ['avg>0', 'max<1000'],
    'my_trend{kind:even}': ['min>=0'],
    my_gauge: ['value==7'],
    my_time_trend: ['p(95)<100000'],
  },
};

export default function () {
  const i = exec.scenario.iterationInTest;
  const kind = i % 2 === 0 ? 'even' : 'odd';
  myCounter.add(2, { kind: kind });
  myRate.add(i % 3 !== 0, { kind: kind });
  myTrend.add(i * 10, { kind: kind });
  myTimeTrend.add(5 + i);
  // The first iteration of each VU sets 1, every later one 7: min/max/last are deterministic.
  myGauge.add(exec.vu.iterationInScenario === 0 ? 1 : 7, { kind: kind });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
