// Shapes k6 gives: exec.test.options, exec.scenario.startTime in whole milliseconds, fail()'s GoError and its
// wording, valid metric names at the edges of k6's rule, and submetric keys as thresholds
// spell them (the metric names of the summary data are compared).
import http from 'k6/http';
import exec from 'k6/execution';
import { check, fail } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const underscore = new Counter('_x');
const longest = new Trend('t' + 'a'.repeat(128));

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    'http_req_duration{api:"/x"}': ['p(95)<60000'],
    'http_reqs{ status:200,api:/x}': ['count>0'],
    'iterations{ scenario : default }': ['count>0'],
  },
};

const OPTION_KEYS = [
  'paused', 'scenarios', 'executionSegment', 'executionSegmentSequence', 'noSetup', 'setupTimeout',
  'noTeardown', 'teardownTimeout', 'rps', 'dns', 'maxRedirects', 'userAgent', 'batch', 'batchPerHost',
  'httpDebug', 'insecureSkipTLSVerify', 'tlsCipherSuites', 'tlsVersion', 'tlsAuth', 'throw',
  'thresholds', 'blacklistIPs', 'blockHostnames', 'hosts', 'noConnectionReuse', 'noVUConnectionReuse',
  'minIterationDuration', 'ext', 'summaryTrendStats', 'summaryTimeUnit', 'systemTags', 'tags',
  'metricSamplesBufferSize', 'noCookiesReset', 'discardResponseBodies', 'consoleOutput', 'localIPs',
].join(',');

function failure(f) {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

export default function () {
  underscore.add(1);
  longest.add(2);
  http.get(`${__ENV.BASE_URL}/get`, { tags: { api: '/x' } });
  const start = exec.scenario.startTime;
  const e = failure(() => fail('boom here'));
  const empty = failure(() => fail());
  const obj = failure(() => fail({ a: 1 }));
  const opts = exec.test.options;
  check(null, {
    'options: every k6 key in k6 order': () => Object.keys(opts).join(',') === OPTION_KEYS,
    'options: unset ones are null': () => opts.paused === null && opts.userAgent === null && opts.hosts === null,
    'options: dns has its three keys': () => Object.keys(opts.dns).join(',') === 'ttl,select,policy',
    'options: default trend stats': () => opts.summaryTrendStats.join(',') === 'avg,min,med,max,p(90),p(95)',
    'options: shortcut becomes a scenario': () =>
      opts.scenarios.default.executor === 'shared-iterations' && opts.scenarios.default.iterations === 2,
    'options: scenario keys': () =>
      Object.keys(opts.scenarios.default).join(',') ===
      'executor,startTime,gracefulStop,env,exec,tags,vus,iterations,maxDuration',
    'options: unset scenario fields are null': () =>
      opts.scenarios.default.startTime === null && opts.scenarios.default.exec === null,
    'options: thresholds as written': () =>
      opts.thresholds['http_reqs{ status:200,api:/x}'][0] === 'count>0',
    'options: no shortcut keys': () => opts.vus === undefined && opts.iterations === undefined,
  });
  check(null, {
    'startTime is whole milliseconds': () => Number.isInteger(start),
    'startTime is near now': () => Math.abs(Date.now() - start) < 600000,
    'fail: String(e)': () => String(e) === 'GoError: boom here',
    'fail: message': () => e.message === 'boom here',
    'fail: name': () => e.name === 'GoError',
    'fail: value': () => JSON.stringify(e) === '{"value":{}}',
    'fail: without a message': () => String(empty) === 'GoError' && empty.message === '',
    'fail: an object': () => obj.message === '[object Object]',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
