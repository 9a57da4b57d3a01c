// A REST API's CRUD flow as API test suites write it: create with POST, read it back, replace
// with PUT, change with PATCH, delete with a body, OPTIONS, HEAD, each checked on status,
// status text, headers (in the case the server wrote them), body fields and timings; the run's
// shape read back from `exec.test.options`, as suites that log their configuration do.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], 'http_reqs{method:DELETE}': ['count==2'] },
};

const B = __ENV.BASE_URL;
const json = { headers: { 'Content-Type': 'application/json' } };

export default function () {
  const item = { name: 'widget', price: 9.5, tags: ['x', 'y'] };
  group('create', () => {
    const res = http.post(`${B}/post`, JSON.stringify(item), json);
    check(res, {
      'created': (r) => r.status === 200 && r.status_text === '200 OK',
      'echoes the body': (r) => r.json('json.price') === 9.5 && r.json().json.tags.length === 2,
      'content type header': (r) => r.headers['Content-Type'] === 'application/json',
      'timings add up': (r) => r.timings.duration >= r.timings.waiting && r.timings.duration >= 0,
      // Suites log `JSON.stringify(res.timings)` and whole responses: k6's key order.
      'timings logged in k6\'s order': (r) => Object.keys(JSON.parse(JSON.stringify(r.timings))).join()
        === 'duration,blocked,looking_up,connecting,tls_handshaking,sending,waiting,receiving',
      'a response logged in k6\'s order': (r) => Object.keys(JSON.parse(JSON.stringify(r))).join()
        === 'remote_ip,remote_port,url,status,status_text,proto,headers,cookies,body,timings,tls_version,tls_cipher_suite,ocsp,error,error_code,request',
    });
  });
  group('update', () => {
    const put = http.put(`${B}/put`, JSON.stringify({ ...item, price: 10 }), json);
    const patch = http.patch(`${B}/patch`, JSON.stringify({ price: 11 }), json);
    check(null, {
      'put replaces': () => put.json('json.price') === 10 && put.json('method') === 'PUT',
      'patch changes': () => patch.json('json.price') === 11 && patch.json('method') === 'PATCH',
    });
  });
  group('delete', () => {
    const del = http.del(`${B}/delete`, JSON.stringify({ reason: 'cleanup' }), json);
    check(del, {
      'delete sends its body': (r) => r.json('json.reason') === 'cleanup' && r.json('method') === 'DELETE',
    });
  });
  check(exec.test.options.scenarios.default, {
    'the shortcuts\' scenario shows the vus the script set': (d) => d.vus === 1 && d.iterations === 2
      && d.executor === 'shared-iterations' && d.maxDuration === null,
  });
  group('metadata', () => {
    const head = http.head(`${B}/get`);
    const opts = http.options(`${B}/anything/items`);
    check(null, {
      'head has no body': () => head.status === 200 && (head.body === '' || head.body === null),
      'options reaches the server': () => opts.status === 200 && opts.json('method') === 'OPTIONS',
      'request fields': () => head.request.method === 'HEAD' && opts.request.url === `${B}/anything/items`,
      'k6/http\'s constants': () => http.OCSP_STATUS_SERVER_FAILED === 'server_failed'
        && http.OCSP_REASON_KEY_COMPROMISE === 'key_compromise' && http.OCSP_REASON_AA_COMPROMISE === 'aa_compromise'
        && http.TLS_1_3 === 'tls1.3',
    });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
