// The `k6/encoding` module.
const V = globalThis.__volley;

export function b64encode(input, encoding) {
  return V.b64encode(input, encoding === undefined ? 'std' : String(encoding));
}

export function b64decode(input, encoding, format) {
  return V.b64decode(String(input), encoding === undefined ? 'std' : String(encoding), format === undefined ? '' : String(format));
}

export default { b64encode, b64decode };
