// Shared by the stop-matrix scripts (tests/tests/stop_matrix.rs, contract in docs/exit-codes.md).
//
// Every phase prints `MARK:<phase>-start` and `MARK:<phase>-end` through console.log, so the
// driver can tell from stderr where the run is, whether teardown ran to its end and whether
// handleSummary ran. The phase under test is held for HOLD seconds (default 5).
//
// `-e METHOD=...` picks the stop method. abort | throw | threshold | timeout | fail are done by
// the script itself at the start of the phase under test; any other value (sigint, sigterm,
// sigint2, api, ...) is done by the driver while the script holds the phase.
//
// `-e SLOW_AFTER=1` makes the teardown() and handleSummary() that follow the phase under test take
// 2 s, so a second Ctrl+C sent 50 ms after the first still finds them running.
import exec from 'k6/execution';
import { sleep } from 'k6';
import { Counter } from 'k6/metrics';

const METHOD = __ENV.METHOD || 'none';
const HOLD_SECONDS = Number(__ENV.HOLD || '5');
const SLOW_AFTER = __ENV.SLOW_AFTER === '1';

// Metrics must be created in the init context; only the threshold method adds to this one.
const failures = new Counter('stop_matrix_failures');

export function mark(what) {
  console.log(`MARK:${what}`);
}

// One VU, one iteration: every phase but the one under test is over in milliseconds.
export function stopOptions() {
  const o = {
    scenarios: {
      main: { executor: 'per-vu-iterations', vus: 1, iterations: 1, maxDuration: '60s' },
    },
  };
  if (METHOD === 'threshold') {
    o.thresholds = { stop_matrix_failures: [{ threshold: 'count<1', abortOnFail: true }] };
  }
  if (METHOD === 'timeout') {
    o.setupTimeout = '1s';
    o.teardownTimeout = '1s';
    o.summaryTimeout = '1s';
  }
  return o;
}

// The phase under test: MARK start, the script's own stop method, hold, MARK end. `busy` spins
// instead of sleeping (sleep() is not allowed in init code), so only a JS interrupt can cut it.
export function held(phase, busy) {
  mark(`${phase}-start`);
  switch (METHOD) {
    case 'abort':
      exec.test.abort(`stop-matrix abort in ${phase}`);
      break;
    case 'throw':
      throw new Error(`stop-matrix exception in ${phase}`);
    case 'fail':
      exec.test.fail(`stop-matrix fail in ${phase}`);
      break;
    case 'threshold':
      failures.add(1);
      break;
    default:
      break;
  }
  if (busy) {
    const until = Date.now() + HOLD_SECONDS * 1000;
    while (Date.now() < until) {
      // spin
    }
  } else {
    sleep(HOLD_SECONDS);
  }
  mark(`${phase}-end`);
}

// A phase that is not under test: just its MARK lines (slow teardown/handleSummary with SLOW_AFTER).
export function passing(phase) {
  mark(`${phase}-start`);
  if (SLOW_AFTER && (phase === 'teardown' || phase === 'hs')) {
    sleep(2);
  }
  mark(`${phase}-end`);
}

// What every handleSummary returns: one recognisable stdout line.
export function summaryOutput() {
  return { stdout: 'HS-OUTPUT\n' };
}
