// Tokens and signatures encoded and decoded from whatever a script had at hand: numbers from a
// counter, a JSON object passed by mistake, values read from a header with a newline or without
// padding. k6 takes what Go's base64 takes and names the Go type it cannot encode.
import { check } from 'k6';
import encoding from 'k6/encoding';

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate==1'] } };

const tried = (f) => {
  try {
    return `ok ${f()}`;
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
};
const encodeError = (type) => `GoError: invalid type ${type}, expected string, []byte or ArrayBuffer`;
const decodeError = (at) => `GoError: illegal base64 data at input byte ${at}`;

export default function () {
  check(null, {
    'an integer': () => tried(() => encoding.b64encode(42)) === encodeError('int64'),
    'a fraction': () => tried(() => encoding.b64encode(1.5)) === encodeError('float64'),
    'a boolean': () => tried(() => encoding.b64encode(true)) === encodeError('bool'),
    'null': () => tried(() => encoding.b64encode(null)) === encodeError('<nil>'),
    'an object': () => tried(() => encoding.b64encode({ user: 'ann' })) === encodeError('map[string]interface {}'),
    'an array': () => tried(() => encoding.b64encode([1, 2])) === encodeError('[]interface {}'),
    'a date': () => tried(() => encoding.b64encode(new Date(0))) === encodeError('time.Time'),
    'a Uint16Array': () => tried(() => encoding.b64encode(new Uint16Array(2))) === encodeError('[]uint16'),
    'bytes are fine': () => encoding.b64encode(new Uint8Array([104, 105])) === 'aGk=',
  });
  check(null, {
    'missing padding': () => tried(() => encoding.b64decode('aGk')) === decodeError(0),
    'padding in a raw alphabet': () => tried(() => encoding.b64decode('aGk=', 'rawstd')) === decodeError(3),
    'a space': () => tried(() => encoding.b64decode('aGk= ')) === decodeError(4),
    'url alphabet in std': () => tried(() => encoding.b64decode('aGk_Pg==')) === decodeError(3),
    'text after the padding': () => tried(() => encoding.b64decode('aGk=aGk=')) === decodeError(4),
    'newlines are skipped': () => encoding.b64decode('aG\r\nk=\n', 'std', 's') === 'hi',
    'unused bits are not checked': () => encoding.b64decode('ab', 'rawurl', 's') === 'i',
    'undefined and null decode to nothing': () => encoding.b64decode(undefined, 'std', 's') === ''
      && encoding.b64decode(null, 'std', 's') === '',
    'a number is decoded as its text': () => encoding.b64decode(12345678).byteLength === 6,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
