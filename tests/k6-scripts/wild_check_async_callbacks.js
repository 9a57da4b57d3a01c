// Checks written the way async-first scripts write them: an `async` arrow inside a `check` set
// (which k6's built-in check refuses with a GoError, after recording the checks before it),
// caught and retried with plain functions over the awaited response, and checks whose
// functions return numbers, strings, objects or a promise.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const refused = new Counter('async_checks_refused');

export const options = {
  vus: 1,
  iterations: 3,
};

export default async function () {
  const res = await http.asyncRequest('GET', `${__ENV.BASE_URL}/json`);
  try {
    check(res, {
      'status read first': (r) => r.status === 200,
      'async body check': async (r) => r.json() !== null,
      'never reached': () => true,
    });
  } catch (e) {
    if (e.name === 'GoError' && e.message.startsWith('the built-in check() does not support async functions')) {
      refused.add(1);
    }
  }
  const body = res.json();
  check(body, {
    'a number counts by its truth': () => Object.keys(body).length,
    'a string counts by its truth': () => typeof body === 'object' && 'yes',
    'an empty string fails': () => '',
    'a promise from a plain function passes': () => Promise.resolve(false),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
