// A CommonJS test script: options and functions exported through `exports`, modules loaded
// with `require()`, which (as in k6) only works in the init context.
const { check } = require('k6');
const { Counter } = require('k6/metrics');
const consts = require('./lib/cjs_consts.js');

const late = new Counter('late_require_refused');

exports.options = { iterations: 3, vus: 1 };

exports.default = function () {
  let message = '';
  try {
    require('./lib/cjs_math.js');
  } catch (e) {
    message = String(e.message || e);
  }
  check(consts, {
    'required module': (c) => c.label === 'consts',
    'require outside init is refused': () => message.indexOf('only available in the init stage') >= 0,
  });
  if (message) late.add(1);
};

exports.handleSummary = function (data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
};
