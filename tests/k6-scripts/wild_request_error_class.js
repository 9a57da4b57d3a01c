// Error handling in the style of resilience tests: requests to a closed port, a name that does
// not exist, a slow endpoint past its timeout and TLS spoken to a plain HTTP port, each first
// as a failed response (`res.error`, `res.error_code`), then with `throw: true` caught as the
// GoError k6 throws, then through `http.asyncRequest`, whose promise rejects with Go's error
// itself. Scripts test `e.name`, `String(e)` and `e.value` to decide whether to retry.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: { checks: ['rate==1'] },
};

const B = __ENV.BASE_URL;
const CLOSED = 'http://127.0.0.1:1/orders';
const REFUSED = 'dial tcp 127.0.0.1:1: connect: connection refused';

function thrown(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}

export default async function () {
  const res = http.get(CLOSED);
  check(res, {
    'refused: short error and code': (r) => r.status === 0 && r.error === 'dial: connection refused' && r.error_code === 1212,
  });

  const e = thrown(() => http.get(CLOSED, { throw: true }));
  check(e, {
    'thrown: a GoError': (x) => x instanceof Error && x.name === 'GoError' && x.constructor.name === 'GoError',
    'thrown: Go\'s words': (x) => String(x) === `GoError: Get "${CLOSED}": ${REFUSED}`
      && x.message === `Get "${CLOSED}": ${REFUSED}`,
    'thrown: the url.Error as value': (x) => x.value.op === 'Get' && x.value.url === CLOSED
      && Object.keys(x).join() === 'value',
  });
  const post = thrown(() => http.post(CLOSED, 'x', { throw: true }));
  const purge = thrown(() => http.request('purge', CLOSED, null, { throw: true }));
  check(null, {
    'the method as Go names it': () => post.message.startsWith('Post "') && purge.message.startsWith('purge "'),
  });

  let rejected = null;
  await http.asyncRequest('GET', CLOSED, null, { throw: true }).catch((x) => { rejected = x; });
  check(rejected, {
    'async: the bare error': (x) => String(x) === `Get "${CLOSED}": ${REFUSED}` && !(x instanceof Error),
    'async: Go\'s fields and methods': (x) => x.op === 'Get' && x.url === CLOSED
      && typeof x.error === 'function' && x.error() === String(x)
      && x.timeout() === false && x.temporary() === false,
  });

  const dns = http.get('http://no-such-host.invalid/', { throw: false });
  const dnsThrown = thrown(() => http.get('http://no-such-host.invalid/', { throw: true }));
  check(null, {
    'dns: short error and code': () => dns.error === 'lookup: no such host' && dns.error_code === 1101,
    'dns: Go names the name and the server': () => dnsThrown.message.startsWith('Get "http://no-such-host.invalid/": lookup no-such-host.invalid on ')
      && dnsThrown.message.endsWith(':53: no such host'),
  });

  const slow = `${B}/delay/1000`;
  const late = http.get(slow, { timeout: '100ms' });
  const lateThrown = thrown(() => http.get(slow, { timeout: '100ms', throw: true }));
  let lateRejected = null;
  await http.asyncRequest('GET', slow, null, { timeout: '100ms', throw: true }).catch((x) => { lateRejected = x; });
  check(null, {
    'timeout: short error and code': () => late.error === 'request timeout' && late.error_code === 1050,
    'timeout: thrown with the URL': () => String(lateThrown) === `GoError: Get "${slow}": request timeout`,
    'timeout: the rejection is the same text': () => String(lateRejected) === `Get "${slow}": request timeout`
      && lateRejected.timeout() === false,
  });

  const tls = B.replace('http://', 'https://');
  const plain = http.get(`${tls}/get`);
  const plainThrown = thrown(() => http.get(`${tls}/get`, { throw: true }));
  check(null, {
    'tls to a plain port: an error and a code': () => plain.status === 0 && plain.error !== '' && plain.error_code > 0,
    'tls to a plain port: thrown with the URL': () => plainThrown.name === 'GoError'
      && plainThrown.message.startsWith(`Get "${tls}/get": `),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
