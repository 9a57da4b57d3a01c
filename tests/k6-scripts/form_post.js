// A form POST (object body → application/x-www-form-urlencoded) to the echo endpoint.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const res = http.post(`${__ENV.BASE_URL}/echo`, { name: 'volley', text: 'a b&c=d' });
  check(res, {
    'status 200': (r) => r.status === 200,
    'method POST': (r) => r.json('method') === 'POST',
    'form content type': (r) =>
      (r.json('headers.Content-Type') || '').startsWith('application/x-www-form-urlencoded'),
    'form name': (r) => r.json('form.name') === 'volley',
    'form text': (r) => r.json('form.text') === 'a b&c=d',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
