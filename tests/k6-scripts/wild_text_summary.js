// The most common handleSummary of public scripts: textSummary from jslib to stdout plus the
// data as JSON, with groups, checks, a threshold and summaryTrendStats.
import http from 'k6/http';
import { check, group } from 'k6';
import { textSummary } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';

export const options = {
  vus: 1,
  iterations: 2,
  summaryTrendStats: ['avg', 'p(95)', 'max'],
  thresholds: { http_req_duration: ['p(95)<10000'] },
};

export default function () {
  group('home', () => {
    check(http.get(`${__ENV.BASE_URL}/`), { 'home ok': (r) => r.status === 200 });
  });
}

export function handleSummary(data) {
  const text = textSummary(data, { indent: ' ', enableColors: false });
  // k6 lists a thresholded trend's values in Go map order (it varies run to run), so the keys
  // are compared as a set.
  const trendKeys = Object.keys(data.metrics.http_req_duration.values).sort().join(',');
  return {
    stdout: text,
    // Marker keys appear only when the text and the trend stats are right (keys are compared).
    [__ENV.OUT]: JSON.stringify(Object.assign(data, text.includes('✓ home ok') && text.includes('http_reqs') ? { text_ok: true } : {}, trendKeys === 'avg,max,p(95)' ? { trend_keys_ok: true } : {})),
  };
}
