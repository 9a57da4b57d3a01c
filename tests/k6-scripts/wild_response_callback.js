// Which responses count as failed: http.setResponseCallback with expectedStatuses (codes and
// ranges), a per-request responseCallback, and turning it off with null.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { http_req_failed: ['rate<0.5'], 'http_req_failed{kind:odd}': ['rate==0'] },
};

http.setResponseCallback(http.expectedStatuses(200, 201, { min: 400, max: 404 }));

export default function () {
  const base = __ENV.BASE_URL;
  http.get(`${base}/status/404`, { tags: { kind: 'odd' } });
  http.get(`${base}/status/201`);
  http.get(`${base}/status/500`);
  http.get(`${base}/status/500`, { responseCallback: http.expectedStatuses(500), tags: { kind: 'odd' } });
  http.get(`${base}/status/204`, { responseCallback: null });
  const res = http.get(`${base}/status/405`);
  check(res, { 'status kept': (r) => r.status === 405 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
