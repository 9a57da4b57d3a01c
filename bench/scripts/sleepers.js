// scale: many VUs that mostly sleep. VUs 1..CONN_VUS make one request per iteration and keep
// their keep-alive connection (one file descriptor each, as in k6); the others only sleep.
// What matters is the generator's memory per VU, its start-up time and its CPU while the VUs
// sleep. Runs unmodified under `k6 run` and `volley run`; the harness sets the __ENV values.
import http from 'k6/http';
import { sleep } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const CONN_VUS = Number(__ENV.CONN_VUS || 0);
const SLEEP_S = Number(__ENV.SLEEP || 5);

export const options = {
  vus: Number(__ENV.VUS || 10000),
  duration: __ENV.DURATION || '30s',
};

// setup() runs once every VU is initialised: its log line marks the end of start-up.
export function setup() {
  console.log(`SETUP_AT ${Date.now()}`);
}

export default function () {
  if (__VU <= CONN_VUS) {
    http.get(BASE_URL + '/');
  }
  sleep(SLEEP_S);
}
