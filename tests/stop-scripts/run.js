// Stop matrix, phase "run": the one iteration of default() is held.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

export const options = stopOptions();

export function setup() {
  passing('setup');
}

export default function () {
  held('run', false);
}

export function teardown() {
  passing('teardown');
}

export function handleSummary() {
  passing('hs');
  return summaryOutput();
}
