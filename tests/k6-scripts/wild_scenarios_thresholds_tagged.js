// Workshop-style test: two scenarios with their own functions and tags, thresholds on tagged
// submetrics (request names, scenario, check names), groups, and every kind of custom metric.
import http from 'k6/http';
import { check, group } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const orders = new Counter('orders_placed');
const cartSize = new Gauge('cart_size');
const okRate = new Rate('order_ok');
const orderValue = new Trend('order_value');

export const options = {
  scenarios: {
    browse: { executor: 'per-vu-iterations', vus: 2, iterations: 3, exec: 'browse', tags: { flow: 'browse' } },
    buy: { executor: 'shared-iterations', vus: 1, iterations: 4, exec: 'buy', tags: { flow: 'buy' } },
  },
  thresholds: {
    'http_req_duration{name:catalog}': ['p(95)<5000'],
    'http_reqs{flow:buy}': ['count==8'],
    'checks{check:order accepted}': ['rate==1'],
    'http_req_failed{scenario:browse}': ['rate<=0.5'],
    order_ok: ['rate>0.7'],
    orders_placed: ['count>=4'],
    'order_value{currency:eur}': ['avg>0', 'max<100'],
  },
};

export function browse() {
  let refused = '';
  try {
    group('async', async () => {});
  } catch (e) {
    refused = String(e);
  }
  check(refused, {
    'async group refused with k6s words': (r) => r.startsWith(
      'GoError: group() does not support async functions as arguments, please see https://grafana.com/docs/k6/'),
  });
  group('catalog', () => {
    const res = http.get(`${__ENV.BASE_URL}/json`, { tags: { name: 'catalog' } });
    check(res, { 'catalog has slides': (r) => r.json('slideshow.slides').length === 2 });
  });
  group('missing page', () => {
    http.get(`${__ENV.BASE_URL}/status/404`, { tags: { name: 'missing' } });
  });
}

export function buy() {
  group('checkout', () => {
    group('cart', () => {
      const res = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ item: 'pizza', qty: 2 }), {
        headers: { 'Content-Type': 'application/json' },
        tags: { name: 'cart' },
      });
      cartSize.add(res.json('json.qty'));
    });
    const res = http.post(`${__ENV.BASE_URL}/post`, { order: 'pizza' }, { tags: { name: 'order' } });
    const ok = check(res, { 'order accepted': (r) => r.status === 200 });
    okRate.add(ok);
    orders.add(1, { kind: 'pizza' });
    orderValue.add(12.5, { currency: 'eur' });
    orderValue.add(30, { currency: 'usd' });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
