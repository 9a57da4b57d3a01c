// throughput: how many requests/s one generator core can push, and at what CPU cost.
// No sleep: every VU fires its next request as soon as the previous one is answered.
// Runs unmodified under `k6 run` and `volley run`; the harness sets the __ENV values.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  vus: Number(__ENV.VUS || 64),
  duration: __ENV.DURATION || '10s',
};

export default function () {
  const res = http.get(BASE_URL + '/');
  check(res, { 'status is 200': (r) => r.status === 200 });
}
