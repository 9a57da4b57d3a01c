// Stop matrix, phase "init": the first init (__VU === 0, where the options are read) is held.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

if (__VU === 0) {
  held('init', true);
}

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
  passing('hs');
  return summaryOutput();
}
