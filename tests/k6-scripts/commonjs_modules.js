// ES modules importing CommonJS files (default, by name, namespace) in the shapes found in the
// wild: `exports.x`, `module.exports = {…}`, UMD, a browserify-style bundle, `__esModule`
// interop, CommonJS requiring an ES module, and `require()` from an ES module.
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import math, { add, scale, b64, thisIsExports, notExported } from './lib/cjs_math.js';
import * as mathNs from './lib/cjs_math.js';
import consts from './lib/cjs_consts.js';
import { pad, textSummary } from './lib/umd_format.js';
import bundle, { count } from './lib/bundle.js';
import greet, { greeting } from './lib/transpiled.js';
import { fmt } from './lib/cjs_needs_esm.js';

const http = require('k6/http');
const required = require('./lib/cjs_math.js');
const total = new Counter('module_total');

export const options = { iterations: 2, vus: 1 };

export default function () {
  check(null, {
    'named import from exports.x': () => add(2, 3) === 5,
    'default import is module.exports': () => math.add === add && typeof math.scale === 'function',
    'namespace import has the exports': () => typeof mathNs.add === 'function',
    'missing name is undefined': () => notExported === undefined,
    'module.exports object': () => consts.factor === 10 && scale(4) === 40,
    'require of a built-in inside CommonJS': () => b64('k6') === 'azY=',
    'this is exports in CommonJS': () => thisIsExports === true,
    'UMD by name': () => pad(7, 3) === '007' && textSummary({ n: 2 }) === 'iterations=2',
    'browserify bundle': () => bundle.shout('go') === 'GO!' && count('a b c') === 3,
    '__esModule default': () => greet('k6') === 'hello k6' && greeting === 'hi',
    'CommonJS requiring an ES module': () => fmt(21) === '42ms',
    'require from an ES module': () => typeof http.get === 'function' && required.add === add,
  });
  total.add(add(1, 1));
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
