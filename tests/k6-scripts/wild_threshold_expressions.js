// CI gates written as tutorials show them: several expressions per metric, submetrics by
// status, method, group, check and a custom tag, rates and counts, `abortOnFail` objects that
// never fire, and one gate that fails so the run exits 99.
import http from 'k6/http';
import { check, group } from 'k6';
import { Counter, Rate } from 'k6/metrics';

const logins = new Counter('logins');
const slowPages = new Rate('slow_pages');

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    http_req_duration: ['p(95)<30000', 'max<60000', { threshold: 'avg<30000', abortOnFail: true, delayAbortEval: '10s' }],
    'http_req_duration{status:200}': ['p(99)<30000'],
    'http_req_duration{method:POST}': ['med<30000'],
    'http_reqs{status:404}': ['count==3'],
    'http_req_failed{page:missing}': ['rate==1'],
    'group_duration{group:::login}': ['avg<60000'],
    'checks{check:logged in}': ['rate==1'],
    'checks{scenario:default}': ['rate>0.5'],
    logins: ['count>=3', 'count<4', 'rate>0'],
    slow_pages: ['rate<0.5'],
    iterations: ['count==3'],
    'logins{kind:sso}': ['count==0'],
    'http_reqs{page:home}': ['count>10'],
  },
};

export default function () {
  group('login', () => {
    const res = http.post(`${__ENV.BASE_URL}/post`, { user: 'ann' });
    check(res, { 'logged in': (r) => r.status === 200 });
    logins.add(1, { kind: 'password' });
  });
  http.get(`${__ENV.BASE_URL}/status/404`, { tags: { page: 'missing' } });
  const home = http.get(`${__ENV.BASE_URL}/get`, { tags: { page: 'home' } });
  slowPages.add(home.timings.duration > 30000);
  check(home, { 'home ok': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
