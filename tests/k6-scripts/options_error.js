// Invalid options (negative VUs): exit code 104 before anything runs.
export const options = { vus: -1, duration: '1s' };

export default function () {}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
