// A local run streamed to a controller with `volley run --out cloud=URL`: a steady load long
// enough for the controller's port to be blocked in the middle of it. Every iteration logs
// ITER so the test sees that the local run goes on.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    steady: { executor: 'constant-vus', vus: 2, duration: __ENV.DURATION || '12s' },
  },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status 200': (r) => r.status === 200 });
  console.log('ITER');
  sleep(0.1);
}
