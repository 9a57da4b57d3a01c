// An async default function whose every other iteration rejects after an awaited request: the
// rejection is logged as an uncaught promise (k6: `Uncaught (in promise) Error: …`, without
// `source=stacktrace`), the iteration still counts, and the run exits 0.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

const reached = new Counter('reached_end');

export const options = {
  vus: 1,
  iterations: 4,
};

export default async function () {
  const res = await http.asyncRequest('GET', `${__ENV.BASE_URL}/get`);
  check(res, { 'fetched': (r) => r.status === 200 });
  if (exec.scenario.iterationInTest % 2 === 1) {
    throw new Error(`odd iteration ${exec.scenario.iterationInTest}`);
  }
  reached.add(1);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
