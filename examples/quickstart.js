// A first Volley test: 5 VUs for 5 seconds against the local target
// (start it with `volley target --listen 127.0.0.1:8080`).
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const pages = new Counter('pages_seen');
const jsonTime = new Trend('json_time', true);

export const options = {
  vus: 5,
  duration: '5s',
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p(95)<500'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  group('home', () => {
    const res = http.get(`${BASE}/`);
    check(res, { 'status is 200': (r) => r.status === 200 });
    pages.add(1);
  });
  group('api', () => {
    const res = http.get(`${BASE}/json`);
    check(res, {
      'json has slides': (r) => r.json('slideshow.slides.#') > 0,
    });
    jsonTime.add(res.timings.duration);
  });
  sleep(0.1);
}
