// CommonJS with `exports.x = …`, requiring a built-in and a sibling file.
const encoding = require('k6/encoding');
const consts = require('./cjs_consts.js');

exports.add = function (a, b) { return a + b; };
exports.scale = function (x) { return x * consts.factor; };
exports.b64 = function (s) { return encoding.b64encode(s); };
exports.thisIsExports = this === exports;
