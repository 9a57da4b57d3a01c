// The WebCrypto global `crypto`, without an import: getRandomValues fills integer typed arrays
// in place (k6's GoErrors otherwise), randomUUID gives version 4 UUIDs, and subtle.digest
// resolves to the SHA digests and rejects other algorithms with NotSupportedError.
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const thrown = (f) => {
  try {
    f();
    return 'no error';
  } catch (e) {
    return `${String(e)} | ${e.name} | ${JSON.stringify(e.value)}`;
  }
};
const rejected = async (p) => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return `${String(e)} | ${e.name} | ${e.message}`;
  }
};

// Available in the init context too.
const initUUID = crypto.randomUUID();

export default async function () {
  const a = new Uint16Array(32);
  const whole = new Uint8Array(8);
  crypto.getRandomValues(new Uint8Array(whole.buffer, 2, 3));
  check(null, {
    'init context has crypto': () => initUUID.length === 36,
    'getRandomValues fills in place': () => crypto.getRandomValues(a) === a && a.some((x) => x !== 0),
    'a view fills only its bytes': () => [0, 1, 5, 6, 7].every((i) => whole[i] === 0),
    'every integer array': () =>
      [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array]
        .every((T) => crypto.getRandomValues(new T(4)).length === 4),
    'length counts elements': () => crypto.getRandomValues(new Uint32Array(16385)).length === 16385,
    'float arrays refused': () =>
      thrown(() => crypto.getRandomValues(new Float32Array(2))) ===
      'GoError: TypeMismatchError: typedArray parameter isn\'t a TypedArray instance | GoError | ' +
        '{"name":"TypeMismatchError","message":"typedArray parameter isn\'t a TypedArray instance"}',
    'too long refused': () =>
      thrown(() => crypto.getRandomValues(new Uint8Array(65537))).startsWith(
        'GoError: QuotaExceededError: typedArray parameter is too big; maximum length is 65536 | GoError'),
    'uuid v4': () =>
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
    'uuids differ': () => crypto.randomUUID() !== crypto.randomUUID(),
    'subtle lists its methods': () =>
      Object.keys(crypto.subtle).join() ===
      'decrypt,deriveBits,deriveKey,digest,encrypt,exportKey,generateKey,importKey,sign,unwrapKey,verify,wrapKey',
  });

  const abc = new Uint8Array([97, 98, 99]);
  const sha256 = await crypto.subtle.digest('SHA-256', abc);
  const sums = [
    hex(await crypto.subtle.digest('sha-1', abc.buffer)),
    hex(await crypto.subtle.digest({ name: 'SHA-384' }, abc)),
    hex(await crypto.subtle.digest('Sha-512', new Uint16Array([0x6261, 0x6463]))),
  ];
  const md5 = await rejected(crypto.subtle.digest('MD5', abc));
  const noName = await rejected(crypto.subtle.digest({}, abc));
  const notAlgorithm = await rejected(crypto.subtle.digest(5, abc));
  const notData = await rejected(crypto.subtle.digest('SHA-1', 5));
  const nullData = thrown(() => crypto.subtle.digest('SHA-1', null));
  check(null, {
    'digest is an ArrayBuffer': () => sha256 instanceof ArrayBuffer,
    'sha-256': () => hex(sha256) === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    'sha-1 of a buffer': () => sums[0] === 'a9993e364706816aba3e25717850c26c9cd0d89d',
    'sha-384 by object': () => sums[1].startsWith('cb00753f45a35e8bb5a03d699ac65007'),
    'sha-512 of a Uint16Array': () => sums[2].startsWith('d8022f2060ad6efd297ab73dcc5355c9'),
    'md5 not supported': () =>
      md5 === 'NotSupportedError: algorithm "MD5" doesn\'t support (in implementation) operation "digest" | ' +
        'NotSupportedError | algorithm "MD5" doesn\'t support (in implementation) operation "digest"',
    'no name': () => noName.startsWith('NotSupportedError: algorithm "" doesn'),
    'not an algorithm': () =>
      notAlgorithm.startsWith('SyntaxError: algorithm cannot be interpreted as a string or an object | SyntaxError'),
    'not data': () => notData.includes('data must be an ArrayBuffer, TypedArray, or DataView'),
    'null data throws at once': () =>
      nullData.startsWith('TypeError: Cannot convert undefined or null to object | TypeError'),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
