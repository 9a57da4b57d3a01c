// A legacy form API whose requests are signed over their bodies, as payment and partner API
// tests do: object bodies sent urlencoded (the bytes the signature covers), values of every
// kind in them, and requests k6 does not send (a body that is a number, a boolean or an
// array, a tag or a URL from an unset variable), which fail like a bad parameter without
// reaching the server.
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const sign = (body) => crypto.hmac('sha256', 'partner-secret', body, 'hex');

export default function () {
  const B = __ENV.BASE_URL;
  const order = { ref: "A-1 (rush)!", amount: 12.5, items: ['x*2', 'y'], gift: true, note: null, meta: { b: 1, a: 'z' } };
  const res = http.post(`${B}/post`, order);
  const sent = res.request.body;
  check(res, {
    'keys sorted, values as Go prints them': () =>
      sent === 'amount=12.5&gift=true&items=x%2A2&items=y&meta=map%5Ba%3Az+b%3A1%5D&note=%3Cnil%3E&ref=A-1+%28rush%29%21',
    'the server read the form': (r) => r.json('form.ref') === 'A-1 (rush)!' && r.json('form.items.1') === 'y',
    'the signature covers those bytes': (r) => sign(r.request.body) === sign(sent) && sign(sent).length === 64,
    'urlencoded': (r) => String(r.request.headers['Content-Type']) === 'application/x-www-form-urlencoded',
  });
  const amounts = http.post(`${B}/post`, { total: 1234567.5, units: 100000000, rate: 0.00001, refund: -0, cap: 2 ** 63 });
  check(amounts, {
    'numbers as Go prints an int64 or a float64': (r) =>
      r.request.body === 'cap=9.223372036854776e%2B18&rate=1e-05&refund=-0&total=1.2345675e%2B06&units=100000000',
  });
  const empty = http.post(`${B}/post`, { list: [], blank: '', under: undefined });
  check(empty, { 'an empty list sends nothing': (r) => r.request.body === 'blank=&under=%3Cnil%3E' });

  const untagged = http.get(`${B}/get`, { tags: { name: 'lookup', region: __ENV.REGION } });
  check(untagged, {
    'an undefined tag value is not sent': (r) => r.status === 0 && r.request === null
      && r.error === "invalid HTTP request metric tags: invalid value for metric tag 'region': only String, Boolean and Number types are accepted as a metric tag values",
  });

  const unset = http.get(__ENV.PARTNER_URL);
  check(unset, {
    'an unset URL is not sent': (r) => r.status === 0 && r.error === "invalid URL: '#<nil>'" && r.error_code === 1020,
  });

  for (const [body, type] of [[42, 'int64'], [4.5, 'float64'], [true, 'bool'], [[1, 2], '[]interface {}']]) {
    const bad = http.post(`${B}/post`, body);
    check(bad, {
      [`a ${type} body is not sent`]: (r) => r.status === 0 && r.error === `unknown request body type ${type}`,
      [`a ${type} body has error code 0`]: (r) => r.error_code === 0 && r.request === null,
    });
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
