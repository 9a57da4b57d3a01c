// Dynamic URLs grouped by name: http.url tagged templates, explicit `name` tags, and thresholds
// on the grouped submetrics.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 4,
  thresholds: {
    'http_reqs{name:${}/anything/item/${}}': ['count==4'],
    'http_reqs{name:ItemDetails}': ['count==4'],
    'http_req_duration{name:ItemDetails}': ['max<10000'],
    'http_reqs{name:http://127.0.0.1/plain}': ['count==0'],
  },
};

export default function () {
  const id = __ITER * 10 + __VU;
  const base = __ENV.BASE_URL;
  const r1 = http.get(http.url`${base}/anything/item/${id}`);
  const r2 = http.get(`${base}/anything/details/${id}?full=true`, { tags: { name: 'ItemDetails' } });
  const u = http.url`${base}/anything/q?id=${id}`;
  check(null, {
    'url object has url': () => typeof u.url === 'string' && u.url.endsWith(`/anything/q?id=${id}`),
    'url object name': () => u.name === '${}/anything/q?id=${}',
    'template path reached': () => r1.json('path') === `/anything/item/${id}`,
    'named request': () => r2.json('args.full') === 'true',
    'request name in response': () => r1.request.url.endsWith(`/item/${id}`),
  });
  http.post(http.url`${base}/anything/post/${id}`, { n: String(id) });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
