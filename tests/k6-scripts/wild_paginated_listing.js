// A catalogue crawl as listing tests are written: pages fetched in a loop until the last one,
// the query built from an object, requests named by a tag so every page lands in one
// series, a group per page kind, and thresholds on the named series.
import http from 'k6/http';
import { check, group } from 'k6';
import { Trend, Counter } from 'k6/metrics';

const pageSize = new Trend('page_items');
const pages = new Counter('pages_read');

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    'http_reqs{name:catalogue}': ['count==8'],
    'http_req_duration{name:catalogue}': ['max>=0'],
    'pages_read': ['count==8'],
    'page_items': ['avg==2.5', 'max==4'],
    checks: ['rate==1'],
  },
};

const qs = (o) => Object.entries(o)
  .filter(([, v]) => v !== undefined && v !== null)
  .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
  .join('&');

export default function () {
  const B = __ENV.BASE_URL;
  let page = 1;
  let last = false;
  while (!last) {
    group(page === 1 ? 'first page' : 'next pages', () => {
      const res = http.get(`${B}/anything/catalogue?${qs({ page, size: 4, sort: 'name asc', empty: null })}`, {
        tags: { name: 'catalogue' },
      });
      const args = res.json('args');
      const items = Array.from({ length: Number(args.page) }, (_, i) => `item-${i}`);
      pageSize.add(items.length);
      pages.add(1);
      check(res, {
        'page echoed': () => args.page === String(page),
        'sort kept its space': () => args.sort === 'name asc',
        'null left out': () => !('empty' in args),
      });
      last = page >= 4;
      page += 1;
    });
  }
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
