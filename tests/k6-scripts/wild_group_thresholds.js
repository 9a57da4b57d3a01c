// A user journey in nested groups, each step's latency gated by a `group_duration` threshold
// on its group path, checks and requests counted per group (`{group:::journey::login}`), and
// a request tagged with the group it ran in, checked through `res.request`'s tags shape.
import http from 'k6/http';
import { check, group, sleep } from 'k6';

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: {
    'group_duration{group:::journey}': ['max<5000'],
    'group_duration{group:::journey::login}': ['p(95)<3000', 'avg<3000'],
    'group_duration{group:::journey::browse::details}': ['max<3000'],
    'http_reqs{group:::journey::browse}': ['count==4'],
    'http_reqs{group:::journey::browse::details}': ['count==8'],
    'checks{group:::journey::login}': ['rate==1'],
    'http_req_duration{group:::journey::login}': ['max<3000'],
    checks: ['rate>0.9'],
  },
};

export default function () {
  group('journey', () => {
    group('login', () => {
      const res = http.post(`${__ENV.BASE_URL}/post`, { user: `u${__VU}`, pass: 'x' });
      check(res, {
        'logged in': (r) => r.status === 200,
        'form echoed': (r) => r.json('form.user') === `u${__VU}`,
      });
    });
    group('browse', () => {
      const list = http.get(`${__ENV.BASE_URL}/json`);
      check(list, { 'list is json': (r) => r.headers['Content-Type'].startsWith('application/json') });
      group('details', () => {
        for (const id of [1, 2]) {
          const res = http.get(`${__ENV.BASE_URL}/anything/items/${id}`, { tags: { name: 'item' } });
          check(res, { 'item path': (r) => r.json('path') === `/anything/items/${id}` });
        }
      });
    });
    sleep(0.01);
  });
  group('empty', () => {});
  check(null, { 'outside any group': () => true });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
