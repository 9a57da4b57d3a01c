// 404 responses count as failed requests (http_req_failed) but are not errors for the script.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 4 };

export default function () {
  const bad = http.get(`${__ENV.BASE_URL}/status/404`);
  check(bad, { 'is 404': (r) => r.status === 404 });
  const good = http.get(`${__ENV.BASE_URL}/`);
  check(good, { 'is 200': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
