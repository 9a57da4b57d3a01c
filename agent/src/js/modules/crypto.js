// The `k6/crypto` module: hashes and HMAC.
const V = globalThis.__volley;

function digest(algo) {
  return (input, outputEncoding) => V.hash(algo, input, outputEncoding === undefined ? 'binary' : String(outputEncoding));
}

export const md4 = digest('md4');
export const md5 = digest('md5');
export const sha1 = digest('sha1');
export const sha256 = digest('sha256');
export const sha384 = digest('sha384');
export const sha512 = digest('sha512');
export const sha512_224 = digest('sha512_224');
export const sha512_256 = digest('sha512_256');
export const ripemd160 = digest('ripemd160');

export function hmac(algo, secret, data, outputEncoding) {
  return V.hmac(String(algo), secret, data, outputEncoding === undefined ? 'binary' : String(outputEncoding));
}

class Hasher {
  constructor(algo, secret) {
    this._algo = algo;
    this._secret = secret;
    this._parts = [];
  }
  update(input) {
    this._parts.push(typeof input === 'string' ? input : new Uint8Array(input));
  }
  digest(outputEncoding) {
    const chunks = this._parts.map((p) => (typeof p === 'string' ? V.utf8(p) : p));
    let len = 0;
    for (const c of chunks) len += c.length;
    const all = new Uint8Array(len);
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    const enc = outputEncoding === undefined ? 'binary' : String(outputEncoding);
    return this._secret === undefined
      ? V.hash(this._algo, all.buffer, enc)
      : V.hmac(this._algo, this._secret, all.buffer, enc);
  }
}

export function createHash(algo) { return new Hasher(String(algo)); }
export function createHMAC(algo, secret) { return new Hasher(String(algo), secret); }

export function randomBytes(size) { return V.randomBytes(Number(size)); }

export default {
  md4, md5, sha1, sha256, sha384, sha512, sha512_224, sha512_256, ripemd160,
  hmac, createHash, createHMAC, randomBytes,
};
