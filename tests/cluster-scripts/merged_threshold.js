// An abortOnFail threshold that only the merged data of all agents can fail: each of the 3
// agents runs one VU that adds 1 to `hits` per iteration, at most 300 times, so no agent alone
// ever reaches 320; together they pass 320 after about 4 s of the planned 12 s or more (the
// controller checks abortOnFail thresholds every 2 s on data that arrives every second).
import { Counter } from 'k6/metrics';
import { sleep } from 'k6';

const hits = new Counter('hits');

export const options = {
  scenarios: {
    each: { executor: 'per-vu-iterations', vus: 3, iterations: 300, maxDuration: '25s' },
  },
  thresholds: {
    hits: [{ threshold: 'count<320', abortOnFail: true }],
  },
  volley: { agents: 3 },
};

export default function () {
  hits.add(1);
  sleep(0.04);
}
