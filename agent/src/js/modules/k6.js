// The `k6` module: check, group, sleep, fail, randomSeed.
const V = globalThis.__volley;

export function check(val, sets, tags) {
  if (arguments.length < 2) {
    const e = new GoError('no checks provided to `check`');
    e.value = {};
    throw e;
  }
  if (sets === null || sets === undefined) {
    // k6's words (goja's ToObject); any other value is converted to an object, as there: a
    // string's characters become checks, a number has none (so the check passes).
    throw new TypeError('Cannot convert undefined or null to object');
  }
  if (typeof sets !== 'object') sets = Object(sets);
  let all = true;
  const t = tags === undefined ? null : tags;
  // An index loop: `for...of` makes an iterator and a result object per step, per check call.
  const names = Object.keys(sets);
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const c = sets[name];
    let ok;
    if (typeof c === 'function') {
      try {
        ok = !!c(val);
      } catch (e) {
        // k6 counts a check whose function throws as failed, then rethrows; the later checks
        // of the set do not run.
        V.recordCheck(name, false, t);
        throw e;
      }
    } else ok = !!c;
    V.recordCheck(name, ok, t);
    if (!ok) all = false;
  }
  return all;
}

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
