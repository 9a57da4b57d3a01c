// Stop matrix, phase "vuinit": the init code of VU 1 (__VU === 1) is held.
import { held, passing, stopOptions, summaryOutput } from './lib/phase.js';

if (__VU === 1) {
  held('vuinit', true);
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
