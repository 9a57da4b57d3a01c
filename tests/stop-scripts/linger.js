// Stop matrix, phases "linger" and "paused": every phase is quick; the driver stops the run while
// it lingers (--linger) or waits to be resumed (--paused). `-e RUN_FAIL=1` calls test.fail() in
// the iteration, so the run's own exit code is 110 instead of 0.
import exec from 'k6/execution';
import { passing, stopOptions, summaryOutput } from './lib/phase.js';

export const options = stopOptions();

export function setup() {
  passing('setup');
}

export default function () {
  passing('run');
  if (__ENV.RUN_FAIL === '1') {
    exec.test.fail('stop-matrix fail in run');
  }
}

export function teardown() {
  passing('teardown');
}

export function handleSummary() {
  passing('hs');
  return summaryOutput();
}
