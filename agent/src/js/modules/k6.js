// The `k6` module: check, group, sleep, fail, randomSeed.
const V = globalThis.__volley;

// check() is native (agent/src/js/modules/k6.rs): it tells `check(v)` from `check(v, undefined)`
// by its argument count, which JS reads only from an `arguments` object QuickJS builds on every
// call. It asks here for the GoError of `check(v)`.
V.checkNoChecksError = () => {
  const e = new GoError('no checks provided to `check`');
  e.value = {};
  return e;
};
// k6's GoError for an `async` check function, its words and link as k6 v1.1.0 gives them.
V.checkAsyncError = () => {
  const e = new GoError('the built-in check() does not support async functions as arguments. '
    + 'Use the JavaScript utils library as a replacement. Refer to '
    + 'https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/check/ for more info');
  e.value = {};
  return e;
};
export const check = V.check;

export function group(name, fn) {
  if (typeof fn !== 'function') {
    throw new GoError('group() requires a callback as a second argument');
  }
  if (fn.constructor && fn.constructor.name === 'AsyncFunction') {
    // k6's words, link included.
    throw new GoError('group() does not support async functions as arguments, please see '
      + 'https://grafana.com/docs/k6/latest/javascript-api/k6/group/ for more info');
  }
  V.groupEnter(String(name));
  try {
    return fn();
  } finally {
    V.groupExit();
  }
}

export function sleep(seconds) {
  V.sleep(Number(seconds));
}

// k6 throws a GoError (`String(e)` is `GoError: message`, or `GoError` without one).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

export function fail(message) {
  const e = new GoError(message === undefined ? '' : String(message));
  // k6's GoError carries the Go error as `value`, an empty object to a script.
  e.value = {};
  throw e;
}

export function randomSeed(seed) {
  V.randomSeed(Number(seed));
}

export default { check, group, sleep, fail, randomSeed };
