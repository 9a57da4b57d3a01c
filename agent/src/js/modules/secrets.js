// The `k6/secrets` module: the secrets of the run's `--secret-source`s, read as promises
// (docs/k6-compatibility.md#k6secrets).
const V = globalThis.__volley;

// Go's conversion of a JS value to a string: `undefined` and `null` are empty.
const goString = (v) => (v === undefined || v === null ? '' : String(v));

// k6 rejects with the Go error itself: a plain object whose one key is its `error()` method,
// and which converts to the error's text.
function goError(text) {
  const e = { error() { return text; } };
  Object.defineProperty(e, Symbol.toPrimitive, { value: () => text });
  return e;
}

function read(source, name) {
  return new Promise((resolve, reject) => {
    const r = V.secretGet(source, goString(name));
    if (r[0] === null) resolve(r[1]);
    else reject(goError(r[0]));
  });
}

export default {
  get: (name) => read(null, name),
  source: (sourceName) => {
    const source = goString(sourceName);
    return { get: (name) => read(source, name) };
  },
};
