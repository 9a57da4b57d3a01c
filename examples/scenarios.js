// Two scenarios in one test, each with its own function (exec), environment (env), tags and
// start time (startTime). Thresholds on tagged submetrics count each scenario's requests.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: {
    browse: {
      executor: 'shared-iterations', vus: 2, iterations: 10,
      exec: 'browse', env: { PAGE: '/json' }, tags: { flow: 'browse' },
    },
    buy: {
      executor: 'per-vu-iterations', vus: 2, iterations: 3, startTime: '1s',
      exec: 'buy', env: { ITEM: 'apple' }, tags: { flow: 'buy' },
    },
  },
  thresholds: {
    // Scenario tags and the automatic `scenario` tag both select a scenario's samples.
    'http_reqs{flow:browse}': ['count==10'],
    'http_reqs{scenario:buy}': ['count==6'],
    'iterations{scenario:browse}': ['count==10'],
    'iterations{flow:buy}': ['count==6'],
    checks: ['rate==1'],
  },
};

export function browse() {
  const res = http.get(`${BASE}${__ENV.PAGE}`);
  check(res, {
    'browse: own env': () => __ENV.PAGE === '/json' && __ENV.ITEM === undefined,
    'browse: scenario name': () => exec.scenario.name === 'browse',
    'browse: got JSON': (r) => r.json('slideshow') !== undefined,
  });
}

export function buy() {
  const res = http.post(`${BASE}/post`, JSON.stringify({ item: __ENV.ITEM }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, {
    'buy: own env': () => __ENV.ITEM === 'apple' && __ENV.PAGE === undefined,
    // startTime: '1s' delays this scenario's first iteration by a second.
    'buy: started late': () => exec.instance.currentTestRunDuration >= 1000,
    'buy: item echoed': (r) => r.json('json.item') === 'apple',
  });
}

// No default function: every scenario names its own.
