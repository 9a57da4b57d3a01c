// A library in the UMD shape bundlers emit: CommonJS when `module` exists, AMD or a global
// otherwise.
(function (root, factory) {
  if (typeof exports === 'object' && typeof module === 'object') module.exports = factory();
  else if (typeof define === 'function' && define.amd) define([], factory);
  else if (typeof exports === 'object') exports['formatLib'] = factory();
  else root['formatLib'] = factory();
})(this, function () {
  function pad(n, width) {
    let s = String(n);
    while (s.length < width) s = '0' + s;
    return s;
  }
  return { pad: pad, textSummary: function (d) { return 'iterations=' + d.n; } };
});
