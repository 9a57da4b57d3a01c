// A local module imported by data_and_modules.js (`import ... from './lib/helper.js'`), showing
// that relative imports resolve against the importing script's folder.
export const GREETING = 'hello';

export function greet(name) {
  return `${GREETING}, ${name}!`;
}
