// A handleSummary helper for machine-readable results: the whole summary data as JSON, written
// to the file named by `-e OUT=<path>`. Without OUT it returns nothing, and the run prints the
// usual end-of-test summary (as k6 does when handleSummary returns undefined).
// Use it with: `export { handleSummary } from './lib/summary.js';`
export function handleSummary(data) {
  if (!__ENV.OUT) {
    return undefined;
  }
  return { [__ENV.OUT]: JSON.stringify(data, null, 2) };
}
