// Stop matrix, phase "setup": setup() is held.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

export const options = stopOptions();

export function setup() {
  held('setup', false);
}

export default function () {
  passing('run');
}

export function teardown() {
  passing('teardown');
}

export function handleSummary() {
  passing('hs');
  return summaryOutput();
}
