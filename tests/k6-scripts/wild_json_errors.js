// An API client that reads every answer with `res.json()` and logs why it could not: an HTML
// error page, a truncated document, an empty body, a 204. k6 throws Go's syntax error, placed
// by line and character, as a GoError.
import http from 'k6/http';
import { check } from 'k6';
import encoding from 'k6/encoding';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const body = (text) => http.get(`${__ENV.BASE_URL}/base64/${encoding.b64encode(text, 'rawurl')}`);

function parseError(res) {
  try {
    res.json();
    return 'parsed';
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
}

const at = (where, why) => `GoError: cannot parse json due to an error at ${where} , error: ${why}`;

export default function () {
  check(body('<html><body>502 Bad Gateway</body></html>'), {
    'html page': (r) => parseError(r) === at('line 1, character 2', "invalid character '<' looking for beginning of value"),
  });
  check(body('{"items": [1, 2'), {
    'truncated': (r) => parseError(r) === at('line 1, character 15', 'unexpected end of JSON input'),
  });
  check(body('{\n  "user": "ann",\n  "roles": [admin]\n}'), {
    'second line of a pretty document': (r) => parseError(r) === at('line 3, character 15', "invalid character 'a' looking for beginning of value"),
  });
  check(body('{"ok": true} trailing'), {
    'trailing text': (r) => parseError(r) === at('line 1, character 15', "invalid character 't' after top-level value"),
  });
  check(body("{'single': 1}"), {
    'single quotes': (r) => parseError(r) === at('line 1, character 3', "invalid character '\\'' looking for beginning of object key string"),
  });
  check(body('{"name": "caf\u00e9", "n": tru}'), {
    'unfinished literal after a multi-byte character': (r) => parseError(r) === at('line 1, character 26', "invalid character '}' in literal true (expecting 'e')"),
  });
  check(body('"tab\tinside"'), {
    'control character in a string': (r) => parseError(r) === at('line 1, character 6', "invalid character '\\t' in string literal"),
  });
  check(body(''), {
    'empty body': (r) => r.body === '' && parseError(r) === at('line 1, character 0', 'unexpected end of JSON input'),
  });
  check(body('[1, 2, {"a": null}]'), {
    'valid JSON still parses': (r) => r.json()[2].a === null && r.json('2.a') === null,
    'a selector over a bad body is undefined': () => body('<p>').json('a') === undefined,
  });
  check(http.get(`${__ENV.BASE_URL}/status/204`), {
    '204 has a null body': (r) => r.body === null,
    '204 json() says so': (r) => parseError(r) === "GoError: the body is null so we can't transform it to JSON - this likely was because of a request error getting the response",
  });
  check(http.get(`${__ENV.BASE_URL}/status/304`, { responseType: 'binary' }), {
    '304 has a null body': (r) => r.body === null,
  });
  check(http.get(`${__ENV.BASE_URL}/status/200`), { '200 has an empty body': (r) => r.body === '' });
  check(http.get(`${__ENV.BASE_URL}/bytes/3`, { responseType: 'binary' }), {
    'binary body': (r) => parseError(r) === at('line 1, character 2', "invalid character '\\x00' looking for beginning of value"),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
