// Runaway recursion is an ordinary, catchable RangeError: the VU's stack is bounded, so the
// script can recover and the run goes on (exit 0).
import { check } from 'k6';

export { handleSummary } from './lib/summary.js';

export const options = { vus: 2, iterations: 4 };

function down(n) {
  return n === 0 ? 0 : 1 + down(n - 1);
}

export default function () {
  let caught = null;
  try {
    down(1e9);
  } catch (e) {
    caught = e;
  }
  check(caught, {
    'RangeError caught': (e) => e instanceof RangeError,
    // The limit is a few hundred frames in debug builds, over a thousand in release ones.
    'stack still usable': () => down(100) === 100,
  });
}
