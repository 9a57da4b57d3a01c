// Which statuses count as failures for an API that answers 404 and 409 on purpose:
// expectedStatuses with a range set for the whole run, thresholds on http_req_failed per
// request name and on the expected_response tag, and requests whose callback is overridden.
import http from 'k6/http';
import { check } from 'k6';

http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 404, 409));

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    'http_req_failed{name:lookup}': ['rate==0'],
    'http_req_failed{name:conflict}': ['rate==0'],
    'http_req_failed{name:broken}': ['rate==1'],
    'http_reqs{expected_response:false}': ['count==9'],
    'http_req_duration{expected_response:true}': ['max<10000'],
  },
};

export default function () {
  const base = __ENV.BASE_URL;
  http.get(`${base}/status/404`, { tags: { name: 'lookup' } });
  http.post(`${base}/status/409`, null, { tags: { name: 'conflict' } });
  http.get(`${base}/status/502`, { tags: { name: 'broken' } });
  http.get(`${base}/status/302`, { redirects: 0, tags: { name: 'moved' } });
  const strict = http.get(`${base}/status/404`, { responseCallback: http.expectedStatuses(200) });
  const none = http.get(`${base}/status/500`, { responseCallback: null });
  check([strict, none], { 'statuses kept': (r) => r[0].status === 404 && r[1].status === 500 });
  let bad = '';
  try {
    http.expectedStatuses('200');
  } catch (e) {
    bad = String(e);
  }
  check(bad, { 'string status rejected': (b) => b.length > 0 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
