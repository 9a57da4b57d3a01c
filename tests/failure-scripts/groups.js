// Five groups per iteration, over 2 agents: more than `--max-groups 3` (ABORTED_BY_LIMIT).
import { group, sleep } from 'k6';

export const options = {
  scenarios: {
    groups: { executor: 'constant-vus', vus: 2, duration: '20s' },
  },
  volley: { agents: 2 },
};

export default function () {
  for (const name of ['one', 'two', 'three', 'four', 'five']) {
    group(name, () => sleep(0.02));
  }
}
