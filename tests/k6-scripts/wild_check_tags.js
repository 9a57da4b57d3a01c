// Checks with their own tags and thresholds on them, checks returning false, a check on an
// undefined value, and a check whose function throws.
import http from 'k6/http';
import { check } from 'k6';

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
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
