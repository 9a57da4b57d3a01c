// The `k6/http` module. Request building and the Response object live here; the request itself,
// its metrics and the per-VU connections and cookie jar are native (mod.rs beside this file).
const V = globalThis.__volley;

// k6/html's API, its natives installed on first use (most scripts never parse a response).
function htmlApi() {
  V.need('k6/html');
  return V.htmlApi();
}

const EXPECTED = Symbol('expectedStatuses');

// http.expectedStatuses(200, {min: 300, max: 399}, ...) -> a response callback k6 understands.
export function expectedStatuses(...args) {
  const ranges = [];
  for (const a of args) {
    if (typeof a === 'number' && Number.isInteger(a)) ranges.push([a, a]);
    else if (a !== null && typeof a === 'object' && Number.isInteger(a.min) && Number.isInteger(a.max)) ranges.push([a.min, a.max]);
    else throw new TypeError('expectedStatuses accepts only integers and objects like {min: 200, max: 399}');
  }
  const cb = function () { throw new TypeError('a response callback from expectedStatuses() cannot be called directly'); };
  cb[EXPECTED] = ranges;
  return cb;
}

// The Go type k6 names when a param holds a value of a kind it cannot use.
function goTypeOf(v) {
  if (v === null) return '<nil>';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  return 'map[string]interface {}';
}

function callbackRanges(cb) {
  if (cb === null) return null;
  if (typeof cb === 'function' && cb[EXPECTED]) return cb[EXPECTED];
  throw new TypeError('responseCallback must be the result of http.expectedStatuses() or null');
}

let defaultCallback = expectedStatuses({ min: 200, max: 399 });
// The default callback's status ranges, looked up once rather than per request.
let defaultRanges = callbackRanges(defaultCallback);

export function setResponseCallback(cb) {
  defaultRanges = callbackRanges(cb);
  defaultCallback = cb;
}

// What only some calls need (params, bodies, multipart, batch, http.file(), gjson selectors):
// made on a VU's first such call. Declared at the top level, each of these functions would be
// a closure every VU makes and keeps, used or not (docs/benchmarks.md, "Memory per VU").
let extras;
function more() {
  if (extras === undefined) extras = makeExtras();
  return extras;
}

function makeExtras() {
  // An object body as k6 v1.1.0 sends it (Go's `url.Values.Encode`): the keys sorted, each
  // value (each element of an array value) as Go's fmt prints it (`<nil>`, `map[a:1]`),
  // escaped as Go's `QueryEscape` escapes (`!'()*` too, a space as `+`).
  function encodeForm(obj) {
    const parts = [];
    for (const k of Object.keys(obj).sort()) {
      const v = obj[k];
      const key = goEscape(k);
      if (Array.isArray(v)) for (const x of v) parts.push(key + '=' + goEscape(goValue(x)));
      else parts.push(key + '=' + goEscape(goValue(v)));
    }
    return parts.join('&');
  }

  function goEscape(s) {
    return encodeURIComponent(s)
      .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
      .replace(/%20/g, '+');
  }

  // A value as Go's fmt prints it (%v): how k6 writes a multipart field that is not a string.
  function goValue(v) {
    if (v === null || v === undefined) return '<nil>';
    if (typeof v === 'number') {
      if (Number.isNaN(v)) return 'NaN';
      if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
      if (Object.is(v, -0)) return '-0';
      // k6's engine hands Go an integral number within int64 as an int64, any other as a
      // float64, which %v prints in the shortest form with an exponent from 1e6 up and below
      // 1e-4 (`1.2345675e+06`, `1e+20`).
      if (Number.isInteger(v) && Math.abs(v) < 2 ** 63) return String(v);
      const exp = Number(v.toExponential().split('e')[1]);
      if (exp < -4 || exp >= 6) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
      return String(v);
    }
    if (Array.isArray(v)) return '[' + v.map(goValue).join(' ') + ']';
    if (typeof v === 'object' && !isBinary(v)) {
      return 'map[' + Object.keys(v).sort().map((k) => k + ':' + goValue(v[k])).join(' ') + ']';
    }
    return String(v);
  }

  // An object body holding an http.file(): multipart/form-data, one part per key in order. A
  // Content-Type the script set is kept (its boundary, if it names one, is used).
  function encodeMultipart(body, headers) {
    const parts = Object.keys(body).map((k) => {
      const v = body[k];
      if (v instanceof FileData) return [k, v.filename, v.content_type, v.data];
      return [k, null, null, goValue(v)];
    });
    const set = Object.keys(headers).find((k) => k.toLowerCase() === 'content-type');
    const named = set === undefined ? null : /boundary="?([^";]+)"?/i.exec(headers[set]);
    const [boundary, payload] = V.multipart(parts, named ? named[1] : null);
    if (set === undefined) headers['Content-Type'] = 'multipart/form-data; boundary=' + boundary;
    return payload;
  }

  function isBinary(b) {
    return b instanceof ArrayBuffer || ArrayBuffer.isView(b);
  }

  function hasHeader(headers, name) {
    const n = name.toLowerCase();
    return Object.keys(headers).some((k) => k.toLowerCase() === n);
  }

  function parseRequest(method, url, body, params) {
    // k6 ignores params that are not an object (a string, a number).
    const p = params !== null && typeof params === 'object' ? params : {};
    const headers = {};
    if (p.headers) for (const k of Object.keys(p.headers)) headers[k] = String(p.headers[k]);
    let name;
    if (url !== null && typeof url === 'object' && url.__isURLTemplate) {
      name = url.name;
      url = url.url;
    } else if (url !== null && typeof url === 'object' && typeof url.toString === 'function') {
      url = url.toString();
    }
    // `undefined` and `null` stay so: k6 refuses them as Go's nil (request.rs).
    if (url !== undefined && url !== null) url = String(url);
    let payload = null;
    if (body !== undefined && body !== null) {
      if (isBinary(body)) payload = ArrayBuffer.isView(body) ? body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) : body;
      else if (typeof body === 'number' || typeof body === 'boolean' || Array.isArray(body)) {
        // k6 v1.1.0 sends none of these: the request fails as for a bad param, naming the Go
        // type (`unknown request body type int64`).
        payload = { goType: typeof body === 'number' ? (Number.isInteger(body) ? 'int64' : 'float64') : goTypeOf(body) };
      } else if (typeof body === 'object' && Object.keys(body).some((k) => body[k] instanceof FileData)) {
        payload = encodeMultipart(body, headers);
      } else if (typeof body === 'object') {
        payload = encodeForm(body);
        if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
      } else payload = String(body);
    }
    const tags = {};
    if (p.tags) {
      for (const k of Object.keys(p.tags)) {
        const v = p.tags[k];
        const t = typeof v;
        if (t !== 'string' && t !== 'number' && t !== 'boolean' && !(payload && payload.paramError)) {
          // k6 v1.1.0 sends no request with a tag of another kind (null, undefined, an
          // object): it fails as for a bad param, naming the first such tag. The body's slot
          // carries the failure to the native side (request.rs), as for a refused body.
          payload = { paramError: `invalid HTTP request metric tags: invalid value for metric tag '${k}': only String, Boolean and Number types are accepted as a metric tag values` };
        }
        tags[k] = String(v);
      }
    }
    if (name !== undefined && tags.name === undefined) tags.name = name;
    let cookies = null;
    if (p.cookies) {
      cookies = [];
      for (const k of Object.keys(p.cookies)) {
        const c = p.cookies[k];
        if (c !== null && typeof c === 'object') cookies.push([k, String(c.value), !!c.replace]);
        else cookies.push([k, String(c), false]);
      }
    }
    // A number or a string is read as a duration; k6 refuses any other value by its Go type.
    let timeout = null;
    const t = p.timeout;
    if (typeof t === 'number' || typeof t === 'string') timeout = t;
    else if (t !== undefined) timeout = { goType: goTypeOf(t) };
    const cb = p.responseCallback !== undefined ? p.responseCallback : defaultCallback;
    let auth = null;
    if (p.auth !== undefined && p.auth !== null) auth = String(p.auth);
    return {
      // As written: Go sends `get` as `get` (methods are case-sensitive).
      method: String(method),
      url,
      body: payload,
      headers,
      tags,
      cookies,
      timeout,
      redirects: p.redirects === undefined || p.redirects === null ? null : Number(p.redirects),
      responseType: p.responseType === undefined ? null : String(p.responseType),
      expected: callbackRanges(cb),
      jar: p.jar === undefined ? undefined : p.jar === null ? null : p.jar._id,
      auth,
      compression: p.compression === undefined || p.compression === null ? null : String(p.compression),
      // k6 takes `throw` per request too, as JS truthiness.
      throw: p.throw === undefined ? null : !!p.throw,
    };
  }

  // k6's res.json(selector) is a gjson path (docs/k6-compatibility.md#json-selectors): dotted
  // keys (`\.` escapes a dot), array indexes, `*` and `?` wildcards in keys, `#` (the length, or
  // `#.rest` for every element), and queries `#(key op value)` (the first match) and `#(…)#`
  // (every match) with ==, !=, <, <=, >, >=, % (like) and !% (not like).
  function splitPath(path) {
    const parts = [];
    let cur = '';
    let depth = 0;
    for (let i = 0; i < path.length; i++) {
      const c = path[i];
      if (c === '\\' && i + 1 < path.length) {
        cur += path[++i];
        continue;
      }
      if (c === '(') depth++;
      if (c === ')') depth--;
      if (c === '.' && depth === 0) {
        parts.push(cur);
        cur = '';
        continue;
      }
      cur += c;
    }
    parts.push(cur);
    return parts;
  }

  // gjson's like: `*` any run of characters, `?` one character.
  function like(value, pattern) {
    let re = '^';
    for (const ch of pattern) {
      if (ch === '*') re += '.*';
      else if (ch === '?') re += '.';
      else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return new RegExp(`${re}$`, 's').test(value);
  }

  function literal(text) {
    const t = text.trim();
    try {
      return JSON.parse(t);
    } catch (e) {
      return t;
    }
  }

  // Whether array element `el` matches the query `cond` (the text between `#(` and `)`).
  function matches(el, cond) {
    const m = /^(.*?)\s*(==|!=|<=|>=|<|>|!%|%)\s*(.*)$/s.exec(cond);
    if (m === null) return select(el, cond) !== undefined;
    const left = m[1] === '' ? el : select(el, m[1]);
    if (left === undefined) return false;
    const right = literal(m[3]);
    switch (m[2]) {
      case '==': return left === right;
      case '!=': return left !== right;
      case '<': return left < right;
      case '<=': return left <= right;
      case '>': return left > right;
      case '>=': return left >= right;
      case '%': return typeof left === 'string' && like(left, String(right));
      default: return typeof left === 'string' && !like(left, String(right));
    }
  }

  function select(obj, path) {
    return selectParts(obj, splitPath(String(path)));
  }

  function selectParts(obj, parts) {
    let cur = obj;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (cur === null || cur === undefined) return undefined;
      const rest = parts.slice(i + 1);
      if (part === '#') {
        if (!Array.isArray(cur)) return undefined;
        if (rest.length === 0) return cur.length;
        return cur.map((e) => selectParts(e, rest)).filter((v) => v !== undefined);
      }
      const q = /^#\((.*)\)(#?)$/s.exec(part);
      if (q !== null) {
        if (!Array.isArray(cur)) return undefined;
        if (q[2] === '#') {
          const all = cur.filter((e) => matches(e, q[1]));
          return rest.length === 0 ? all : all.map((e) => selectParts(e, rest)).filter((v) => v !== undefined);
        }
        cur = cur.find((e) => matches(e, q[1]));
        continue;
      }
      if (Array.isArray(cur)) {
        cur = /^\d+$/.test(part) ? cur[Number(part)] : undefined;
      } else if (typeof cur === 'object') {
        if (/[*?]/.test(part)) {
          const key = Object.keys(cur).find((k) => like(k, part));
          cur = key === undefined ? undefined : cur[key];
        } else {
          cur = Object.prototype.hasOwnProperty.call(cur, part) ? cur[part] : undefined;
        }
      } else {
        return undefined;
      }
    }
    return cur;
  }

  function batchItem(r) {
    if (typeof r === 'string') return parseRequest('GET', r, null, null);
    if (Array.isArray(r)) return parseRequest(r[0], r[1], r[2], r[3]);
    if (r !== null && typeof r === 'object') {
      if (r.__isURLTemplate) return parseRequest('GET', r, null, null);
      return parseRequest(r.method || 'GET', r.url, r.body, r.params);
    }
    throw new TypeError('each batch request must be a URL string, an array [method, url, body, params] or an object {method, url, body, params}');
  }

  // What http.file() returns; an object body holding one is sent as multipart/form-data.
  class FileData {
    constructor(data, filename, contentType) {
      this.data = data;
      this.filename = filename;
      this.content_type = contentType;
    }
  }

  function goType(v) {
    if (v === null || v === undefined) return '<nil>';
    if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
    if (typeof v === 'boolean') return 'bool';
    if (ArrayBuffer.isView(v)) return '[]uint8';
    if (Array.isArray(v)) return '[]interface {}';
    return 'map[string]interface {}';
  }

  // k6 raises its errors from Go: `String(e)` is `GoError: message`.
  class GoError extends Error {
    constructor(message) {
      super(message);
      Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
    }
  }

  return { parseRequest, select, batchItem, FileData, goType, GoError };
}

export class Response {
  constructor(raw) {
    Object.assign(this, raw);
  }
  json(selector) {
    if (this.body === null || this.body === undefined) {
      throw new (more().GoError)('the body is null so we can\'t transform it to JSON - this likely was because of a request error getting the response');
    }
    if (this._parsed === undefined) {
      // The body of a request k6 would not make is an empty array.
      const raw = Array.isArray(this.body) ? new Uint8Array(this.body).buffer : this.body;
      const text = typeof raw === 'string' ? raw : V.utf8Decode(raw);
      let parsed;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        // k6 runs a selector over the raw text (gjson): a body that is not JSON selects
        // nothing. Without one, k6 throws Go's syntax error, placed by line and character.
        if (selector !== undefined) return undefined;
        const why = V.jsonError(raw);
        if (why === null) throw e;
        throw new (more().GoError)(why);
      }
      Object.defineProperty(this, '_parsed', { value: parsed, enumerable: false, writable: true });
    }
    return selector === undefined ? this._parsed : more().select(this._parsed, selector);
  }
  html(selector) {
    return htmlApi().fromResponse(this, selector);
  }
  // Follows the first link matching `selector` (default `a[href]`), relative to this response.
  clickLink(args) {
    const a = args || {};
    const selector = a.selector === undefined ? 'a[href]' : String(a.selector);
    const link = this.html(selector);
    if (link.size() === 0) {
      throw new Error(`no element found for selector '${selector}' in response '${this.url}'`);
    }
    const href = link.attr('href');
    if (href === undefined) {
      throw new Error(`no valid href attribute value found on element '${selector}' in response '${this.url}'`);
    }
    return request('GET', htmlApi().resolveURL(this.url, href), null, a.params);
  }
  // Submits the form matching `formSelector` (default `form`) with its fields, the submit
  // button's name and value, and `fields` on top.
  submitForm(args) {
    const a = args || {};
    const formSelector = a.formSelector === undefined ? 'form' : String(a.formSelector);
    const form = this.html(formSelector);
    if (form.size() === 0) {
      throw new Error(`no form found for selector '${formSelector}' in response '${this.url}'`);
    }
    const method = String(form.attr('method', 'GET')).toUpperCase();
    const action = htmlApi().resolveURL(this.url, form.attr('action', ''));
    const body = form.serializeObject();
    const submit = form.find(a.submitSelector === undefined ? '[type="submit"]' : String(a.submitSelector));
    const submitName = submit.attr('name');
    if (submit.size() > 0 && submitName) body[submitName] = submit.attr('value', '');
    if (a.fields) Object.assign(body, a.fields);
    if (method === 'GET') {
      const q = Object.keys(body).flatMap((k) => [].concat(body[k]).map((v) => encodeURIComponent(k) + '=' + encodeURIComponent(v))).join('&');
      const base = action.replace(/[?#].*$/, '');
      return request('GET', q ? base + '?' + q : base, null, a.params);
    }
    return request(method, action, body, a.params);
  }
}

// Templates of a Response and its timings and request objects: the native side makes every
// response from them directly (no copy of ~20 properties, no shape lookups per property).
const SHAPES = V.responseShapes(Response.prototype);

// A failed request's error as k6 throws it (docs/k6-compatibility.md#request-errors): a GoError
// whose `value` is Go's error, a `url.Error` of `op` and `url` (its inner error shows as `{}`),
// for a URL k6 cannot parse (`code` 1020) k6's own error around Go's parse error, and for a
// param k6 refuses (`op` null) nothing.
V.httpFailure = (text, op, url, code) => {
  const e = new (more().GoError)(text);
  if (code === 1020) {
    const written = /^invalid URL: parse "(.*)": /.exec(text);
    e.value = { code, message: text, original_error: { op: 'parse', url: written ? written[1] : '', err: {} } };
  } else {
    e.value = op === null ? {} : { op, url, err: {} };
  }
  return e;
};

// What `http.asyncRequest` rejects with: the Go error itself, a plain object of its fields and
// methods that converts to its text (no `GoError:` before it).
V.httpRejection = (e) => {
  const text = e.message;
  const value = e.value || {};
  const out = Object.assign({}, value);
  out.error = () => text;
  if ('op' in value) {
    // k6 wraps a timeout in its own error, which Go's `Timeout()` does not see through.
    out.temporary = () => false;
    out.timeout = () => false;
  }
  if ('op' in value || 'code' in value) out.unwrap = () => value.err || value.original_error;
  Object.defineProperty(out, Symbol.toPrimitive, { value: () => text });
  return out;
};

function send(method, url, body, params) {
  // No params and a plain URL and body (most calls): skip building a request object.
  if ((params === undefined || params === null) && typeof url === 'string'
    && (body === undefined || body === null || typeof body === 'string')) {
    return V.requestPlain(String(method), url, body === undefined ? null : body, defaultRanges, SHAPES);
  }
  return V.request(more().parseRequest(method, url, body, params), SHAPES);
}

export function request(method, url, body, params) { return send(method, url, body, params); }
export function get(url, params) {
  // The commonest call of all, without the extra JS call of send().
  if (params === undefined && typeof url === 'string') return V.requestPlain('GET', url, null, defaultRanges, SHAPES);
  return send('GET', url, null, params);
}
// k6's http.asyncRequest: a promise of the response, settled on the VU's event loop while the
// script goes on (several run at once).
export function asyncRequest(method, url, body, params) {
  return new Promise((resolve, reject) => {
    V.requestAsync(more().parseRequest(method, url, body, params), SHAPES, resolve, reject);
  });
}
export function head(url, params) { return send('HEAD', url, null, params); }
export function post(url, body, params) { return send('POST', url, body, params); }
export function put(url, body, params) { return send('PUT', url, body, params); }
export function patch(url, body, params) { return send('PATCH', url, body, params); }
export function del(url, body, params) { return send('DELETE', url, body, params); }
export function options(url, body, params) { return send('OPTIONS', url, body, params); }

export function batch(reqs) {
  if (Array.isArray(reqs)) {
    return V.batch(reqs.map(more().batchItem), SHAPES);
  }
  if (reqs !== null && typeof reqs === 'object') {
    const keys = Object.keys(reqs);
    const { batchItem } = more();
    const out = V.batch(keys.map((k) => batchItem(reqs[k])), SHAPES);
    const res = {};
    keys.forEach((k, i) => { res[k] = out[i]; });
    return res;
  }
  throw new TypeError('http.batch() takes an array or an object of requests');
}

// http.url`https://host/items/${id}` tags the request with the template as its name.
export function url(strings, ...values) {
  let u = '';
  let n = '';
  strings.forEach((s, i) => {
    u += s;
    n += s;
    if (i < values.length) { u += String(values[i]); n += '${}'; }
  });
  return { __isURLTemplate: true, url: u, name: n, toString() { return u; } };
}

export class CookieJar {
  constructor(id) { this._id = id === undefined ? V.jarNew() : id; }
  cookiesForURL(u) { return V.jarCookiesForURL(this._id, String(u)); }
  set(u, name, value, opts) { return V.jarSet(this._id, String(u), String(name), String(value), opts || null); }
  clear(u) { V.jarClear(this._id, String(u)); }
  delete(u, name) { V.jarDelete(this._id, String(u), String(name)); }
}

let vuJar;
export function cookieJar() {
  if (vuJar === undefined) vuJar = new CookieJar(0);
  return vuJar;
}

export function file(data, filename, contentType) {
  if (typeof data !== 'string' && !(data instanceof ArrayBuffer)) {
    throw new TypeError(`invalid type ${more().goType(data)}, expected string or ArrayBuffer`);
  }
  // Without a name, a 19-digit number, as k6 names it (a timestamp in nanoseconds).
  const name = filename === undefined || filename === null
    ? String(Date.now()) + String(Math.floor(Math.random() * 1e6)).padStart(6, '0')
    : String(filename);
  return new (more().FileData)(data, name, contentType ? String(contentType) : 'application/octet-stream');
}

// k6's OCSP constants (`res.ocsp.status` and `revocation_reason` read them).
export const OCSP_STATUS_GOOD = 'good';
export const OCSP_STATUS_REVOKED = 'revoked';
export const OCSP_STATUS_SERVER_FAILED = 'server_failed';
export const OCSP_STATUS_UNKNOWN = 'unknown';
export const OCSP_REASON_UNSPECIFIED = 'unspecified';
export const OCSP_REASON_KEY_COMPROMISE = 'key_compromise';
export const OCSP_REASON_CA_COMPROMISE = 'ca_compromise';
export const OCSP_REASON_AFFILIATION_CHANGED = 'affiliation_changed';
export const OCSP_REASON_SUPERSEDED = 'superseded';
export const OCSP_REASON_CESSATION_OF_OPERATION = 'cessation_of_operation';
export const OCSP_REASON_CERTIFICATE_HOLD = 'certificate_hold';
export const OCSP_REASON_REMOVE_FROM_CRL = 'remove_from_crl';
export const OCSP_REASON_PRIVILEGE_WITHDRAWN = 'privilege_withdrawn';
export const OCSP_REASON_AA_COMPROMISE = 'aa_compromise';
export const TLS_1_0 = 'tls1.0';
export const TLS_1_1 = 'tls1.1';
export const TLS_1_2 = 'tls1.2';
export const TLS_1_3 = 'tls1.3';

export default {
  request, asyncRequest, get, head, post, put, patch, del, options, batch, url, expectedStatuses,
  setResponseCallback, cookieJar, file, Response, CookieJar,
  TLS_1_0, TLS_1_1, TLS_1_2, TLS_1_3,
  OCSP_STATUS_GOOD, OCSP_STATUS_REVOKED, OCSP_STATUS_SERVER_FAILED, OCSP_STATUS_UNKNOWN,
  OCSP_REASON_UNSPECIFIED, OCSP_REASON_KEY_COMPROMISE, OCSP_REASON_CA_COMPROMISE,
  OCSP_REASON_AFFILIATION_CHANGED, OCSP_REASON_SUPERSEDED, OCSP_REASON_CESSATION_OF_OPERATION,
  OCSP_REASON_CERTIFICATE_HOLD, OCSP_REASON_REMOVE_FROM_CRL, OCSP_REASON_PRIVILEGE_WITHDRAWN,
  OCSP_REASON_AA_COMPROMISE,
};
