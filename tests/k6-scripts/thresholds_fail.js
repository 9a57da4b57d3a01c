// Thresholds that fail at the end of the test: exit code 99.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    http_reqs: ['count>100'],
    checks: ['rate==1'],
    http_req_duration: ['max<60000'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status is 201': (r) => r.status === 201 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
