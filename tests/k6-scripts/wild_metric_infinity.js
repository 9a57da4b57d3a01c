// A success rate fed the result of a division that went to Infinity (no requests in the
// window): k6 counts any value that is not zero as a pass, Infinity too.
import { check } from 'k6';
import { Rate } from 'k6/metrics';

const healthy = new Rate('healthy_ratio');

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: { healthy_ratio: ['rate>0.6'], checks: ['rate==1'] },
};

export default function () {
  const errors = 0;
  const served = __ITER;
  check(null, {
    'Infinity is added': () => healthy.add((served + 1) / errors) === true,
    '-Infinity is added': () => healthy.add(-1 / errors) === true,
    'zero is a failure': () => healthy.add(0) === true,
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
