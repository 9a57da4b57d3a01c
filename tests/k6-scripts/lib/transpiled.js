// What TypeScript or Babel emit for ES modules compiled to CommonJS: `__esModule` marks that the
// default import is `exports.default`.
'use strict';
Object.defineProperty(exports, '__esModule', { value: true });
exports.greeting = void 0;
exports.default = function greet(name) { return 'hello ' + name; };
exports.greeting = 'hi';
