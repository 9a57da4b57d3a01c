// An async setup() that logs in with `http.asyncRequest` and gives up when the token is missing:
// the rejected promise ends the run (k6: exit 255, where a thrown exception is 107), no
// iteration runs, and handleSummary still gets the data.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
};

export async function setup() {
  const res = await http.asyncRequest('POST', `${__ENV.BASE_URL}/post`, JSON.stringify({ user: 'ci' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, { 'login answered': (r) => r.status === 200 });
  const token = res.json('json.token');
  if (!token) {
    throw new Error('login returned no token');
  }
  return { token };
}

export default function (data) {
  http.get(`${__ENV.BASE_URL}/get?token=${data.token}`);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
