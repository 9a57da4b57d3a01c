// URLs built from configuration that went wrong: a space in a host, a port that is a word, a
// stray `%`, an unclosed IPv6 bracket, `localhost:8080` without `http://`. k6 parses each with
// Go's net/url and answers with a failed response that says why, and keeps the request it
// would have sent when Go's client refused it.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  userAgent: 'wild-tests/1.0',
  thresholds: {
    checks: ['rate==1'],
    'http_reqs{error_code:1210}': ['count==2'],
    'http_reqs{error_code:1000}': ['count==4'],
  },
};

const parseFailure = (raw, why) => (r) => r.status === 0 && r.error_code === 1020
  && r.error === `invalid URL: parse ${JSON.stringify(raw)}: ${why}` && r.url === '';

export default function () {
  const B = __ENV.BASE_URL;
  const reasons = [
    ['http://[::1', "missing ']' in host"],
    ['http://api .example.com/v1', 'invalid character " " in host name'],
    ['http://localhost:port/', 'invalid port ":port" after host'],
    ['http://[::1]:80:80/', 'invalid port ":80:80" after host'],
    [`${B}/search/%zz`, 'invalid URL escape "%zz"'],
    [`${B}/100%`, 'invalid URL escape "%"'],
    ['http://%41pi.example.com/', 'invalid URL escape "%41"'],
    [':8080/api', 'missing protocol scheme'],
    ['1st:page', 'first path segment in URL cannot contain colon'],
    ['http://a\\b.example.com/', 'invalid character "\\\\" in host name'],
    ['http://[fe80::1%en0]/', 'invalid URL escape "%en"'],
  ];
  for (const [raw, why] of reasons) {
    check(http.get(raw), { [`parse error: ${why}`]: parseFailure(raw, why) });
  }
  const ctl = http.get(`${B}/a\tb`);
  check(ctl, {
    'control character': (r) => r.error_code === 1020 && r.error.endsWith('/a\\tb": net/url: invalid control character in URL'),
  });
  const frag = http.get(`${B}/page#%zz`);
  check(frag, { 'fragment escape': (r) => r.error === `invalid URL: parse "${B}/page#%zz": invalid URL escape "%zz"` });
  const unparsed = http.get('http://[::1', { headers: { 'X-Trace': 't1' } });
  check(unparsed, {
    'an unparsed URL has no request': (r) => r.request === null,
    'and an empty array for a body': (r) => Array.isArray(r.body) && r.body.length === 0,
    'and no headers or cookies': (r) => Object.keys(r.headers).length === 0 && Object.keys(r.cookies).length === 0,
  });
  const badTimeout = http.get(`${B}/get`, { timeout: '5 mins' });
  check(badTimeout, {
    'a bad param has no request and no url': (r) => r.request === null && r.url === '' && r.error_code === 0,
  });
  const noScheme = http.post('localhost:8080/api/login', { user: 'ann' }, { headers: { 'X-Trace': 't2' } });
  check(noScheme, {
    'host:port without a scheme': (r) => r.error === 'unsupported protocol scheme "localhost"' && r.error_code === 1000,
    'the refused request is kept': (r) => r.request.method === 'POST' && r.request.body === 'user=ann',
    'with the user agent': (r) => r.request.headers['User-Agent'][0] === 'wild-tests/1.0',
    'and the script headers': (r) => r.request.headers['X-Trace'][0] === 't2'
      && r.request.headers['Content-Type'][0] === 'application/x-www-form-urlencoded',
  });
  const ftp = http.get('FTP://files.example/report.csv', { headers: { 'User-Agent': 'mine' } });
  check(ftp, {
    'scheme lowercased': (r) => r.error === 'unsupported protocol scheme "ftp"',
    'its own user agent': (r) => r.request.headers['User-Agent'].length === 1 && r.request.headers['User-Agent'][0] === 'mine',
  });
  const port = http.get('http://127.0.0.1:99999/health');
  check(port, {
    'port out of range fails dialing': (r) => r.status === 0 && r.error_code === 1210 && r.error === 'dial tcp: address 99999: invalid port',
    'url as written': (r) => r.url === 'http://127.0.0.1:99999/health',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
