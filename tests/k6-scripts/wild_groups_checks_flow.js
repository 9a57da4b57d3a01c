// Control flow public scripts lean on: `group` returning its callback's value, checks on
// arrays and plain values, `fail()` caught to retry, `sleep` with fractions, `randomSeed` for
// repeatable choices, and a custom tag on a check.
import http from 'k6/http';
import { check, group, fail, sleep, randomSeed } from 'k6';

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate>0.8'], 'checks{area:cart}': ['rate==1'] } };

export default function () {
  randomSeed(42);
  const first = Math.random();
  randomSeed(42);
  const again = Math.random();
  const user = group('login', () => {
    const r = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ name: 'ann' }), { headers: { 'Content-Type': 'application/json' } });
    return r.json('json');
  });
  let attempts = 0;
  let ok = false;
  while (!ok && attempts < 3) {
    attempts += 1;
    try {
      if (attempts < 2) fail(`attempt ${attempts} failed`);
      ok = true;
    } catch (e) {
      check(e, { 'fail() throws an Error with its message': (x) => x instanceof Error && x.message === 'attempt 1 failed' });
    }
  }
  group('cart', () => {
    group('add', () => {
      check([1, 2, 3], { 'array length': (a) => a.length === 3 }, { area: 'cart' });
    });
    check(user, { 'group returned the value': (u) => u.name === 'ann' }, { area: 'cart' });
  });
  const started = Date.now();
  sleep(0.05);
  check(null, {
    'retried once': () => attempts === 2 && ok,
    'randomSeed repeats': () => first === again,
    'slept': () => Date.now() - started >= 45,
    'check returns booleans': () => check(1, { one: (v) => v === 1 }) === true && check(1, { two: (v) => v === 2 }) === false,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
