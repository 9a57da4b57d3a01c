// The `k6/encoding` module.
const V = globalThis.__volley;

export function b64encode(input, encoding) {
  if (typeof input !== 'string' && !(input instanceof ArrayBuffer) && !(input instanceof Uint8Array)
    && !(input instanceof Uint8ClampedArray)) {
    throw invalidType(input);
  }
  return V.b64encode(input, encoding === undefined || encoding === null ? 'std' : String(encoding));
}

// k6 decodes the text of any value, and nothing for `null` and `undefined`.
export function b64decode(input, encoding, format) {
  const out = V.b64decode(input === undefined || input === null ? '' : String(input), encoding === undefined || encoding === null ? 'std' : String(encoding), format === undefined || format === null ? '' : String(format));
  if (typeof out === 'number') throw goError(`illegal base64 data at input byte ${out}`);
  return out;
}

// k6's GoError for a value b64encode cannot take: it names the Go type the value became.
function invalidType(v) {
  let type = 'map[string]interface {}';
  if (v === null || v === undefined) type = '<nil>';
  else if (typeof v === 'number' || v instanceof Number) {
    const n = Number(v);
    type = Number.isSafeInteger(n) && !Object.is(n, -0) ? 'int64' : 'float64';
  } else if (typeof v === 'boolean' || v instanceof Boolean) type = 'bool';
  else if (typeof v === 'bigint') type = '*big.Int';
  else if (typeof v === 'function') type = 'func(sobek.FunctionCall) sobek.Value';
  else if (Array.isArray(v) || v instanceof Set) type = '[]interface {}';
  else if (v instanceof Map) type = '[][2]interface {}';
  else if (v instanceof Date) type = 'time.Time';
  else if (v instanceof Promise) type = '*sobek.Promise';
  else if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const names = {
      Int8Array: 'int8', Int16Array: 'int16', Uint16Array: 'uint16', Int32Array: 'int32', Uint32Array: 'uint32',
      Float32Array: 'float32', Float64Array: 'float64', BigInt64Array: 'int64', BigUint64Array: 'uint64',
    };
    type = '[]' + names[Object.prototype.toString.call(v).slice(8, -1)];
  }
  return goError(`invalid type ${type}, expected string, []byte or ArrayBuffer`);
}

// k6 raises its errors from Go: `String(e)` is `GoError: message`.
function goError(message) {
  const e = new Error(message);
  Object.defineProperty(e, 'name', { value: 'GoError', writable: true, configurable: true });
  return e;
}

export default { b64encode, b64decode };
