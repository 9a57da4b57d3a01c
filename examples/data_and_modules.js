// Test data and code from local files: open() of a JSON file next to the script, shared by all
// VUs through a SharedArray; a relative import; and k6/encoding and k6/crypto on known vectors.
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import encoding from 'k6/encoding';
import crypto from 'k6/crypto';
import { greet, GREETING } from './lib/helper.js';

export { handleSummary } from './lib/summary.js';

// open() is only allowed in the init context; paths are relative to this script.
const users = new SharedArray('users', () => JSON.parse(open('./data/users.json')));

export const options = { vus: 3, iterations: 6, thresholds: { checks: ['rate==1'] } };

export default function () {
  const user = users[__VU % users.length];
  check(users, {
    'three users': (u) => u.length === 3 && u[0].name === 'ada',
    'SharedArray is read-only': () => Object.isFrozen(user),
    'user has a password': () => typeof user.password === 'string',
  });
  check(null, {
    'relative import': () => GREETING === 'hello' && greet('volley') === 'hello, volley!',
    'b64encode': () => encoding.b64encode('hello, world') === 'aGVsbG8sIHdvcmxk',
    'b64decode': () => encoding.b64decode('aGVsbG8sIHdvcmxk', 'std', 's') === 'hello, world',
    'b64 rawurl': () => encoding.b64encode('??>', 'rawurl') === 'Pz8-',
    'md5': () => crypto.md5('hello', 'hex') === '5d41402abc4b2a76b9719d911017c592',
    'sha1': () => crypto.sha1('hello', 'hex') === 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d',
    'sha256': () => crypto.sha256('hello', 'hex')
      === '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
    'sha256 base64': () => crypto.sha256('', 'base64') === '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
    'hmac sha256': () => crypto.hmac('sha256', 'key', 'The quick brown fox jumps over the lazy dog', 'hex')
      === 'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    'createHash': () => {
      const h = crypto.createHash('md5');
      h.update('hel');
      h.update('lo');
      return h.digest('hex') === '5d41402abc4b2a76b9719d911017c592';
    },
  });
}
