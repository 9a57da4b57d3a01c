// An API journey: groups nested three deep, checks on JSON bodies through res.json() and its
// selectors, group return values, and thresholds on group_duration and checks of one group.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    'group_duration{group:::store::catalog}': ['max<10000'],
    'checks{group:::store::catalog::item}': ['rate==1'],
    'http_req_duration{group:::store::cart}': ['p(90)<10000'],
  },
};

export default function () {
  const base = __ENV.BASE_URL;
  group('store', function () {
    const titles = group('catalog', function () {
      const res = http.get(`${base}/json`);
      check(res, {
        'is json': (r) => r.headers['Content-Type'] === 'application/json',
        'author': (r) => r.json('slideshow.author') === 'Yours Truly',
        'two slides': (r) => r.json('slideshow.slides.#') === 2,
        'second slide items': (r) => r.json('slideshow.slides.1.items').length === 2,
        'whole body': (r) => r.json().slideshow.title === 'Sample Slide Show',
      });
      group('item', function () {
        check(res.json('slideshow.slides.0'), {
          'first slide title': (s) => s.title === 'Wake up to WonderWidgets!',
          'first slide type': (s) => s.type === 'all',
        });
      });
      return res.json('slideshow.slides.#.title');
    });
    check(titles, { 'group returned titles': (t) => Array.isArray(t) && t[1] === 'Overview' });
    group('cart', function () {
      const body = { items: [{ sku: 'a-1', qty: 2 }, { sku: 'b-2', qty: 1 }], coupon: null };
      const res = http.post(`${base}/post`, JSON.stringify(body), { headers: { 'Content-Type': 'application/json' } });
      check(res, {
        'cart echoed': (r) => r.json('json.items.#') === 2,
        'qty of first': (r) => r.json('json.items.0.qty') === 2,
        'skus': (r) => r.json('json.items.#.sku').join() === 'a-1,b-2',
        'null coupon': (r) => r.json('json.coupon') === null,
        'missing path is undefined': (r) => r.json('json.nope.deeper') === undefined,
      });
    });
  });
  group('account', () => {
    check(http.get(`${base}/headers`), { 'headers json': (r) => typeof r.json('headers') === 'object' });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
