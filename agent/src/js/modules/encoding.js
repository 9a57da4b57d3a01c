// The `k6/encoding` module.
const V = globalThis.__volley;

export function b64encode(input, encoding) {
  return V.b64encode(input, encoding === undefined || encoding === null ? 'std' : String(encoding));
}

export function b64decode(input, encoding, format) {
  return V.b64decode(String(input), encoding === undefined || encoding === null ? 'std' : String(encoding), format === undefined || format === null ? '' : String(format));
}

export default { b64encode, b64decode };
