// An ES module that CommonJS code requires.
export const unit = 'ms';
export default function twice(x) { return 2 * x; }
