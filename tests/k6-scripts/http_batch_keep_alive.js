// http.batch after a request: one of the batch's requests reuses the VU's idle keep-alive
// connection (no connecting time), the others dial their own. Which one is a race in k6 (its
// batch starts the requests together: in 30 fresh k6 v1.1.0 runs the first won 29 times, the
// second once, and a second request sometimes took a connection the first had just returned),
// so the check asks for one, not for the first; Volley gives it to the first.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const B = __ENV.BASE_URL;
  const first = http.get(`${B}/get`);
  const rs = http.batch([`${B}/get?b=1`, `${B}/get?b=2`, `${B}/get?b=3`]);
  check(rs, {
    'all answered': (r) => r.every((x) => x.status === 200),
    'a batch request reuses the idle connection': (r) => r.some((x) => x.timings.connecting === 0),
    'the first batch request is on the same connection': (r) =>
      r[0].remote_port === first.remote_port && r[0].remote_ip === first.remote_ip,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
