// k6/encoding and k6/crypto the way API-signing scripts use them: base64 variants, hashes and
// HMAC signatures of a request, sent as headers.
import http from 'k6/http';
import { check } from 'k6';
import encoding from 'k6/encoding';
import crypto from 'k6/crypto';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const body = JSON.stringify({ amount: 10 });
  const date = 'Sun, 06 Dec 2026 00:00:00 GMT';
  const signature = crypto.hmac('sha256', 'secret-key', `POST\n/post\n${date}\n${body}`, 'base64');
  const res = http.post(`${__ENV.BASE_URL}/post`, body, {
    headers: { 'Content-Type': 'application/json', Date: date, Authorization: `HMAC ${signature}` },
  });
  check(res, {
    'signature sent': (r) => r.json('headers.Authorization') === `HMAC ${signature}`,
    'signature value': () => signature === crypto.hmac('sha256', 'secret-key', `POST\n/post\n${date}\n${body}`, 'base64'),
  });
  check(null, {
    'b64 std': () => encoding.b64encode('hello?world') === 'aGVsbG8/d29ybGQ=',
    'b64 url': () => encoding.b64encode('hello?world', 'url') === 'aGVsbG8_d29ybGQ=',
    'b64 rawstd': () => encoding.b64encode('hello?world', 'rawstd') === 'aGVsbG8/d29ybGQ',
    'b64 decode to string': () => encoding.b64decode('aGVsbG8/d29ybGQ=', 'std', 's') === 'hello?world',
    'md5': () => crypto.md5('hello', 'hex') === '5d41402abc4b2a76b9719d911017c592',
    'sha1 base64': () => crypto.sha1('hello', 'base64') === 'qvTGHdzF6KLavt4PO0gs2a6pQ00=',
    'sha512 hex length': () => crypto.sha512('hello', 'hex').length === 128,
    'hasher': () => {
      const h = crypto.createHash('sha256');
      h.update('hel');
      h.update('lo');
      return h.digest('hex') === crypto.sha256('hello', 'hex');
    },
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
