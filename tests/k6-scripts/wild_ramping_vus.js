// A load profile: ramping-vus up, steady and down, with a sleep per iteration and thresholds on
// the whole run.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  stages: [
    { duration: '1s', target: 3 },
    { duration: '1s', target: 3 },
    { duration: '1s', target: 0 },
  ],
  thresholds: { http_req_failed: ['rate<0.01'], http_req_duration: ['p(95)<5000'], checks: ['rate>0.99'] },
};

export default function () {
  check(http.get(`${__ENV.BASE_URL}/get`), { 'status 200': (r) => r.status === 200 });
  sleep(0.2);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
