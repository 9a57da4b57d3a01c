// A `hosts` key that is not a name pattern is an options error (exit 104) before any VU runs.
import http from 'k6/http';

export const options = { iterations: 1, hosts: { 'a.*.volley.test': '127.0.0.1' } };

export default function () {
  http.get(`${__ENV.BASE_URL}/get`);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
