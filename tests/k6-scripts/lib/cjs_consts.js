// CommonJS replacing `module.exports` as a whole.
module.exports = { factor: 10, label: 'consts' };
