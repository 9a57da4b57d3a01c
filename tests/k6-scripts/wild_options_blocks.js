// Options copied from a cloud-ready script: cloud and ext blocks (ignored by local runs),
// summaryTrendStats and summaryTimeUnit, discardResponseBodies with a per-request
// responseType, noConnectionReuse, userAgent and insecureSkipTLSVerify.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
  cloud: { projectID: 123456, name: 'checkout flow', distribution: { eu: { loadZone: 'amazon:ie:dublin', percent: 100 } } },
  ext: { loadimpact: { projectID: 123456, name: 'legacy name' } },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)', 'p(99.9)', 'count'],
  summaryTimeUnit: 'ms',
  discardResponseBodies: true,
  noConnectionReuse: true,
  userAgent: 'MyCompanyLoadTest/1.0',
  insecureSkipTLSVerify: true,
  thresholds: { 'http_req_duration{expected_response:true}': ['p(99.9)<10000', 'avg<10000'] },
};

export default function () {
  const discarded = http.get(`${__ENV.BASE_URL}/user-agent`);
  const kept = http.get(`${__ENV.BASE_URL}/user-agent`, { responseType: 'text' });
  check(discarded, { 'body discarded': (r) => r.body === null && r.status === 200 });
  check(kept, {
    'text kept': (r) => typeof r.body === 'string',
    'custom user agent': (r) => r.json('user-agent') === 'MyCompanyLoadTest/1.0',
  });
  const own = http.get(`${__ENV.BASE_URL}/headers`, { responseType: 'text', headers: { 'User-Agent': 'per-request' } });
  check(own, { 'request header wins': (r) => r.json('headers.User-Agent') === 'per-request' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
