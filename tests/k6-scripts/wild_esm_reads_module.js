// A helper pasted from a Node project into an ES module test: it asks `typeof module` to tell
// Node from a browser, guarded by `try` as defensive code is. In k6 an ES module that reads
// `module` or `exports` gets a GoError saying it mixes ES modules and CommonJS (the CommonJS
// files it imports keep their own `module`); the test then goes on without the Node branch.
import { check } from 'k6';
import { pad } from './lib/umd_format.js';

function environment() {
  try {
    return typeof module !== 'undefined' && module.exports ? 'node' : 'browser';
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
}

const atInit = environment();
const mixing = (name) => `GoError: you are trying to access identifier "${name}", this likely is due to mixing ECMAScript Modules (ESM) and CommonJS syntax. This isn't supported in the JavaScript standard, please use only one or the other`;

function thrown(f) {
  try {
    f();
    return 'nothing';
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
}

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate==1'] } };

export default function () {
  check(atInit, { 'module read at init throws the GoError': (v) => v === mixing('module') });
  check(null, {
    'module read in an iteration throws it': () => environment() === mixing('module'),
    'exports through globalThis throws it': () => thrown(() => globalThis.exports) === mixing('exports'),
    'assigning module throws it': () => thrown(() => { globalThis.module = {}; }) === mixing('module'),
    'module is a property of globalThis': () => 'module' in globalThis && 'exports' in globalThis,
    'not enumerable': () => !Object.keys(globalThis).includes('module'),
    'require is still there': () => typeof require === 'function',
    'a UMD file keeps its own module': () => pad('7', 3) === '007',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
