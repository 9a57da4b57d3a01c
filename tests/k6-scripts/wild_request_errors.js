// A script run without one of its variables (`${__ENV.API_URL}/login` is `undefined/login`)
// and with params copied wrong: k6 answers each such request with a failed response instead
// of throwing, and the run goes on.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    'http_reqs{error_code:1000}': ['count==8'],
    'http_req_failed{name:login}': ['rate==1'],
    checks: ['rate==1'],
  },
};

export default async function () {
  const missing = http.post(`${__ENV.API_URL}/login`, { user: 'a' }, { tags: { name: 'login' } });
  check(missing, {
    'no scheme: status 0': (r) => r.status === 0 && r.error_code === 1000,
    'no scheme: error': (r) => r.error === 'unsupported protocol scheme ""',
    'no scheme: url as written': (r) => r.url === 'undefined/login' && r.body === null,
  });
  const ftp = http.get('ftp://files.example/report.csv');
  check(ftp, { 'other scheme': (r) => r.status === 0 && r.error === 'unsupported protocol scheme "ftp"' });
  const noHost = http.get('http://');
  check(noHost, { 'no host': (r) => r.error === 'http: no Host in request URL' && r.error_code === 1000 });
  const bad = http.get('http://[::1');
  check(bad, { 'unparsable: code 1020, not counted': (r) => r.status === 0 && r.error_code === 1020 && r.url === '' });
  const wrongType = http.get(`${__ENV.BASE_URL}/get`, { responseType: 'json' });
  check(wrongType, { 'unknown responseType': (r) => r.status === 0 && r.error === 'json does not belong to ResponseType values' });
  const wrongTimeout = http.get(`${__ENV.BASE_URL}/get`, { timeout: '30 seconds' });
  check(wrongTimeout, { 'unknown timeout': (r) => r.status === 0 && r.error.startsWith('invalid timeout value') });
  const stringParams = http.get(`${__ENV.BASE_URL}/get`, 'not params');
  check(stringParams, { 'string params ignored': (r) => r.status === 200 });
  const later = await http.asyncRequest('GET', `${__ENV.API_URL}/status`);
  check(later, { 'async: resolves with the error': (r) => r.status === 0 && r.error_code === 1000 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
