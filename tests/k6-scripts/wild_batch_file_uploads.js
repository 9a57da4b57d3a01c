// Uploads and page loads as a docs-style script does them: `http.batch` with objects, arrays
// and named entries, `http.file` in a multipart form, binary bodies.
import http from 'k6/http';
import { check } from 'k6';

const csv = 'id,name\n1,ann\n2,bob\n';
const bytes = new Uint8Array([0, 1, 2, 250, 255]).buffer;

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], 'http_reqs{name:batch-named}': ['count==2'] },
};

export default function () {
  const B = __ENV.BASE_URL;
  const list = http.batch([
    ['GET', `${B}/get?i=1`],
    { method: 'POST', url: `${B}/post`, body: { a: '1' } },
    ['PUT', `${B}/put`, JSON.stringify({ x: 1 }), { headers: { 'Content-Type': 'application/json' } }],
    `${B}/get?i=4`,
  ]);
  check(list, {
    'four responses in order': (r) => r.length === 4 && r[0].json('args.i') === '1' && r[3].json('args.i') === '4',
    'object entry form body': (r) => r[1].json('form.a') === '1',
    'array entry json body': (r) => r[2].json('json.x') === 1,
  });
  const named = http.batch({
    home: `${B}/get`,
    api: { method: 'GET', url: `${B}/json`, params: { tags: { name: 'batch-named' } } },
  });
  check(named, {
    'named keys': (r) => Object.keys(r).sort().join(',') === 'api,home',
    'named response': (r) => r.api.json('slideshow.title') === 'Sample Slide Show',
  });
  const form = {
    note: 'monthly',
    report: http.file(csv, 'report.csv', 'text/csv'),
    blob: http.file(bytes, 'blob.bin'),
  };
  const up = http.post(`${B}/post`, form);
  check(up, {
    'multipart field': (r) => r.json('form.note') === 'monthly',
    'file content': (r) => r.json('files.report') === csv,
    'multipart header': (r) => r.request.headers['Content-Type'][0].startsWith('multipart/form-data; boundary='),
  });
  const f = http.file('x');
  check(f, {
    'file defaults': (x) => x.content_type === 'application/octet-stream' && typeof x.filename === 'string' && x.data === 'x',
  });
  const bin = http.post(`${B}/post`, bytes, { headers: { 'Content-Type': 'application/octet-stream' } });
  check(bin, { 'binary body sent': (r) => r.json('headers.Content-Length') === '5' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
