// Compressed bodies: responses decoded by their Content-Encoding (gzip, deflate, br, zstd),
// request bodies compressed with the `compression` param, and the failures k6 reports.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 1 };

const PAYLOAD = 'volley '.repeat(40);

export default function () {
  const B = __ENV.BASE_URL;
  for (const [path, flag, coding] of [
    ['/gzip', 'gzipped', 'gzip'],
    ['/deflate', 'deflated', 'deflate'],
    ['/brotli', 'brotli', 'br'],
    ['/zstd', 'zstd', 'zstd'],
  ]) {
    const res = http.get(`${B}${path}`);
    check(res, {
      [`${coding}: decoded`]: (r) => r.status === 200 && r.json(flag) === true,
      [`${coding}: Content-Encoding kept`]: (r) => r.headers['Content-Encoding'] === coding,
      [`${coding}: no error`]: (r) => r.error === '' && r.error_code === 0,
    });
    const bin = http.get(`${B}${path}`, { responseType: 'binary' });
    check(bin, {
      [`${coding}: binary body decoded`]: (r) =>
        String.fromCharCode.apply(null, new Uint8Array(r.body)).indexOf(`"${flag}":true`) >= 0,
    });
  }

  for (const compression of ['gzip', 'deflate', 'br', 'zstd', 'gzip, br', 'zstd,deflate']) {
    const res = http.post(`${B}/decompress`, PAYLOAD, { compression });
    const names = compression.split(',').map((s) => s.trim()).join(', ');
    check(res, {
      [`compression ${compression}: body arrives`]: (r) => r.status === 200 && r.json('body') === PAYLOAD,
      [`compression ${compression}: Content-Encoding names it`]: (r) => r.json('encoding') === names,
      [`compression ${compression}: smaller on the wire`]: (r) => r.json('compressed_length') < PAYLOAD.length,
    });
  }
  // An object body is form-encoded, then compressed.
  const form = http.post(`${B}/decompress`, { a: '1', b: 'two' }, { compression: 'gzip' });
  check(form, { 'compressed form body': (r) => r.json('body') === 'a=1&b=two' });
  // An empty compression is none.
  const none = http.post(`${B}/decompress`, 'plain', { compression: '' });
  check(none, { 'no compression': (r) => r.json('encoding') === '' && r.json('body') === 'plain' });

  // An unknown algorithm: the request is not sent (no metrics), the response carries k6's error.
  const bad = http.post(`${B}/decompress`, 'x', { compression: 'snappy' });
  check(bad, {
    'unknown algorithm: status 0': (r) => r.status === 0,
    'unknown algorithm: error': (r) =>
      r.error === 'unknown compression algorithm snappy, supported algorithms are [gzip deflate zstd br]',
    'unknown algorithm: error_code 0': (r) => r.error_code === 0,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
