// Docs-style first test: GET a page and a JSON API, check status, body and headers, sleep.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = { vus: 2, iterations: 4 };

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get?page=1`);
  check(res, {
    'is status 200': (r) => r.status === 200,
    'has a query arg': (r) => r.json().args.page === '1',
    'content type is JSON': (r) => r.headers['Content-Type'] === 'application/json',
    'body is not empty': (r) => r.body.length > 0,
    'timings are numbers': (r) => typeof r.timings.duration === 'number' && r.timings.waiting >= 0,
  });
  const notFound = http.get(`${__ENV.BASE_URL}/status/404`);
  check(notFound, { 'is status 404': (r) => r.status === 404 });
  sleep(0.05);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
