// iterations: a fixed amount of work, for counting instructions per iteration
// (bench/instructions.sh runs it under valgrind with two ITERS values and takes the difference).
// The same request and check as throughput.js. Runs unmodified under `k6 run` and `volley run`.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: {
    fixed: {
      executor: 'shared-iterations',
      vus: Number(__ENV.VUS || 64),
      iterations: Number(__ENV.ITERS || 2000),
      maxDuration: '10m',
    },
  },
};

export default function () {
  const res = http.get(BASE_URL + '/');
  check(res, { 'status is 200': (r) => r.status === 200 });
}
