// k6/encoding round trips as data-generation scripts use them: every base64 variant of text,
// of UTF-8 and of binary data, and decoding to strings and ArrayBuffers.
import encoding from 'k6/encoding';
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const bytes = new Uint8Array([0, 255, 128, 62, 63]).buffer;
  check(null, {
    'utf8 std': () => encoding.b64encode('Grüße, 世界') === 'R3LDvMOfZSwg5LiW55WM',
    'utf8 round trip': () => encoding.b64decode('R3LDvMOfZSwg5LiW55WM', 'std', 's') === 'Grüße, 世界',
    'binary std': () => encoding.b64encode(bytes) === 'AP+APj8=',
    'binary url': () => encoding.b64encode(bytes, 'url') === 'AP-APj8=',
    'binary rawurl': () => encoding.b64encode(bytes, 'rawurl') === 'AP-APj8',
    'decode to ArrayBuffer': () => {
      const b = encoding.b64decode('AP+APj8=');
      return b instanceof ArrayBuffer && new Uint8Array(b)[1] === 255 && b.byteLength === 5;
    },
    'rawstd decode': () => encoding.b64decode('aGk', 'rawstd', 's') === 'hi',
    'rawurl decode': () => new Uint8Array(encoding.b64decode('AP-APj8', 'rawurl'))[2] === 128,
    'empty': () => encoding.b64encode('') === '' && encoding.b64decode('', 'std', 's') === '',
  });
  let bad = '';
  try {
    encoding.b64decode('***', 'std', 's');
  } catch (e) {
    bad = String(e);
  }
  check(bad, { 'invalid input throws': (b) => b.length > 0 });
  const basic = encoding.b64encode('user:pass');
  const res = http.get(`${__ENV.BASE_URL}/basic-auth/user/pass`, { headers: { Authorization: `Basic ${basic}` } });
  check(res, { 'hand-made basic auth': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
