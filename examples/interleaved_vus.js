// VUs that block *inside* JS (deep in recursion, in promise jobs, between frames that will
// throw) while other VUs run: each keeps its own stack, its own promise jobs and its own error
// stack traces. The VUs of a JS worker share one QuickJS runtime, so this is what keeps them
// apart; run it with `--workers 1` to put every VU on the same one.
import http from 'k6/http';
import { check, sleep } from 'k6';

export { handleSummary } from './lib/summary.js';

export const options = {
  scenarios: {
    interleaved: { executor: 'per-vu-iterations', vus: 20, iterations: 5, maxDuration: '60s' },
  },
};

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

// Blocks at the bottom of an n-frame recursion, then unwinds.
function down(n) {
  if (n === 0) {
    return http.get(`${BASE_URL}/?vu=${__VU}`).status === 200 ? 0 : -1e9;
  }
  return 1 + down(n - 1);
}

function runaway(n) {
  return 1 + runaway(n + 1);
}

// Odd and even VUs throw through differently named frames after blocking.
function throwOdd() {
  sleep(0.002);
  throw new Error(`odd VU ${__VU}`);
}
function throwEven() {
  sleep(0.002);
  throw new Error(`even VU ${__VU}`);
}
function viaOddPath() {
  return throwOdd();
}
function viaEvenPath() {
  return throwEven();
}

async function fetchLater(who) {
  await Promise.resolve();
  const res = http.get(`${BASE_URL}/?async=${who}`); // blocks inside a promise job
  await null;
  return { who, status: res.status };
}

export default async function () {
  const me = __VU;

  // 1. Recursion: a deep stack survives other VUs running; runaway recursion is a RangeError.
  const depth = 50 + (me % 7) * 20;
  const downOk = down(depth) === depth;
  let rangeError = false;
  try {
    runaway(0);
  } catch (e) {
    rangeError = e instanceof RangeError;
  }

  // 2. Stack traces name this VU's own frames only.
  let stack = '';
  try {
    if (me % 2) viaOddPath();
    else viaEvenPath();
  } catch (e) {
    stack = String(e.stack);
  }
  const own = me % 2 ? 'throwOdd' : 'throwEven';
  const other = me % 2 ? 'throwEven' : 'throwOdd';

  // 3. Promise jobs: one queued before a blocking call runs later, in this VU; an async
  //    function blocks inside its job.
  let fromJob = null;
  Promise.resolve().then(() => {
    fromJob = { vu: __VU, status: http.get(`${BASE_URL}/?job=${me}`).status };
  });
  http.get(`${BASE_URL}/?sync=${me}`); // blocks with the job above still pending
  const later = await fetchLater(me);
  await null;

  check(null, {
    'deep stack kept across blocking': () => downOk,
    'runaway recursion is a RangeError': () => rangeError,
    'stack trace has own frames only': () =>
      stack.includes(own) && stack.includes(me % 2 ? 'viaOddPath' : 'viaEvenPath') && !stack.includes(other),
    'promise job ran in its own VU': () => fromJob !== null && fromJob.vu === me && fromJob.status === 200,
    'async function resumed in its own VU': () => later.who === me && later.status === 200,
  });
}
