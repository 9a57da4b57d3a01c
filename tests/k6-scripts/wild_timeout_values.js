// Per-request timeouts as scripts write them: from `__ENV` with a default, a number of
// milliseconds, a string without a unit, days, and values that are mistakes (a typo'd unit, a
// space, a boolean, `null`, an object). k6 reads them with its duration parser: a number Go
// can read is milliseconds, anything else is Go's duration syntax; a value it cannot use fails
// the request with Go's words, and zero or a negative value times it out at once.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 1,
  thresholds: { checks: ['rate==1'] },
};

const slow = () => `${__ENV.BASE_URL}/delay/300`;

// [timeout, what the response must show]
const cases = [
  [__ENV.REQUEST_TIMEOUT || '5s', 'ok'],
  [5000, 'ok'],
  ['5000', 'ok'],
  ['1d', 'ok'],
  ['1.5', 'timeout'],
  ['50', 'timeout'],
  ['5e1', 'timeout'],
  ['20ms', 'timeout'],
  [0, 'timeout'],
  [-1, 'timeout'],
  ['-1s', 'timeout'],
  ['NaN', 'timeout'],
  [NaN, 'timeout'],
  [Infinity, 'timeout'],
  ['1x', 'invalid timeout value: time: unknown unit "x" in duration "1x"'],
  ['10 s', 'invalid timeout value: time: unknown unit " s" in duration "10 s"'],
  [' 10s', 'invalid timeout value: time: invalid duration " 10s"'],
  ['1.5.s', 'invalid timeout value: time: missing unit in duration "1.5.s"'],
  ['10secs', 'invalid timeout value: time: unknown unit "secs" in duration "10secs"'],
  ['1\u00e9', 'invalid timeout value: time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'],
  ['2days', 'invalid timeout value: time: invalid duration "ays"'],
  ['xd', 'invalid timeout value: strconv.ParseInt: parsing "x": invalid syntax'],
  ['1d-1h', "invalid timeout value: invalid time format '-1h'"],
  ['99999999999h', 'invalid timeout value: time: invalid duration "99999999999h"'],
  [true, 'invalid timeout value: unable to use type bool as a duration value'],
  [null, 'invalid timeout value: unable to use type <nil> as a duration value'],
  [{ s: 1 }, 'invalid timeout value: unable to use type map[string]interface {} as a duration value'],
  [[1], 'invalid timeout value: unable to use type []interface {} as a duration value'],
];

export default function () {
  for (const [timeout, want] of cases) {
    const res = http.get(slow(), { timeout });
    const name = `timeout ${JSON.stringify(timeout)}`;
    if (want === 'ok') {
      check(res, { [name]: (r) => r.status === 200 });
    } else if (want === 'timeout') {
      check(res, { [name]: (r) => r.status === 0 && r.error_code === 1050 });
    } else {
      check(res, { [name]: (r) => r.status === 0 && r.error_code === 0 && r.error === want });
    }
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
