// A local run streamed to a controller: exactly ITERATIONS iterations (shared), one request and
// one check each, and a threshold that fails when FAIL=1 (so the exit code and result_status
// can be compared). With DURATION it runs for that long instead (to be stopped midway).
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';

const done = new Counter('streamed_iterations');

export const options = __ENV.DURATION
  ? { vus: 2, duration: __ENV.DURATION }
  : {
      scenarios: {
        counted: { executor: 'shared-iterations', vus: 4, iterations: Number(__ENV.ITERATIONS || 200) },
      },
      thresholds: { http_req_duration: [__ENV.FAIL === '1' ? 'max<0' : 'max<10000'] },
    };

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status 200': (r) => r.status === 200 });
  done.add(1);
  if (__ENV.DURATION) sleep(0.05);
}
