// Helpers from jslib-style modules in a ramping scenario: random values and text extraction,
// each request tagged with the current stage (read from `exec.test.options` and
// `exec.scenario.startTime`) for thresholds per stage, and a file upload built with a
// FormData module into a multipart ArrayBuffer body.
import http from 'k6/http';
import { check, sleep } from 'k6';
import {
  findBetween,
  randomIntBetween,
  randomItem,
  randomString,
  tagWithCurrentStageIndex,
  uuidv4,
} from 'https://jslib.k6.io/test-utils/0.1.0/index.js';
import { FormData } from 'https://jslib.k6.io/form-data/0.1.0/index.js';

const logo = http.file(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 255]).buffer, 'logo.png', 'image/png');

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '1s', target: 2 },
        { duration: '1s', target: 2 },
      ],
      gracefulRampDown: '1s',
    },
  },
  thresholds: {
    checks: ['rate==1'],
    'http_reqs{stage:0}': ['count>0'],
    'http_reqs{stage:1}': ['count>0'],
  },
};

export default function () {
  tagWithCurrentStageIndex();
  const page = http.get(`${__ENV.BASE_URL}/html`);
  check(page, {
    'title between markers': (r) => findBetween(r.body, '<title>', '</title>') !== null,
    'every match': () => findBetween('<a>1</a><a>2</a>', '<a>', '</a>', true).join() === '1,2',
    'random values': () =>
      randomIntBetween(5, 5) === 5 &&
      randomItem(['only']) === 'only' &&
      /^[ab]{8}$/.test(randomString(8, 'ab')) &&
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuidv4()),
  });

  const fd = new FormData();
  fd.append('user', 'Zoë');
  fd.append('logo', logo);
  fd.append('notes', http.file('line one\nline two', 'notes.txt', 'text/plain'));
  const res = http.post(`${__ENV.BASE_URL}/post`, fd.body(), {
    headers: { 'Content-Type': fd.contentType() },
  });
  check(res, {
    'upload accepted': (r) => r.status === 200,
    'field': (r) => r.json('form.user') === 'Zoë',
    'binary file': (r) => r.json('files.logo') === 'data:image/png;base64,iVBORwD/',
    'text file': (r) => r.json('files.notes') === 'line one\nline two',
  });
  sleep(0.2);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
