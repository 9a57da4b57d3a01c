// An interval that is never cleared keeps the iteration going until the scenario's
// gracefulStop interrupts it: the iteration is not counted as complete, and teardown runs.
import { check } from 'k6';

export const options = {
  scenarios: {
    forever: {
      executor: 'shared-iterations',
      vus: 1,
      iterations: 1,
      maxDuration: '1s',
      gracefulStop: '0s',
    },
  },
};

export default function () {
  check(null, { 'iteration started': () => true });
  setInterval(() => {}, 50);
}

export function teardown() {
  check(null, { 'teardown ran': () => true });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
