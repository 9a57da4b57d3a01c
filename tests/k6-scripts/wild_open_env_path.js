// Test data chosen by the pipeline: the file name comes from `-e DATA_FILE=…` (relative to the
// script, as k6 resolves `open()` paths), the JSON parsed in init, a binary file opened with
// 'b' and sent as a multipart upload with `http.file()` (name, content type), and the text
// file uploaded as a second part.
import http from 'k6/http';
import { check } from 'k6';

const users = JSON.parse(open(__ENV.DATA_FILE || './data/wild_users.json'));
const csv = open(`./data/${__ENV.CSV_NAME || 'users.csv'}`);
const bin = open(`./data/${__ENV.CSV_NAME || 'users.csv'}`, 'b');

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const res = http.post(`${__ENV.BASE_URL}/post`, {
    report: http.file(bin, 'users.csv', 'text/csv'),
    notes: http.file(csv),
    count: String(users.length),
  });
  check(res, {
    'the data file was read': () => Array.isArray(users) && users.length > 0,
    'multipart with both files': (r) => r.json('files.report') === csv && r.json('files.notes') === csv,
    'the plain field': (r) => r.json('form.count') === String(users.length),
    'a multipart content type': (r) => r.json('headers.Content-Type').startsWith('multipart/form-data; boundary='),
    'a binary file is an ArrayBuffer': () => bin instanceof ArrayBuffer && bin.byteLength === csv.length,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
