// http.file() in an object body: sent as multipart/form-data (fields in key order, files with
// their names and content types), not urlencoded; an object body without a file stays a form.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

const csv = 'id,name\n1,volley\n';
const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47]).buffer;

export default function () {
  const res = http.post(`${__ENV.BASE_URL}/post`, {
    title: 'report é',
    count: 3,
    list: ['a', 'b'],
    data: http.file(csv, 'data.csv', 'text/csv'),
    image: http.file(bytes, 'logo.png', 'image/png'),
  });
  check(res, {
    'status 200': (r) => r.status === 200,
    'multipart content type': (r) =>
      /^multipart\/form-data; boundary=[0-9a-f]{60}$/.test(r.json('headers.Content-Type') || ''),
    'text field': (r) => r.json('form.title') === 'report é',
    'number field as k6 prints it': (r) => r.json('form.count') === '3',
    'array field as k6 prints it': (r) => r.json('form.list') === '[a b]',
    'text file': (r) => r.json('files.data') === csv,
    'binary file': (r) => String(r.json('files.image')).startsWith('data:image/png;base64,iVBORw'),
  });
  const f = http.file('x');
  check(f, {
    'file object shape': (x) => Object.keys(x).join(',') === 'data,filename,content_type',
    'default name and type': (x) => /^[0-9]{19}$/.test(x.filename) && x.content_type === 'application/octet-stream',
  });
  let err = '';
  try { http.file(5); } catch (e) { err = e.message; }
  check(err, { 'file data must be text or bytes': (m) => m === 'invalid type int64, expected string or ArrayBuffer' });
  const form = http.post(`${__ENV.BASE_URL}/post`, { plain: 'yes' });
  check(form, {
    'no file: still urlencoded': (r) =>
      (r.json('headers.Content-Type') || '').startsWith('application/x-www-form-urlencoded') &&
      r.json('form.plain') === 'yes',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
