// A 30 s test: longer than `--max-duration 5s`, refused at submit.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    long: { executor: 'constant-vus', vus: 1, duration: '30s', gracefulStop: '0s' },
  },
};

export default function () {
  sleep(0.1);
}
