// Stop matrix, phase "teardown": teardown() is held.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

export const options = stopOptions();

export function setup() {
  passing('setup');
}

export default function () {
  passing('run');
}

export function teardown() {
  held('teardown', false);
}

export function handleSummary() {
  passing('hs');
  return summaryOutput();
}
