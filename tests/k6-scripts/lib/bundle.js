// A browserify-style bundle: a table of module functions, each with its own `require`, and the
// entry module's exports assigned to `module.exports`.
(function (table, entry) {
  const loaded = {};
  function load(id) {
    if (loaded[id]) return loaded[id].exports;
    const m = (loaded[id] = { exports: {} });
    table[id][0].call(m.exports, function (dep) { return load(table[id][1][dep]); }, m, m.exports);
    return m.exports;
  }
  module.exports = load(entry);
})({
  1: [function (require, module, exports) {
    const words = require('./words');
    exports.shout = function (s) { return s.toUpperCase() + words.bang; };
    exports.count = function (s) { return s.split(' ').length; };
  }, { './words': 2 }],
  2: [function (require, module, exports) {
    module.exports = { bang: '!' };
  }, {}],
}, 1);
