// A team's reporting setup: custom trends of server-reported timings (`isTime`) and of sizes,
// the trend statistics CI dashboards want (`p(99.9)`, `count`, `p(0)`, `p(100)`) and the time
// unit of the summary, with thresholds on those statistics; handleSummary reads the values
// back (the harness passes `--summary-trend-stats` too, which replaces the script's list).
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';

const serverTime = new Trend('server_time', true);
const payload = new Trend('payload_bytes');

export const options = {
  vus: 1,
  iterations: 5,
  summaryTrendStats: ['avg', 'min', 'max', 'p(99.9)', 'count'],
  summaryTimeUnit: 'ms',
  thresholds: {
    server_time: ['p(99.9)<1000', 'avg<500', 'p(0)>=10'],
    payload_bytes: ['max>=100', 'med>0', 'p(50)<=1000'],
    'http_req_duration{name:bytes}': ['p(90)<3000'],
  },
};

export default function () {
  const size = 100 * (__ITER + 1);
  const res = http.get(`${__ENV.BASE_URL}/bytes/${size}`, { tags: { name: 'bytes' } });
  check(res, { 'size as asked': (r) => r.body.length === size });
  serverTime.add(10 * (__ITER + 1));
  payload.add(size);
}

export function handleSummary(data) {
  const s = data.metrics.server_time.values;
  const p = data.metrics.payload_bytes.values;
  const out = {
    keys: Object.keys(s).sort(),
    server: [s['p(0)'], s['p(100)'], s.count, s.avg],
    payload: [p.min, p.max, p.count, p['p(99.9)']],
    unit: data.options.summaryTimeUnit,
    stats: data.options.summaryTrendStats,
  };
  console.log(JSON.stringify(out));
  return { [__ENV.OUT]: JSON.stringify(data) };
}
