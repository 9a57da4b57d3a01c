// An API test that builds paths by joining segments (`${base}/${version}/../${resource}`),
// doubles a slash, escapes a slash inside a segment and sends characters that must be
// escaped: the server must see each path as the script wrote it (Go sends the path as written,
// escaped only where needed, and never removes dot segments), which the target echoes back.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const sent = {
  'dot segments kept': ['/anything/v1/../v2/users', '/anything/v1/../v2/users'],
  'a single dot kept': ['/anything/./users/./1', '/anything/./users/./1'],
  'doubled slashes kept': ['/anything//users//1', '/anything//users//1'],
  'an escaped slash kept': ['/anything/files/a%2Fb', '/anything/files/a%2Fb'],
  'escaped dots kept': ['/anything/x/%2e%2e/y', '/anything/x/%2e%2e/y'],
  'a space escaped': ['/anything/my file', '/anything/my%20file'],
  'pipes and braces escaped': ['/anything/a|b{c}', '/anything/a%7Cb%7Bc%7D'],
  'a quote kept': ["/anything/it's", "/anything/it's"],
  'a double quote escaped': ['/anything/say"hi"', '/anything/say%22hi%22'],
  'a backslash escaped': ['/anything/a\\b', '/anything/a%5Cb'],
  'non-ASCII escaped': ['/anything/caf\u00e9', '/anything/caf%C3%A9'],
  'the query untouched': ['/anything/q?path=a/../b', '/anything/q'],
};

export default function () {
  const B = __ENV.BASE_URL;
  for (const [name, [written, seen]] of Object.entries(sent)) {
    const res = http.get(`${B}${written}`, { tags: { name } });
    check(res, {
      [name]: (r) => r.status === 200 && r.json('path') === seen,
    });
  }
  const q = http.get(`${B}/anything/q?path=a/../b`);
  check(q, { 'query args as written': (r) => r.json('args.path') === 'a/../b' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
