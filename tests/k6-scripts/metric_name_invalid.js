// A custom metric whose name k6 refuses (a space): an init error, exit 107, no summary.
import { Counter } from 'k6/metrics';

const requests = new Counter('Requests Counter');

export default function () {
  requests.add(1);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
