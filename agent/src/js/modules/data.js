// The `k6/data` module: SharedArray, built once and shared read-only by every VU.
const V = globalThis.__volley;

export class SharedArray {
  constructor(name, fn) {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('SharedArray needs a name as its first argument');
    }
    if (typeof fn !== 'function') {
      throw new TypeError('SharedArray needs a function returning an array as its second argument');
    }
    const length = V.sharedArrayInit(name, () => {
      const arr = fn();
      if (!Array.isArray(arr)) {
        throw new TypeError('the function given to SharedArray must return an array');
      }
      return arr.map((e) => JSON.stringify(e === undefined ? null : e));
    });
    const cache = new Map();
    const get = (i) => {
      let v = cache.get(i);
      if (v === undefined) {
        v = deepFreeze(JSON.parse(V.sharedArrayGet(name, i)));
        cache.set(i, v);
      }
      return v;
    };
    const target = [];
    const self = this;
    return new Proxy(target, {
      get(t, prop) {
        if (prop === 'length') return length;
        if (typeof prop === 'string') {
          const i = Number(prop);
          if (Number.isInteger(i) && String(i) === prop) return i >= 0 && i < length ? get(i) : undefined;
        }
        if (prop === Symbol.iterator) {
          return function* () { for (let i = 0; i < length; i++) yield get(i); };
        }
        if (prop === 'constructor') return SharedArray;
        const ap = Array.prototype[prop];
        if (MUTATORS.has(prop)) {
          return () => { throw new TypeError('SharedArray is immutable'); };
        }
        if (typeof ap === 'function') {
          return (...args) => ap.apply(Array.from({ length }, (_, i) => get(i)), args);
        }
        return self[prop];
      },
      set() { throw new TypeError('SharedArray is immutable'); },
      deleteProperty() { throw new TypeError('SharedArray is immutable'); },
      has(t, prop) {
        const i = Number(prop);
        return Number.isInteger(i) && i >= 0 && i < length;
      },
      ownKeys() { return [...Array.from({ length }, (_, i) => String(i)), 'length']; },
      getOwnPropertyDescriptor(t, prop) {
        if (prop === 'length') return { value: length, writable: true, enumerable: false, configurable: false };
        const i = Number(prop);
        if (Number.isInteger(i) && i >= 0 && i < length) return { value: get(i), writable: false, enumerable: true, configurable: true };
        return undefined;
      },
    });
  }
}

// The Array methods that change an array: on a SharedArray they throw, as in k6.
const MUTATORS = new Set(['push', 'pop', 'shift', 'unshift', 'splice', 'sort', 'reverse', 'fill',
  'copyWithin']);

function deepFreeze(o) {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const k of Object.keys(o)) deepFreeze(o[k]);
  }
  return o;
}

export default { SharedArray };
