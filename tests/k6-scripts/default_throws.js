// Every iteration throws: k6 logs it, counts the iteration as interrupted and still exits 0.
import { check } from 'k6';

export const options = { vus: 2, iterations: 4 };

export default function () {
  check(true, { 'before throw': (v) => v });
  throw new Error('boom in default');
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
