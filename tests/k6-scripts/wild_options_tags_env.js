// Test-wide tags from options.tags on every sample, __ENV with defaults, request tags that
// override them, and thresholds on those tags.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const hits = new Counter('tagged_hits');
const ENVIRONMENT = __ENV.ENVIRONMENT || 'staging';

export const options = {
  vus: 1,
  iterations: 3,
  tags: { team: 'perf', environment: ENVIRONMENT },
  thresholds: {
    'http_reqs{team:perf}': ['count==6'],
    'http_reqs{environment:staging}': ['count==3'],
    'http_reqs{environment:override}': ['count==3'],
    'tagged_hits{team:perf}': ['count==3'],
  },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/get`);
  http.get(`${__ENV.BASE_URL}/get`, { tags: { environment: 'override' } });
  hits.add(1);
  check(null, {
    'env default': () => ENVIRONMENT === 'staging',
    'base url from -e': () => __ENV.BASE_URL.startsWith('http://127.0.0.1:'),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
