// Helpers public scripts carry around: timestamps for names and headers in every format `Date`
// has, ids from `crypto.randomUUID`, random bytes, and feature checks before using web APIs
// k6 does not have.
import { check } from 'k6';
import http from 'k6/http';

export const options = { vus: 1, iterations: 1, thresholds: { checks: ['rate==1'] } };

export default function () {
  const d = new Date(Date.UTC(2024, 1, 29, 13, 5, 9, 7));
  check(d, {
    'ISO': (x) => x.toISOString() === '2024-02-29T13:05:09.007Z' && JSON.stringify(x) === '"2024-02-29T13:05:09.007Z"',
    'UTC string for headers': (x) => x.toUTCString() === 'Thu, 29 Feb 2024 13:05:09 GMT',
    'date string': (x) => x.toDateString() === 'Thu Feb 29 2024',
    'toString has the zone name': (x) => x.getTimezoneOffset() !== 0 || x.toString() === 'Thu Feb 29 2024 13:05:09 GMT+0000 (UTC)',
    'time string has the zone name': (x) => x.getTimezoneOffset() !== 0 || x.toTimeString() === '13:05:09 GMT+0000 (UTC)',
    'locale date': (x) => x.getTimezoneOffset() !== 0 || x.toLocaleDateString() === '02/29/2024',
    'locale time is 24-hour': (x) => x.getTimezoneOffset() !== 0 || x.toLocaleTimeString() === '13:05:09',
    'locale date and time': (x) => x.getTimezoneOffset() !== 0 || x.toLocaleString() === '02/29/2024, 13:05:09',
    'parse forms': () => Date.parse('2024-02-29') === 1709164800000 && Date.parse('Thu, 29 Feb 2024 13:05:09 GMT') === 1709211909000
      && Number.isNaN(Date.parse('not a date')),
    'epoch seconds': (x) => Math.floor(x.getTime() / 1000) === 1709211909,
  });
  const id = crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  check(null, {
    'uuid v4': () => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id),
    'uuids differ': () => crypto.randomUUID() !== id,
    'random bytes filled in place': () => bytes.length === 16 && bytes.some((b) => b !== 0),
    'no TextEncoder': () => typeof TextEncoder === 'undefined' && typeof TextDecoder === 'undefined',
    'no structuredClone, URL or fetch': () => typeof structuredClone === 'undefined' && typeof URL === 'undefined' && typeof fetch === 'undefined',
    'console prints symbols and functions': () => {
      console.log('request', Symbol('req-1'), () => 1);
      return true;
    },
    'JSON deep copy instead': () => {
      const o = { a: [1, { b: 2 }], when: d };
      const c = JSON.parse(JSON.stringify(o));
      return c.a[1].b === 2 && c.when === '2024-02-29T13:05:09.007Z' && c !== o;
    },
  });
  const res = http.get(`${__ENV.BASE_URL}/get`, { headers: { 'X-Request-Id': id, Date: d.toUTCString() } });
  check(res, { 'headers sent': (r) => r.json('headers.X-Request-Id') === id && r.json('headers.Date') === d.toUTCString() });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
