// An uncaught exception in the init context: exit code 107, no handleSummary.
export const options = { vus: 1, iterations: 1 };

throw new Error('boom in init');

export default function () {}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
