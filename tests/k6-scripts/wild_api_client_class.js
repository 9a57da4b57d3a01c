// An API client written as a class, as larger suites organise their requests: private fields,
// a static factory, getters, default and rest parameters, optional chaining and nullish
// defaults over the responses, a generator feeding test data, and small helpers checking the
// engine's built-ins the suite relies on.
import http from 'k6/http';
import { check, group } from 'k6';
import { Rate } from 'k6/metrics';

const okRate = new Rate('client_ok');

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: { checks: ['rate==1'], client_ok: ['rate==1'] },
};

class ApiClient {
  #base;
  #headers;
  #calls = 0;
  static #created = 0;

  constructor(base, { token = 'anon', ...extra } = {}) {
    this.#base = base;
    this.#headers = { Authorization: `Bearer ${token}`, ...extra };
    ApiClient.#created += 1;
  }

  static forUser(base, user) {
    return new ApiClient(base, { token: `t-${user}`, 'X-User': user });
  }

  static get created() {
    return ApiClient.#created;
  }

  get calls() {
    return this.#calls;
  }

  #send(method, path, body = null) {
    this.#calls += 1;
    const res = http.request(method, `${this.#base}${path}`, body && JSON.stringify(body), {
      headers: { ...this.#headers, 'Content-Type': 'application/json' },
      tags: { name: `${method} ${path.split('?')[0]}` },
    });
    okRate.add(res.status >= 200 && res.status < 300);
    return res;
  }

  get(path) { return this.#send('GET', path); }
  post(path, body) { return this.#send('POST', path, body); }
}

function* orders(user, count) {
  for (let i = 1; i <= count; i++) {
    yield { id: `${user}-${i}`, qty: i, note: i % 2 ? undefined : 'gift' };
  }
}

export default function () {
  const user = `u${__VU}`;
  const api = ApiClient.forUser(__ENV.BASE_URL, user);
  group('orders', () => {
    for (const order of orders(user, 3)) {
      const res = api.post('/post', order);
      const sent = res.json('json');
      check(res, {
        'auth header sent': (r) => r.json('headers.Authorization') === `Bearer t-${user}`,
        'undefined fields dropped': () => !('note' in sent) || sent.note === 'gift',
        'optional chaining on a missing path': (r) => r.json()?.missing?.deep === undefined,
        'nullish default': () => (sent.discount ?? 0) === 0,
      });
    }
  });
  const me = api.get(`/anything/me?user=${user}`);
  check(me, {
    'the client counted its calls': () => api.calls === 4,
    'a static getter': () => ApiClient.created >= 1,
    'private fields stay private': () => Object.keys(api).length === 0 && !('#base' in api),
    'entries round trip': (r) => Object.fromEntries(Object.entries(r.json('args'))).user === user,
    'array helpers': () => [3, 1, 2].toSorted((a, b) => a - b).at(-1) === 3 && [[1], [2, [3]]].flat(2).length === 3,
    'string helpers': () => 'a-b-c'.replaceAll('-', '/') === 'a/b/c' && 'x'.padEnd(3, '.') === 'x..',
    'no Intl, no structuredClone': () => typeof Intl === 'undefined' && typeof structuredClone === 'undefined',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
