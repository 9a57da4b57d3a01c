// Helpers that walk a response generically, as debugging snippets and reporting helpers do:
// list its keys, copy it with spread or `Object.assign` before logging, pick the functions out
// of it, and still call `json()` on the copy. k6's responses carry their methods as own
// properties; `JSON.stringify` leaves them out.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const DATA = 'remote_ip,remote_port,url,status,status_text,proto,headers,cookies,body,timings,'
  + 'tls_version,tls_cipher_suite,ocsp,error,error_code,request';
const METHODS = 'clickLink,html,json,submitForm';

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/json`);
  const forIn = [];
  for (const k in res) forIn.push(k);
  const fns = Object.entries(res).filter(([, v]) => typeof v === 'function').map(([k]) => k);
  const desc = Object.getOwnPropertyDescriptor(res, 'json');
  const copy = { ...res };
  const assigned = Object.assign({}, res);
  check(res, {
    'Object.keys lists the data, then the methods': (r) => Object.keys(r).join() === `${DATA},${METHODS}`,
    'for...in sees the same': () => forIn.join() === `${DATA},${METHODS}`,
    'the functions among the entries': () => fns.join() === METHODS,
    'json is an own, enumerable, read-only property': (r) =>
      r.hasOwnProperty('json') && desc.enumerable && !desc.writable && !desc.configurable,
    'JSON.stringify leaves the methods out': (r) =>
      Object.keys(JSON.parse(JSON.stringify(r))).join() === DATA,
    'a spread copy keeps the methods': () => Object.keys(copy).join() === `${DATA},${METHODS}`,
    'json() works on a copy': () => typeof assigned.json === 'function' && assigned.json() !== null,
    'the response still parses': (r) => r.json() !== null && typeof r.html === 'function',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
