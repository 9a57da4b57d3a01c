// CommonJS requiring an ES module gets its namespace.
const util = require('./esm_util.js');
module.exports = { fmt: function (x) { return util.default(x) + util.unit; } };
