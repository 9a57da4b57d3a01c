// A threshold with abortOnFail held back by delayAbortEval: it fails from the first request but
// may not abort before its delay, and the run still ends with the thresholds failed.
import http from 'k6/http';
import { Trend } from 'k6/metrics';

const pageSize = new Trend('page_size');

export const options = {
  vus: 1,
  iterations: 5,
  thresholds: {
    page_size: [{ threshold: 'max<10', abortOnFail: true, delayAbortEval: '1m' }],
    'page_size{kind:small}': ['avg<100'],
    http_req_failed: ['rate==0'],
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/bytes/${(__ITER + 1) * 100}`);
  pageSize.add(res.body.length, { kind: res.body.length < 300 ? 'small' : 'large' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
