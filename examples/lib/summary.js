// A handleSummary helper for machine-readable results: the whole summary data as JSON, written
// to the file named by `-e OUT=<path>` (printed to stdout when OUT is not set).
// Use it with: `export { handleSummary } from './lib/summary.js';`
export function handleSummary(data) {
  const text = JSON.stringify(data, null, 2);
  return __ENV.OUT ? { [__ENV.OUT]: text } : { stdout: `${text}\n` };
}
