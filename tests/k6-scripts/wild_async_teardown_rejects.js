// An async teardown() that cleans up through the API and fails the run when the cleanup is
// refused: the iterations all ran, the rejected promise ends the run with k6's exit 255 (a
// thrown exception would be 107), and handleSummary still runs.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get`);
  check(res, { 'item read': (r) => r.status === 200 });
}

export async function teardown() {
  const res = await http.asyncRequest('DELETE', `${__ENV.BASE_URL}/status/409`);
  if (res.status !== 204) {
    throw new Error(`cleanup refused with ${res.status}`);
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
