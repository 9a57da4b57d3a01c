// Test data in a SharedArray: users from a JSON file and rows split from a CSV file by hand, one
// user per VU, logging in with basic auth credentials in the URL.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';

const users = new SharedArray('users', () => JSON.parse(open('./data/wild_users.json')));
const rows = new SharedArray('rows', () =>
  open('./data/users.csv').trim().split('\n').slice(1).map((line) => line.split(',')));

export const options = { vus: 3, iterations: 6 };

export default function () {
  const user = users[(__VU - 1) % users.length];
  const withCredentials = __ENV.BASE_URL.replace('http://', `http://${user.username}:${user.password}@`);
  const res = http.get(`${withCredentials}/basic-auth/${user.username}/${user.password}`);
  check(res, {
    'logged in': (r) => r.status === 200 && r.json('user') === user.username,
    'array is shared and frozen': () => users.length === 3 && Object.isFrozen(users[0]) === Object.isFrozen(users[1]),
    'csv rows': () => rows.length >= 2 && rows[0][0] === 'alice',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
