// Test data parsed with papaparse from jslib, as data-driven scripts do: a CSV with a header,
// quoted fields and typed columns into a SharedArray, one row per iteration posted as CSV and
// parsed back from the echo. The library is imported both as a default and as a namespace
// (whose names a UMD bundle only sets when it runs).
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import papaparse from 'https://jslib.k6.io/papaparse/5.1.1/index.js';
import * as Papa from 'https://jslib.k6.io/papaparse/5.1.1/index.js';

const CSV = 'user,password,age\nann,s3cret,30\nbob,"pa,ss",41\n"carl ""jr""",x,7\n';

const users = new SharedArray('users', function () {
  return papaparse.parse(CSV, { header: true, skipEmptyLines: true, dynamicTyping: true }).data;
});

export const options = { vus: 2, iterations: 6 };

export default function () {
  const user = users[__ITER % users.length];
  const res = http.post(`${__ENV.BASE_URL}/echo`, papaparse.unparse([user]), {
    headers: { 'Content-Type': 'text/csv' },
  });
  const echoed = papaparse.parse(res.json('body'), { header: true, dynamicTyping: true });
  check(echoed, {
    'round trip': (p) => p.errors.length === 0 && p.data[0].user === user.user && p.data[0].age === user.age,
  });
  check(users, {
    'three rows': (u) => u.length === 3,
    'quoted fields': (u) => u[1].password === 'pa,ss' && u[2].user === 'carl "jr"',
    'typed columns': (u) => typeof u[0].age === 'number' && typeof u[0].user === 'string',
    'fields from the header': (u) => Object.keys(u[0]).join() === 'user,password,age',
  });
  const rows = papaparse.parse('a;b\n1;2', { delimiter: ';' }).data;
  check(rows, { 'custom delimiter': (r) => r.length === 2 && r[1][1] === '2' });
  check(Papa, {
    'namespace has the exports': (ns) => ns.parse === papaparse.parse && typeof ns.unparse === 'function',
    'namespace has no default': (ns) => ns.default === undefined && Object.keys(ns).includes('BAD_DELIMITERS'),
    'namespace keys are sorted': (ns) => Object.keys(ns).join() === Object.keys(papaparse).sort().join(),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
