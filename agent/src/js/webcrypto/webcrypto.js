// The WebCrypto global `crypto`, as k6 v1.1.0 has it without an import
// (docs/k6-compatibility.md#webcrypto). Evaluated when a VU first reads `crypto`: this file is
// a function expression, called with the natives of `mod.rs` (random bytes, digests, HMAC,
// AES, EC and RSA on bytes), that returns the object. Everything a script can get wrong is
// checked here, in k6's order and with k6's error names and messages.
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

  // Calls a native; its `{ name, message }` throws become k6's rejections.
  function call(f, ...args) {
    try {
      return f(...args);
    } catch (e) {
      if (e !== null && typeof e === 'object' && !(e instanceof Error) && typeof e.name === 'string') {
        throw cryptoError(e.name, e.message);
      }
      throw e;
    }
  }

  const DIGESTS = ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512'];
  const ALGORITHMS = ['AES-CBC', 'AES-CTR', 'AES-GCM', 'AES-KW', 'ECDH', 'ECDSA', 'HMAC',
    'RSASSA-PKCS1-v1_5', 'RSA-PSS', 'RSA-OAEP'];
  const CANONICAL = Object.fromEntries(ALGORITHMS.map((a) => [a.toUpperCase(), a]));
  const AES = ['AES-CBC', 'AES-CTR', 'AES-GCM', 'AES-KW'];
  const EC = ['ECDSA', 'ECDH'];
  const RSA = ['RSASSA-PKCS1-v1_5', 'RSA-PSS', 'RSA-OAEP'];
  const CURVES = ['P-256', 'P-384', 'P-521'];
  const FORMATS = ['raw', 'spki', 'pkcs8', 'jwk'];
  // What each operation accepts.
  const SUPPORTED = {
    generateKey: ALGORITHMS,
    importKey: ALGORITHMS,
    sign: ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'RSA-PSS'],
    verify: ['HMAC', 'ECDSA', 'RSASSA-PKCS1-v1_5', 'RSA-PSS'],
    // AES-KW keys cannot encrypt (their usages are wrapKey and unwrapKey), but k6 names the
    // key's usages rather than the algorithm when asked to.
    encrypt: ['AES-CBC', 'AES-CTR', 'AES-GCM', 'AES-KW', 'RSA-OAEP'],
    decrypt: ['AES-CBC', 'AES-CTR', 'AES-GCM', 'AES-KW', 'RSA-OAEP'],
    deriveBits: ['ECDH'],
  };
  // The usages each kind of key may have.
  const USAGES = {
    HMAC: ['sign', 'verify'],
    'AES-CBC': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    'AES-CTR': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    'AES-GCM': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    'AES-KW': ['wrapKey', 'unwrapKey'],
    ECDSA: ['sign', 'verify'],
    ECDH: ['deriveKey', 'deriveBits'],
    'RSASSA-PKCS1-v1_5': ['sign', 'verify'],
    'RSA-PSS': ['sign', 'verify'],
    'RSA-OAEP': ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
  };
  // The usages of a key pair's public half; the private half takes the others.
  const PUBLIC_USAGES = ['verify', 'encrypt', 'wrapKey'];

  function algorithmName(algorithm) {
    if (typeof algorithm === 'string') return algorithm;
    if (algorithm !== null && typeof algorithm === 'object') {
      return algorithm.name === undefined ? '' : String(algorithm.name);
    }
    throw cryptoError('SyntaxError', 'algorithm cannot be interpreted as a string or an object');
  }

  function unsupported(name, op) {
    return cryptoError('NotSupportedError',
      `algorithm "${name}" doesn't support (in implementation) operation "${op}"`);
  }

  // The algorithm's canonical name and its parameters (`{}` for a bare name).
  function normalize(algorithm, op) {
    const upper = algorithmName(algorithm).toUpperCase();
    const name = CANONICAL[upper];
    if (name === undefined || !SUPPORTED[op].includes(name)) throw unsupported(upper, op);
    return { name, params: typeof algorithm === 'object' ? algorithm : {} };
  }

  function hashOf(params, op) {
    const h = params.hash;
    if (h === undefined || h === null) {
      throw cryptoError('SyntaxError', 'could not get hash from algorithm parameter');
    }
    const name = algorithmName(h).toUpperCase();
    if (!DIGESTS.includes(name)) throw unsupported(name, op);
    return name;
  }

  function curveOf(params) {
    const c = params.namedCurve;
    if (c === undefined || c === null) {
      throw cryptoError('SyntaxError', 'could not get namedCurve from algorithm parameter');
    }
    if (!CURVES.includes(String(c))) {
      throw cryptoError('NotSupportedError', `elliptic curve ${c} is not supported`);
    }
    return String(c);
  }

  // digest's own wording for data that is no buffer.
  function bufferOf(data) {
    if (data instanceof ArrayBuffer) return data;
    if (ArrayBuffer.isView(data)) {
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    }
    throw cryptoError('TypeError', 'data must be an ArrayBuffer, TypedArray, or DataView');
  }

  // Every other method's wording.
  function bytesOf(data) {
    if (data instanceof ArrayBuffer) return data.slice(0);
    if (ArrayBuffer.isView(data)) {
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    }
    throw cryptoError('OperationError', 'data is neither an ArrayBuffer, nor a TypedArray nor DataView');
  }

  // An optional buffer parameter (`iv`, `additionalData`, `label`, ...): empty when absent.
  function paramBytes(v) {
    return v === undefined || v === null ? new ArrayBuffer(0) : bytesOf(v);
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
    if (!DIGESTS.includes(name)) throw unsupported(name, 'digest');
    return call(native.digest, name, bufferOf(data));
  }

  // ---- Keys -------------------------------------------------------------------------------
  // A CryptoKey is a plain object, as in k6 (there is no `CryptoKey` global); what it holds
  // (its bytes, and the algorithm and usages it was made with) stays in this map, out of the
  // script's reach, so changing the object's fields changes nothing.
  const internals = new WeakMap();

  function makeKey(type, extractable, algorithm, usages, material) {
    const key = { type, extractable, algorithm: publicAlgorithm(algorithm), usages: [...usages] };
    internals.set(key, { type, extractable, algorithm, usages: [...usages], material });
    return key;
  }

  // The `algorithm` a script sees: a copy, so that changing it changes nothing.
  function publicAlgorithm(a) {
    const out = { name: a.name };
    if (a.hash !== undefined) out.hash = { name: a.hash };
    if (a.length !== undefined) out.length = a.length;
    if (a.namedCurve !== undefined) out.namedCurve = a.namedCurve;
    if (a.modulusLength !== undefined) {
      out.modulusLength = a.modulusLength;
      out.publicExponent = new Uint8Array(a.publicExponent);
    }
    return out;
  }

  function internalsOf(key) {
    const k = key !== null && typeof key === 'object' ? internals.get(key) : undefined;
    if (k === undefined) {
      throw cryptoError('TypeError', 'key is not a CryptoKey made by crypto.subtle');
    }
    return k;
  }

  function usagesOf(keyUsages) {
    if (keyUsages === undefined || keyUsages === null || typeof keyUsages[Symbol.iterator] !== 'function') {
      throw cryptoError('TypeError', 'keyUsages must be an array of strings');
    }
    return Array.from(keyUsages, String);
  }

  function checkUsages(name, usages, withName) {
    for (const u of usages) {
      if (!USAGES[name].includes(u)) {
        throw cryptoError('SyntaxError', withName ? `invalid key usage: ${u}` : 'invalid key usage');
      }
    }
  }

  function requireUsages(usages) {
    if (usages.length === 0) {
      throw cryptoError('SyntaxError', 'usages cannot not be empty for a secret or private CryptoKey');
    }
  }

  function aesLength(params) {
    if (params.length === undefined || params.length === null) {
      throw cryptoError('SyntaxError', 'could not get length from algorithm parameter');
    }
    const bits = Number(params.length);
    if (bits !== 128 && bits !== 192 && bits !== 256) {
      throw cryptoError('OperationError', 'invalid key length');
    }
    return bits;
  }

  function hmacBlockBits(hash) {
    return hash === 'SHA-384' || hash === 'SHA-512' ? 1024 : 512;
  }

  function rsaParams(params, op) {
    if (params.modulusLength === undefined || params.modulusLength === null) {
      throw cryptoError('SyntaxError', 'could not get modulusLength from algorithm parameter');
    }
    if (params.publicExponent === undefined || params.publicExponent === null) {
      throw cryptoError('SyntaxError', 'could not get publicExponent from algorithm parameter');
    }
    const modulusLength = Number(params.modulusLength);
    if (!Number.isInteger(modulusLength)) {
      throw cryptoError('OperationError', `modulusLength ${params.modulusLength} is not an integer`);
    }
    return { modulusLength, publicExponent: bytesOf(params.publicExponent), hash: hashOf(params, op) };
  }

  async function generateKey(algorithm, extractable, keyUsages) {
    const { name, params } = normalize(algorithm, 'generateKey');
    extractable = Boolean(extractable);
    if (name === 'HMAC') {
      const hash = hashOf(params, 'generateKey');
      const usages = usagesOf(keyUsages);
      checkUsages(name, usages, true);
      requireUsages(usages);
      const length = params.length === undefined ? hmacBlockBits(hash) : Number(params.length);
      if (!Number.isInteger(length) || length <= 0 || length > 8 * 65536) {
        throw cryptoError('OperationError', 'invalid key length');
      }
      const secret = call(native.randomBytes, Math.ceil(length / 8));
      return makeKey('secret', extractable, { name, hash, length }, usages, secret);
    }
    if (AES.includes(name)) {
      const length = aesLength(params);
      const usages = usagesOf(keyUsages);
      checkUsages(name, usages, name !== 'AES-KW');
      requireUsages(usages);
      return makeKey('secret', extractable, { name, length }, usages,
        call(native.randomBytes, length / 8));
    }
    if (EC.includes(name)) {
      const namedCurve = curveOf(params);
      const usages = usagesOf(keyUsages);
      if (usages.length === 0) throw cryptoError('SyntaxError', 'key usages cannot be empty');
      checkUsages(name, usages, false);
      const [d, point] = call(native.ecGenerate, namedCurve);
      return keyPair({ name, namedCurve }, extractable, usages, { d, point }, { point });
    }
    // RSA
    const rsa = rsaParams(params, 'generateKey');
    const usages = usagesOf(keyUsages);
    checkUsages(name, usages, true);
    if (usages.length === 0) throw cryptoError('SyntaxError', 'key usages cannot be empty');
    const der = call(native.rsaGenerate, rsa.modulusLength, rsa.publicExponent);
    const pub = call(native.rsaPublicOf, der);
    return keyPair({ name, ...rsa }, extractable, usages, { der }, { der: pub });
  }

  // A CryptoKeyPair: the public half is always extractable, as in k6.
  function keyPair(algorithm, extractable, usages, privateMaterial, publicMaterial) {
    const privateUsages = usages.filter((u) => !PUBLIC_USAGES.includes(u));
    const publicUsages = usages.filter((u) => PUBLIC_USAGES.includes(u));
    if (privateUsages.length === 0) {
      throw cryptoError('SyntaxError', 'usages cannot not be empty for a secret or private CryptoKey');
    }
    return {
      privateKey: makeKey('private', extractable, algorithm, privateUsages, privateMaterial),
      publicKey: makeKey('public', true, algorithm, publicUsages, publicMaterial),
    };
  }

  function jwkObject(keyData) {
    if (keyData === null || typeof keyData !== 'object' || ArrayBuffer.isView(keyData) || keyData instanceof ArrayBuffer) {
      throw cryptoError('DataError', 'failed to parse JWK: keyData is not a JSON Web Key object');
    }
    return keyData;
  }

  function jwkMember(jwk, member, what) {
    const v = jwk[member];
    if (typeof v !== 'string') {
      throw cryptoError('DataError', `invalid ${what} JWK: missing or invalid member "${member}"`);
    }
    return call(native.unb64url, v);
  }

  // The bytes of a secret key in `raw` or `jwk` form.
  function secretBytes(format, keyData, name) {
    if (format === 'raw') return bytesOf(keyData);
    if (format === 'jwk') {
      const jwk = jwkObject(keyData);
      if (jwk.kty !== 'oct') {
        throw cryptoError('DataError', `invalid symmetric JWK: invalid key type: ${jwk.kty}`);
      }
      return jwkMember(jwk, 'k', 'symmetric');
    }
    throw cryptoError('NotSupportedError', `unsupported key format ${format} for algorithm ${name}`);
  }

  async function importKey(format, keyData, algorithm, extractable, keyUsages) {
    format = String(format);
    if (!FORMATS.includes(format)) {
      throw cryptoError('ImplementationError', `unsupported format ${format}`);
    }
    const { name, params } = normalize(algorithm, 'importKey');
    extractable = Boolean(extractable);
    if (name === 'HMAC') {
      const hash = hashOf(params, 'importKey');
      const secret = secretBytes(format, keyData, name);
      const usages = usagesOf(keyUsages);
      checkUsages(name, usages, true);
      requireUsages(usages);
      const bits = secret.byteLength * 8;
      if (bits === 0) throw cryptoError('DataError', 'key length cannot be 0');
      if (params.length !== undefined && Number(params.length) !== bits) {
        throw cryptoError('DataError', 'key length cannot be different from the length of the imported data');
      }
      return makeKey('secret', extractable, { name, hash, length: bits }, usages, secret);
    }
    if (AES.includes(name)) {
      const secret = secretBytes(format, keyData, name);
      const usages = usagesOf(keyUsages);
      checkUsages(name, usages, true);
      requireUsages(usages);
      if (!native.aesKeyLength(secret.byteLength)) {
        throw cryptoError('DataError', `invalid key length ${secret.byteLength} bytes`);
      }
      return makeKey('secret', extractable, { name, length: secret.byteLength * 8 }, usages, secret);
    }
    const usages = usagesOf(keyUsages);
    if (EC.includes(name)) return importEc(format, keyData, name, params, extractable, usages);
    return importRsa(format, keyData, name, params, extractable, usages);
  }

  function importEc(format, keyData, name, params, extractable, usages) {
    const namedCurve = curveOf(params);
    const algorithm = { name, namedCurve };
    const sameCurve = (curve) => {
      if (curve !== namedCurve) {
        throw cryptoError('DataError', `the key is on curve ${curve}, not on namedCurve ${namedCurve}`);
      }
    };
    const privateKey = (d, point) => {
      checkUsages(name, usages, false);
      requireUsages(usages);
      return makeKey('private', extractable, algorithm, usages, { d, point });
    };
    // k6 takes public keys with any usages.
    const publicKey = (point) => makeKey('public', extractable, algorithm, usages, { point });
    if (format === 'raw') {
      try {
        return publicKey(call(native.ecCheckPublic, namedCurve, bytesOf(keyData)));
      } catch (e) {
        if (e.name === 'DataError') throw cryptoError('DataError', `unable to import ${name} public key data`);
        throw e;
      }
    }
    if (format === 'spki') {
      const [curve, point] = call(native.ecSpkiImport, bytesOf(keyData));
      sameCurve(curve);
      return publicKey(point);
    }
    if (format === 'pkcs8') {
      const [curve, d, point] = call(native.ecPkcs8Import, bytesOf(keyData));
      sameCurve(curve);
      return privateKey(d, point);
    }
    const jwk = jwkObject(keyData);
    if (jwk.kty !== 'EC') throw cryptoError('DataError', `invalid EC JWK: invalid key type: ${jwk.kty}`);
    sameCurve(String(jwk.crv));
    // k6 writes P-521 coordinates without their leading zero byte (65 bytes, not 66): each is
    // read as the number it is, left-padded to the curve's size.
    const size = { 'P-256': 32, 'P-384': 48, 'P-521': 66 }[namedCurve];
    const x = new Uint8Array(jwkMember(jwk, 'x', 'EC'));
    const y = new Uint8Array(jwkMember(jwk, 'y', 'EC'));
    const n = Math.max(size, x.length, y.length);
    const given = new Uint8Array(1 + 2 * n);
    given[0] = 4;
    given.set(x, 1 + n - x.length);
    given.set(y, 1 + 2 * n - y.length);
    const point = call(native.ecCheckPublic, namedCurve, given.buffer);
    if (jwk.d === undefined) return publicKey(point);
    const d = jwkMember(jwk, 'd', 'EC');
    const derived = new Uint8Array(call(native.ecPublicOf, namedCurve, d));
    if (derived.length !== given.length || derived.some((b, i) => b !== given[i])) {
      throw cryptoError('DataError', 'invalid EC JWK: x and y are not the public key of d');
    }
    return privateKey(d, point);
  }

  function importRsa(format, keyData, name, params, extractable, usages) {
    const hash = hashOf(params, 'importKey');
    let der;
    let isPrivate;
    if (format === 'spki') {
      der = bytesOf(keyData);
      isPrivate = false;
    } else if (format === 'pkcs8') {
      der = bytesOf(keyData);
      isPrivate = true;
    } else if (format === 'jwk') {
      const jwk = jwkObject(keyData);
      if (jwk.kty !== 'RSA') throw cryptoError('DataError', `invalid RSA JWK: invalid key type: ${jwk.kty}`);
      for (const m of ['n', 'e']) {
        if (typeof jwk[m] !== 'string') {
          throw cryptoError('DataError', `invalid RSA JWK key: ${m === 'n' ? 'modulus (n)' : 'exponent (e)'} is required`);
        }
      }
      isPrivate = jwk.d !== undefined;
      const opt = (m) => (typeof jwk[m] === 'string' ? jwk[m] : undefined);
      der = call(native.rsaJwkImport, jwk.n, jwk.e, opt('d'), opt('p'), opt('q'));
    } else {
      throw cryptoError('NotSupportedError', `unsupported key format ${format} for algorithm ${name}`);
    }
    const modulusLength = call(native.rsaBits, der, isPrivate);
    checkUsages(name, usages, true);
    if (isPrivate) requireUsages(usages);
    const publicExponent = call(native.unb64url, call(native.rsaJwkExport, der, isPrivate).e);
    const algorithm = { name, modulusLength, publicExponent, hash };
    return makeKey(isPrivate ? 'private' : 'public', extractable, algorithm, usages, { der });
  }

  const JWK_AES_SUFFIX = { 'AES-CBC': 'CBC', 'AES-CTR': 'CTR', 'AES-GCM': 'GCM', 'AES-KW': 'KW' };

  async function exportKey(format, key) {
    format = String(format);
    const k = internalsOf(key);
    if (!FORMATS.includes(format)) {
      throw cryptoError('NotSupportedError', `unsupported key format ${format}`);
    }
    if (!k.extractable) throw cryptoError('InvalidAccessError', 'the key is not extractable');
    const a = k.algorithm;
    const m = k.material;
    if (k.type === 'secret') {
      if (format === 'raw') return m.slice(0);
      if (format !== 'jwk') throw cryptoError('NotSupportedError', `unsupported key format ${format}`);
      const alg = a.name === 'HMAC'
        ? `HS${a.hash.slice(4)}`
        : `A${a.length}${JWK_AES_SUFFIX[a.name]}`;
      return { kty: 'oct', k: call(native.b64url, m), alg, ext: true, key_ops: [...k.usages] };
    }
    if (EC.includes(a.name)) {
      const isPrivate = k.type === 'private';
      if ((format === 'raw' || format === 'spki') && isPrivate) {
        throw cryptoError('InvalidAccessError', 'key is not a valid elliptic curve public key');
      }
      if (format === 'pkcs8' && !isPrivate) {
        throw cryptoError('InvalidAccessError', 'key is not a valid elliptic curve private key');
      }
      if (format === 'raw') return m.point.slice(0);
      if (format === 'spki') return call(native.ecSpkiExport, a.namedCurve, m.point);
      if (format === 'pkcs8') return call(native.ecPkcs8Export, a.namedCurve, m.d);
      const p = new Uint8Array(m.point);
      const half = (p.length - 1) / 2;
      const jwk = {
        kty: 'EC',
        crv: a.namedCurve,
        x: call(native.b64url, p.slice(1, 1 + half).buffer),
        y: call(native.b64url, p.slice(1 + half).buffer),
      };
      if (isPrivate) jwk.d = call(native.b64url, m.d);
      return jwk;
    }
    // RSA
    const isPrivate = k.type === 'private';
    if (format === 'raw') throw cryptoError('NotSupportedError', 'unsupported key format raw');
    if (format === 'spki') {
      if (isPrivate) throw cryptoError('InvalidAccessError', 'given CryptoKey is not a public RSA key');
      return m.der.slice(0);
    }
    if (format === 'pkcs8') {
      if (!isPrivate) throw cryptoError('InvalidAccessError', 'given CryptoKey is not a private RSA key');
      return m.der.slice(0);
    }
    return { kty: 'RSA', ...call(native.rsaJwkExport, m.der, isPrivate) };
  }

  // ---- Operations -------------------------------------------------------------------------

  // The key's internals, checked for `op` with `name` (k6's wording, with the operation's name
  // in front for encrypt and decrypt).
  function keyFor(key, name, op, prefixed) {
    const k = internalsOf(key);
    const pre = prefixed ? `${op}'s ` : '';
    if (k.algorithm.name !== name) {
      throw cryptoError('InvalidAccessError', `${pre}algorithm name does not match key algorithm name`);
    }
    if (!k.usages.includes(op)) {
      throw cryptoError('InvalidAccessError', `${pre}key does not contain the '${op}' usage`);
    }
    return k;
  }

  function saltLengthOf(params) {
    if (params.saltLength === undefined || params.saltLength === null) {
      throw cryptoError('SyntaxError', 'could not get saltLength from algorithm parameter');
    }
    const salt = Number(params.saltLength);
    if (!Number.isInteger(salt) || salt < 0) {
      throw cryptoError('OperationError', `invalid saltLength ${params.saltLength}`);
    }
    return salt;
  }

  async function sign(algorithm, key, data) {
    const { name, params } = normalize(algorithm, 'sign');
    const hash = name === 'ECDSA' ? hashOf(params, 'sign') : undefined;
    const salt = name === 'RSA-PSS' ? saltLengthOf(params) : undefined;
    const bytes = bytesOf(data);
    const k = keyFor(key, name, 'sign', false);
    const m = k.material;
    if (name === 'HMAC') return call(native.hmacSign, k.algorithm.hash, m, bytes);
    if (name === 'ECDSA') return call(native.ecdsaSign, k.algorithm.namedCurve, hash, m.d, bytes);
    return call(native.rsaSign, salt, k.algorithm.hash, m.der, bytes);
  }

  async function verify(algorithm, key, signature, data) {
    const { name, params } = normalize(algorithm, 'verify');
    const hash = name === 'ECDSA' ? hashOf(params, 'verify') : undefined;
    const salt = name === 'RSA-PSS' ? saltLengthOf(params) : undefined;
    const sig = bytesOf(signature);
    const bytes = bytesOf(data);
    const k = keyFor(key, name, 'verify', false);
    const m = k.material;
    if (name === 'HMAC') return call(native.hmacVerify, k.algorithm.hash, m, sig, bytes);
    if (name === 'ECDSA') return call(native.ecdsaVerify, k.algorithm.namedCurve, hash, m.point, sig, bytes);
    return call(native.rsaVerify, salt, k.algorithm.hash, m.der, sig, bytes);
  }

  const TAG_LENGTHS = [96, 104, 112, 120, 128];

  async function crypt(op, algorithm, key, data) {
    const { name, params } = normalize(algorithm, op);
    if (typeof algorithm !== 'object') {
      throw cryptoError('SyntaxError', `invalid algorithm parameters, ${name} needs an object of parameters`);
    }
    const encrypt = op === 'encrypt';
    let run;
    if (name === 'AES-GCM') {
      const iv = paramBytes(params.iv);
      const aad = paramBytes(params.additionalData);
      const tagLength = params.tagLength === undefined ? 128 : Number(params.tagLength);
      if (!TAG_LENGTHS.includes(tagLength)) {
        throw cryptoError('OperationError', 'invalid tag length, should be one of 96, 104, 112, 120, 128');
      }
      run = (k, bytes) => call(native.aesGcm, encrypt, k.material, iv, aad, tagLength / 8, bytes);
    } else if (name === 'AES-CBC') {
      const iv = paramBytes(params.iv);
      run = (k, bytes) => call(native.aesCbc, encrypt, k.material, iv, bytes);
    } else if (name === 'AES-CTR') {
      const counter = paramBytes(params.counter);
      const length = Number(params.length);
      if (!Number.isInteger(length) || length <= 0 || length > 128) {
        throw cryptoError('OperationError', 'invalid counter length, out of the 0 < x < 128 bounds');
      }
      run = (k, bytes) => call(native.aesCtr, k.material, counter, length, bytes);
    } else if (name === 'AES-KW') {
      run = () => {
        throw cryptoError('NotSupportedError', 'AES-KW only wraps keys, and Volley does not wrap keys yet');
      };
    } else {
      const label = paramBytes(params.label);
      run = (k, bytes) => call(native.rsaOaep, encrypt, k.algorithm.hash, label, k.material.der, bytes);
    }
    const bytes = bytesOf(data);
    return run(keyFor(key, name, op, true), bytes);
  }

  async function deriveBits(algorithm, baseKey, length) {
    const { name, params } = normalize(algorithm, 'deriveBits');
    if (params.public === undefined || params.public === null) {
      throw cryptoError('TypeError', 'algorithm does not contain a public key');
    }
    const base = internalsOf(baseKey);
    const pub = internalsOf(params.public);
    if (base.type !== 'private') {
      throw cryptoError('InvalidAccessError', 'provided baseKey is not a private key');
    }
    if (pub.type !== 'public') {
      throw cryptoError('InvalidAccessError', "algorithm's public key is not a public key");
    }
    if (pub.algorithm.name !== name) {
      throw cryptoError('InvalidAccessError',
        `algorithm name does not match public key's algorithm name: ${name} != ${pub.algorithm.name}`);
    }
    const k = keyFor(baseKey, name, 'deriveBits', false);
    if (k.algorithm.namedCurve !== pub.algorithm.namedCurve) {
      throw cryptoError('InvalidAccessError',
        `keys have different curves ${k.algorithm.namedCurve} and ${pub.algorithm.namedCurve}`);
    }
    const secret = call(native.ecdh, k.algorithm.namedCurve, k.material.d, pub.material.point);
    if (length === undefined || length === null || Number(length) === 0) return secret;
    const bits = Number(length);
    if (!Number.isInteger(bits) || bits % 8 !== 0) {
      throw cryptoError('NotSupportedError', 'currently only multiples of 8 are supported for length');
    }
    if (bits > secret.byteLength * 8 || bits < 0) {
      throw cryptoError('OperationError',
        `length ${bits} is more than the ${secret.byteLength * 8} bits the curve gives`);
    }
    return secret.slice(0, bits / 8);
  }

  function notYet(op) {
    return async function () {
      throw cryptoError('NotSupportedError', `crypto.subtle.${op}() is not supported by Volley yet`);
    };
  }

  // Every method of k6's `crypto.subtle`, in its order.
  const subtle = {
    decrypt: (algorithm, key, data) => crypt('decrypt', algorithm, key, data),
    deriveBits,
    deriveKey: notYet('deriveKey'),
    digest,
    encrypt: (algorithm, key, data) => crypt('encrypt', algorithm, key, data),
    exportKey,
    generateKey,
    importKey,
    sign,
    unwrapKey: notYet('unwrapKey'),
    verify,
    wrapKey: notYet('wrapKey'),
  };

  return { getRandomValues, randomUUID, subtle };
})
