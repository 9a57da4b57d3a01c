// Digest authentication: `auth: 'digest'` with the credentials in the URL. The first request
// gets the server's challenge (a 401 counted as an expected response), the second answers it.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const host = __ENV.BASE_URL.replace('http://', '');
  const ok = http.get(`http://user:passwd@${host}/digest-auth/auth/user/passwd`, { auth: 'digest' });
  check(ok, {
    'digest: 200': (r) => r.status === 200,
    'digest: authenticated': (r) => r.json('authenticated') === true && r.json('user') === 'user',
    'digest: url without credentials': (r) => r.url === `http://${host}/digest-auth/auth/user/passwd`,
  });
  const post = http.post(`http://user:passwd@${host}/digest-auth/auth/user/passwd?q=1`, 'body', {
    auth: 'digest',
    tags: { name: 'digest-post' },
  });
  check(post, { 'digest POST with a query: 200': (r) => r.status === 200 });
  const wrong = http.get(`http://user:wrong@${host}/digest-auth/auth/user/passwd`, { auth: 'digest' });
  check(wrong, { 'wrong password: 401': (r) => r.status === 401 });
  // Without `auth: 'digest'` the URL's credentials are Basic ones and the challenge is the answer.
  const basic = http.get(`http://user:passwd@${host}/digest-auth/auth/user/passwd`);
  check(basic, { 'basic credentials: 401': (r) => r.status === 401 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
