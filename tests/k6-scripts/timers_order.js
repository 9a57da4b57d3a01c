// Timers and promises on the VU's event loop: the order callbacks run in (recorded in a check's
// name, so both tools must produce the same name), the iteration waiting for every pending
// timer (the counter counts callbacks of all iterations), timers in setup and teardown. Due
// times are at least 75 ms apart, so that a loaded machine waking a VU late keeps their order.
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { setTimeout as later, clearInterval as stopEvery } from 'k6/timers';

export const options = {
  scenarios: {
    order: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '20s' },
  },
};

const fired = new Counter('timer_callbacks');

export function setup() {
  return new Promise((resolve) => setTimeout(() => resolve({ from: 'setup timer' }), 20));
}

export default async function (data) {
  const log = [];
  setTimeout((a, b) => { log.push('t200' + a + b); fired.add(1); }, 200, '!', '?');
  later(() => { log.push('t0'); fired.add(1); }, 0);
  const cancelled = setTimeout(() => log.push('cancelled'), 25);
  clearTimeout(cancelled);
  Promise.resolve().then(() => log.push('micro'));
  let n = 0;
  const every = setInterval(() => {
    log.push('iv' + n);
    fired.add(1);
    if (++n === 3) stopEvery(every);
  }, 150);
  setTimeout(() => {
    log.push('t400');
    Promise.resolve().then(() => log.push('micro after t400'));
  }, 400);
  await new Promise((resolve) => setTimeout(resolve, 75));
  log.push('awaited');
  setTimeout(() => {
    check(log, { ['order: ' + log.join(',')]: () => true, [data.from]: () => true });
  }, 600);
  log.push('sync end');
}

export function teardown() {
  setTimeout(() => check(null, { 'teardown timer ran': () => true }), 10);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
