// The k6 hello-world shape: `http.get(BASE_URL)` without a trailing slash, URLs with spaces
// in the query and dot segments, checked by `res.url` and counted by their `url` and `name`
// tags, credentials in a URL and a redirect. k6 shows a URL as Go writes back what the script
// wrote.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    checks: ['rate==1'],
    'http_reqs{name:home}': ['count==2'],
  },
};

export default function () {
  const B = __ENV.BASE_URL;
  const home = http.get(B, { tags: { name: 'home' } });
  check(home, {
    'no slash added': (r) => r.url === B && r.request.url === B,
    'served': (r) => r.status === 200,
  });
  const upper = http.get(`${B}/get?q=caf\u00e9`);
  check(upper, { 'query as written': (r) => r.url === `${B}/get?q=caf\u00e9` });
  const dots = http.get(`${B}/anything/v1/../v2`);
  check(dots, { 'dot segments kept': (r) => r.url === `${B}/anything/v1/../v2` });
  const auth = http.get(`${B.replace('://', '://ann:s3cret@')}/basic-auth/ann/s3cret`);
  check(auth, {
    'credentials kept in the url': (r) => r.status === 200 && r.url === `${B.replace('://', '://ann:s3cret@')}/basic-auth/ann/s3cret`,
  });
  const redirected = http.get(`${B}/redirect/1`);
  check(redirected, {
    'redirect: the final url': (r) => r.url === `${B}/get`,
    'redirect: the first request': (r) => r.request.url === `${B}/redirect/1`,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
