// k6/crypto the way signing and checksum scripts use it: every hash function and HMAC
// algorithm, every output encoding, hashers and HMAC objects fed in parts, binary input, and
// random bytes.
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { check } from 'k6';

export const options = { vus: 1, iterations: 1 };

export default function () {
  check(null, {
    'md4': () => crypto.md4('abc', 'hex') === 'a448017aaf21d8525fc10ae87aa6729d',
    'md5 base64': () => crypto.md5('abc', 'base64') === 'kAFQmDzST7DWlj99KOF/cg==',
    'sha1 hex': () => crypto.sha1('abc', 'hex') === 'a9993e364706816aba3e25717850c26c9cd0d89d',
    'sha256 base64url': () => crypto.sha256('abc', 'base64url') === 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=',
    'sha256 base64rawurl': () => crypto.sha256('abc', 'base64rawurl') === 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0',
    'sha384 length': () => crypto.sha384('abc', 'hex').length === 96,
    'sha512_224': () => crypto.sha512_224('abc', 'hex') === '4634270f707b6a54daae7530460842e20e37ed265ceee9a43e8924aa',
    'sha512_256': () => crypto.sha512_256('abc', 'hex') === '53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23',
    'ripemd160': () => crypto.ripemd160('abc', 'hex') === '8eb208f7e05d987a9b044a8e98c6b087f15a0bfc',
    'binary digest': () => {
      const b = crypto.sha256('abc', 'binary');
      return b instanceof ArrayBuffer && b.byteLength === 32;
    },
    'hash of ArrayBuffer': () => crypto.sha1(new Uint8Array([97, 98, 99]).buffer, 'hex') === crypto.sha1('abc', 'hex'),
    'hmac sha1 hex': () => crypto.hmac('sha1', 'key', 'The quick brown fox jumps over the lazy dog', 'hex') === 'de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9',
    'hmac md5': () => crypto.hmac('md5', 'key', 'The quick brown fox jumps over the lazy dog', 'hex') === '80070713463e7749b90c2dc24911e275',
    'hmac sha512 base64 length': () => crypto.hmac('sha512', 'k', 'm', 'base64').length === 88,
    'hmac object in parts': () => {
      const h = crypto.createHMAC('sha256', 'key');
      h.update('The quick brown fox ');
      h.update('jumps over the lazy dog');
      return h.digest('hex') === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8';
    },
    'hmac binary key': () => crypto.hmac('sha256', new Uint8Array([1, 2, 3]).buffer, 'x', 'hex').length === 64,
    'hasher reuse digest': () => {
      const h = crypto.createHash('md5');
      h.update('a');
      return typeof h.digest('hex') === 'string';
    },
    'random bytes': () => {
      const r = crypto.randomBytes(12);
      return r instanceof ArrayBuffer && r.byteLength === 12;
    },
    'jwt-style signature': () => {
      const header = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');
      const payload = encoding.b64encode(JSON.stringify({ sub: '42' }), 'rawurl');
      const sig = crypto.hmac('sha256', 'secret', `${header}.${payload}`, 'base64rawurl');
      return header === 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9' && sig.length === 43 && !sig.includes('=');
    },
  });
  let unknown = '';
  try {
    crypto.hmac('sha3', 'k', 'm', 'hex');
  } catch (e) {
    unknown = String(e);
  }
  check(unknown, { 'unknown algorithm throws': (u) => u.length > 0 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
