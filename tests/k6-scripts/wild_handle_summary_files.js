// handleSummary writing several outputs: the JSON data, a plain-text report of its own, a CSV of
// the metrics, and stdout.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3, thresholds: { http_req_duration: ['p(99)<10000'] } };

export default function () {
  check(http.get(`${__ENV.BASE_URL}/get`), { ok: (r) => r.status === 200 });
}

export function handleSummary(data) {
  const names = Object.keys(data.metrics).sort();
  const csv = ['metric,type', ...names.map((n) => `${n},${data.metrics[n].type}`)].join('\n');
  const report = `iterations: ${data.metrics.iterations.values.count}\nchecks passed: ${data.metrics.checks.values.passes}\n`;
  return {
    [__ENV.OUT]: JSON.stringify(data),
    'wild-summary-report.txt': report,
    'wild-summary-metrics.csv': csv,
    stdout: `custom stdout summary: ${data.metrics.http_reqs.values.count} requests\n`,
  };
}
