// http.batch with array and object forms; every response is checked.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const base = __ENV.BASE_URL;
  const arr = http.batch([
    ['GET', `${base}/get?i=1`],
    ['GET', `${base}/json`],
    { method: 'POST', url: `${base}/post`, body: 'hello' },
  ]);
  check(arr, {
    'batch array length': (r) => r.length === 3,
    'batch array all 200': (r) => r.every((x) => x.status === 200),
    'batch post body echoed': (r) => r[2].json('body') === 'hello',
  });
  const obj = http.batch({
    first: `${base}/get?n=first`,
    second: { method: 'GET', url: `${base}/status/204` },
  });
  check(obj, {
    'batch object keys': (r) => r.first.status === 200 && r.second.status === 204,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
