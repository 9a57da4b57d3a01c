// A threshold with abortOnFail stops the test as soon as it fails (thresholds are checked every
// couple of seconds) instead of running the full 30 s: the exit code is 99.
import http from 'k6/http';
import { sleep } from 'k6';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  vus: 1,
  duration: '30s',
  thresholds: {
    // Crossed after the fifth request, about half a second in.
    http_reqs: [{ threshold: 'count<5', abortOnFail: true }],
  },
};

export default function () {
  http.get(`${BASE}/`);
  sleep(0.1);
}
