// memory: many mostly idle VUs; each does one request per second.
// What matters is the generator's peak RSS per VU, not its throughput.
// Runs unmodified under `k6 run` and `volley run`; the harness sets the __ENV values.
import http from 'k6/http';
import { sleep } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  vus: Number(__ENV.VUS || 1000),
  duration: __ENV.DURATION || '20s',
};

export default function () {
  http.get(BASE_URL + '/');
  sleep(1);
}
