// A file-service test in the style of published ones: requests retried on 429 and 5xx with a
// capped backoff (each retry counted and tagged by status, the throttled answers marked as
// expected), then binary downloads hashed with k6/crypto (one-shot and incremental hashes,
// an HMAC), read as bytes and encoded for a log line.
import http from 'k6/http';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { check, group, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const retries = new Counter('retries');
const downloaded = new Trend('downloaded_bytes');

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: {
    checks: ['rate==1'],
    'retries{status:429}': ['count==8'],
    'retries{status:503}': ['count==8'],
    'http_req_failed{expected_response:false}': ['rate>=0'],
  },
};

function withRetry(url, params, attempts) {
  let res;
  for (let i = 0; i < attempts; i++) {
    res = http.get(url, params);
    if (res.status < 500 && res.status !== 429) return res;
    retries.add(1, { status: String(res.status) });
    sleep(Math.min(0.005 * 2 ** i, Number(res.headers['Retry-After'] || 0.01)));
  }
  return res;
}

export default function () {
  const B = __ENV.BASE_URL;
  group('retries', () => {
    const throttled = withRetry(`${B}/status/429`, { responseCallback: http.expectedStatuses(200, 429) }, 2);
    const down = withRetry(`${B}/status/503`, {}, 2);
    check(null, {
      'gave up on 429 after two tries': () => throttled.status === 429,
      'gave up on 503 after two tries': () => down.status === 503 && down.error_code === 1503,
    });
  });
  group('download', () => {
    const res = http.get(`${B}/bytes/512`, { responseType: 'binary', tags: { name: 'blob' } });
    const bytes = new Uint8Array(res.body);
    downloaded.add(res.body.byteLength);
    const h = crypto.createHash('sha256');
    h.update(res.body);
    check(res, {
      'an ArrayBuffer': (r) => Object.prototype.toString.call(r.body) === '[object ArrayBuffer]',
      'all bytes': () => bytes.length === 512 && bytes[511] === 255,
      'hashes agree': (r) => crypto.sha256(r.body, 'hex') === h.digest('hex'),
      'md5 in base64': (r) => crypto.md5(r.body, 'base64').length === 24,
      'hmac is stable': (r) => crypto.hmac('sha256', 'secret', r.body, 'hex') === crypto.hmac('sha256', 'secret', r.body, 'hex'),
      'rawurl encoding': () => encoding.b64encode(bytes.slice(250, 256).buffer, 'rawurl') === '-vv8_f7_',
      'text body of bytes': () => http.get(`${B}/bytes/3`).body.length === 3,
    });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
