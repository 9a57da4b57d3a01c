// Stop matrix, phase "hs": handleSummary() is held; it returns HS-OUTPUT only if it finishes.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

export const options = stopOptions();

export function setup() {
  passing('setup');
}

export default function () {
  passing('run');
}

export function teardown() {
  passing('teardown');
}

export function handleSummary() {
  held('hs', false);
  return summaryOutput();
}
