// console output of every kind of value, at every level, from init, setup, the iterations and
// teardown (the logs are compared by hand; the checks pin what the script can see).
import { check } from 'k6';

export const options = { vus: 1, iterations: 1 };

console.log('init', 1, true, null, undefined);

export function setup() {
  console.info('setup info', { a: 1, b: [1, 2] });
  return { started: true };
}

export default function (data) {
  console.log('object', { nested: { deep: 'x' } }, [1, 'two', { three: 3 }]);
  console.warn('warn', 1.5, -0, NaN);
  console.error('error', new Error('boom'));
  console.debug('debug is hidden without --verbose');
  console.log('map', new Map([['k', 'v']]), 'set', new Set([1]));
  console.log(`template ${data.started}`);
  check(data, { 'setup data arrived': (d) => d.started === true });
}

export function teardown() {
  console.log('teardown');
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
