// 10 VUs for 2 s (within `--max-duration 5s`): more VUs than `--max-vus 5`, refused at submit.
import { sleep } from 'k6';

export const options = {
  scenarios: {
    many: { executor: 'constant-vus', vus: 10, duration: '2s', gracefulStop: '0s' },
  },
};

export default function () {
  sleep(0.1);
}
