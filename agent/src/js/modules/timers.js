// The `k6/timers` module: the same functions as the globals of the same names.
const V = globalThis.__volley;

export const setTimeout = V.setTimeout;
export const clearTimeout = V.clearTimeout;
export const setInterval = V.setInterval;
export const clearInterval = V.clearInterval;

export default { setTimeout, clearTimeout, setInterval, clearInterval };
