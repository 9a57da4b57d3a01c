// Custom metrics fed whatever a script computed: numbers as strings, booleans, empty strings,
// values that are not numbers, null, and tags of every type, as k6 takes or refuses them.
import { check } from 'k6';
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';

const items = new Counter('cart_items');
const price = new Trend('item_price');
const inStock = new Rate('in_stock');
const basket = new Gauge('basket_value');

export const options = { vus: 1, iterations: 2 };

export default function () {
  check(null, {
    'number as a string': () => items.add('3') === true,
    'boolean': () => inStock.add(true) === true && inStock.add(0) === true,
    'empty string is 0': () => price.add('') === true,
    'array of one number': () => price.add([12.5]) === true,
    'not a number refused': () => price.add('n/a') === false,
    'null refused': () => items.add(null) === false,
    'object refused': () => basket.add({ total: 5 }) === false,
    'gauge': () => basket.add(42, { currency: 'eur' }) === true,
    'tags of strings, numbers and booleans': () => items.add(1, { sku: 'a-1', qty: 2, gift: false }) === true,
  });
  const refusedTag = (v) => {
    try {
      items.add(1, { sku: v });
      return '';
    } catch (e) {
      return String(e);
    }
  };
  check(null, {
    'object tag throws': () => refusedTag({ id: 1 }).startsWith("GoError: cannot add tags for the 'cart_items' custom metric: invalid value for metric tag 'sku'"),
    'null tag throws': () => refusedTag(null) !== '',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
