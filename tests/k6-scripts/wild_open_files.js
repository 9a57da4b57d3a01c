// Test data from files: a JSON config and a quoted CSV through SharedArray, a binary file opened
// with 'b', and per-iteration rows picked by the iteration number.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';

const config = JSON.parse(open('./data/wild_config.json'));

const products = new SharedArray('products', function () {
  const lines = open('./data/wild_products.csv').trim().split('\n');
  const header = lines.shift().split(',');
  return lines.map((line) => {
    const cells = [];
    let cur = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) { cells.push(cur); cur = ''; }
      else cur += ch;
    }
    cells.push(cur);
    return Object.fromEntries(header.map((h, i) => [h, cells[i]]));
  });
});

const bin = open('./data/wild_products.csv', 'b');

export const options = { vus: 2, iterations: 6 };

export default function () {
  const p = products[exec.scenario.iterationInTest % products.length];
  const ep = config.endpoints[__ITER % config.endpoints.length];
  const res = http.request(ep.method, `${__ENV.BASE_URL}${ep.path}?sku=${p.sku}`, ep.method === 'POST' ? { name: p.name } : null);
  check(res, {
    'sku sent': (r) => r.json('args.sku') === p.sku,
    'shared array is frozen-ish': () => { try { products[0].sku = 'x'; } catch (e) { /* frozen */ } return products[0].sku === 'a-1'; },
    'length': () => products.length === 3,
    'quoted comma': () => products[2].name === 'Thing, large',
    'binary open': () => bin instanceof ArrayBuffer && bin.byteLength > 50,
    'config retries': () => config.retries === 2,
    'shared array spread': () => [...products].map((x) => x.sku).join() === 'a-1,b-2,c-3',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
