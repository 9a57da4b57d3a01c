// Each request tagged with a unique value: every request makes new metric series, so the
// merged data soon holds more than `--max-series 200` (ABORTED_BY_LIMIT).
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  scenarios: {
    series: { executor: 'constant-vus', vus: 2, duration: '20s' },
  },
  volley: { agents: 2 },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`, { tags: { request_id: `${__VU}-${__ITER}-${Math.random()}` } });
  sleep(0.05);
}
