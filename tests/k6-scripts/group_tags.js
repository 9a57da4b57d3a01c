// Requests in and out of groups, alternating: every sample carries the group it was made in
// (Volley reuses the tag sets of repeated requests, so this checks they follow the group).
import http from 'k6/http';
import { group } from 'k6';

export const options = {
  vus: 1,
  iterations: 6,
  thresholds: {
    'http_reqs{group:::a}': ['count==6'],
    'http_reqs{group:::b}': ['count==12'],
    'http_reqs{group:::b::c}': ['count==6'],
    http_reqs: ['count==36'],
  },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/get`);
  group('a', () => { http.get(`${__ENV.BASE_URL}/get`); });
  http.get(`${__ENV.BASE_URL}/get`);
  group('b', () => {
    http.get(`${__ENV.BASE_URL}/get`);
    group('c', () => { http.get(`${__ENV.BASE_URL}/get`); });
    http.get(`${__ENV.BASE_URL}/get`);
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
