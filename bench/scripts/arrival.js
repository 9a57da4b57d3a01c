// arrival: open-model accuracy. A constant-arrival-rate scenario must start exactly
// RATE iterations per second, whatever the response times, without dropping any.
// Runs unmodified under `k6 run` and `volley run`; the harness sets the __ENV values.
import http from 'k6/http';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: {
    arrival: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 5000),
      timeUnit: '1s',
      duration: __ENV.DURATION || '20s',
      preAllocatedVUs: Number(__ENV.PRE_VUS || 200),
      maxVUs: Number(__ENV.MAX_VUS || 2000),
    },
  },
};

export default function () {
  http.get(BASE_URL + '/');
}
