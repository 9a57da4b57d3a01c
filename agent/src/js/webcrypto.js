// The WebCrypto global `crypto`, as k6 v1.1.0 has it without an import
// (docs/k6-compatibility.md#webcrypto). Evaluated when a VU first reads `crypto`: this file is
// a function expression, called with the natives `randomBytes(n)` and `digest(name, buffer)`,
// that returns the object.
(function (native) {
  'use strict';

  // k6 throws getRandomValues' errors as GoErrors: `String(e)` is `GoError: Name: message`,
  // and `e.value` is `{ name, message }`.
  class GoError extends Error {
    constructor(message) {
      super(message);
      Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
    }
  }

  function goError(name, message) {
    const e = new GoError(`${name}: ${message}`);
    e.value = { name, message };
    return e;
  }

  // k6 rejects subtle's promises with plain objects `{ name, message }` that print as
  // `Name: message`.
  function cryptoError(name, message) {
    const e = { name, message };
    Object.defineProperty(e, 'toString', {
      value() { return `${this.name}: ${this.message}`; },
    });
    return e;
  }

  // The TypedArray brand (`Uint8Array`, …), or undefined for anything else.
  const typedArrayTag = Object.getOwnPropertyDescriptor(
    Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const INTEGER_ARRAYS = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array',
    'Uint16Array', 'Int32Array', 'Uint32Array'];
  // k6 counts elements, not bytes.
  const MAX_RANDOM_LENGTH = 65536;

  function getRandomValues(typedArray) {
    if (!INTEGER_ARRAYS.includes(typedArrayTag.call(typedArray))) {
      throw goError('TypeMismatchError', "typedArray parameter isn't a TypedArray instance");
    }
    if (typedArray.length > MAX_RANDOM_LENGTH) {
      throw goError('QuotaExceededError',
        `typedArray parameter is too big; maximum length is ${MAX_RANDOM_LENGTH}`);
    }
    const bytes = new Uint8Array(native.randomBytes(typedArray.byteLength));
    new Uint8Array(typedArray.buffer, typedArray.byteOffset, typedArray.byteLength).set(bytes);
    return typedArray;
  }

  function randomUUID() {
    const b = new Uint8Array(native.randomBytes(16));
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  const DIGESTS = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];

  function algorithmName(algorithm) {
    if (typeof algorithm === 'string') return algorithm;
    if (algorithm !== null && typeof algorithm === 'object') {
      return algorithm.name === undefined ? '' : String(algorithm.name);
    }
    throw cryptoError('SyntaxError', 'algorithm cannot be interpreted as a string or an object');
  }

  function bufferOf(data) {
    if (data instanceof ArrayBuffer) return data;
    if (ArrayBuffer.isView(data)) {
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    }
    throw cryptoError('TypeError', 'data must be an ArrayBuffer, TypedArray, or DataView');
  }

  // No data at all throws at once (as in k6); every other failure rejects.
  function digest(algorithm, data) {
    if (data === undefined || data === null) {
      throw new TypeError('Cannot convert undefined or null to object');
    }
    return digestLater(algorithm, data);
  }

  async function digestLater(algorithm, data) {
    const name = algorithmName(algorithm).toUpperCase();
    if (!DIGESTS.includes(name)) {
      throw cryptoError('NotSupportedError',
        `algorithm "${name}" doesn't support (in implementation) operation "digest"`);
    }
    return native.digest(name, bufferOf(data));
  }

  // Every method of k6's `crypto.subtle`, in its order; all but digest reject, saying so.
  const subtle = {};
  for (const op of ['decrypt', 'deriveBits', 'deriveKey', 'digest', 'encrypt', 'exportKey',
    'generateKey', 'importKey', 'sign', 'unwrapKey', 'verify', 'wrapKey']) {
    subtle[op] = op === 'digest' ? digest : async function () {
      throw cryptoError('NotSupportedError',
        `crypto.subtle.${op}() is not supported by Volley yet; only crypto.subtle.digest() is`);
    };
  }

  return { getRandomValues, randomUUID, subtle };
})
