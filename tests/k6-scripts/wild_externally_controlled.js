// The externally-controlled executor as CI scripts leave it when nobody scales it: its VUs run
// for its duration.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    manual: { executor: 'externally-controlled', vus: 2, maxVUs: 4, duration: '2s' },
  },
  thresholds: { http_req_failed: ['rate==0'], checks: ['rate==1'] },
};

export default function () {
  check(http.get(`${__ENV.BASE_URL}/get`), { 'ok': (r) => r.status === 200 });
  sleep(0.25);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
