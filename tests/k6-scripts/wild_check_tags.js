// Checks with their own tags and thresholds on them, checks returning false, a check on an
// undefined value, a check whose function throws, and checks and groups called wrongly.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 4,
  thresholds: {
    'checks{critical:yes}': ['rate==1'],
    'checks{critical:no}': ['rate>0.4'],
    'checks{check:status is 200}': ['rate==1'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/get`);
  const all = check(res, { 'status is 200': (r) => r.status === 200, 'fast enough': (r) => r.timings.duration < 10000 }, { critical: 'yes' });
  const some = check(res, { 'odd iteration': () => __ITER % 2 === 1, 'body present': (r) => r.body.length > 0 }, { critical: 'no' });
  check(undefined, { 'undefined value': (v) => v === undefined });
  check(res, { 'truthy non-boolean': (r) => r.status, 'falsy non-boolean': () => 0 });
  check(null, { 'all returned': () => all === true, 'some returned': () => some === (__ITER % 2 === 1) });
  let threw = '';
  try {
    check(res, { 'throws inside': () => { throw new Error('inside check'); } });
  } catch (e) {
    threw = e.message;
  }
  check(threw, { 'check rethrows': (t) => t === 'inside check' });
  check(null, {
    'a number as the checks passes': () => check(res, 5) === true,
    'a string as the checks': () => check(res, 'y') === true,
    'no checks throws': () => { try { check(res); return false; } catch (e) { return String(e) === 'GoError: no checks provided to `check`'; } },
    'null checks throw': () => { try { check(res, null); return false; } catch (e) { return e instanceof TypeError; } },
    'group without a function': () => { try { group('g'); return false; } catch (e) { return e.message === 'group() requires a callback as a second argument'; } },
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
