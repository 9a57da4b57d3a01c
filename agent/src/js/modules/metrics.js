// The `k6/metrics` module: Counter, Gauge, Rate, Trend.
const V = globalThis.__volley;

function make(type) {
  return class {
    constructor(name, isTime) {
      if (typeof name !== 'string' || name === '') {
        throw new TypeError(`${type} needs a metric name as its first argument`);
      }
      this.name = name;
      this.type = type;
      this._id = V.metricRegister(name, type, !!isTime);
    }
    add(value, tags) {
      if (typeof value === 'boolean') value = value ? 1 : 0;
      let n = value === null ? NaN : Number(value);
      if (tags !== undefined && tags !== null) checkTags(this.name, tags);
      // A rate counts ±Infinity as k6 does, as a value that is not zero: a pass.
      if (type === 'rate' && (n === Infinity || n === -Infinity)) n = 1;
      // k6's words for what is not a number (null included); Infinity goes on to the native,
      // which refuses it for the other types (docs/k6-compatibility.md#strictness).
      const invalid = Number.isNaN(n)
        ? `'${String(value)}' is an invalid value for metric '${this.name}', a number or a boolean value is expected`
        : null;
      return V.metricAdd(this._id, n, tags === undefined ? null : tags, invalid);
    }
  };
}

// k6 throws on a tag value that is not a string, a number or a boolean (null included).
function checkTags(name, tags) {
  for (const k of Object.keys(tags)) {
    const t = typeof tags[k];
    if (t !== 'string' && t !== 'number' && t !== 'boolean') {
      const e = new Error(`cannot add tags for the '${name}' custom metric: invalid value for metric tag '${k}': only String, Boolean and Number types are accepted as a metric tag values`);
      Object.defineProperty(e, 'name', { value: 'GoError', writable: true, configurable: true });
      e.value = {};
      throw e;
    }
  }
}

export const Counter = make('counter');
export const Gauge = make('gauge');
export const Rate = make('rate');
export const Trend = make('trend');
export default { Counter, Gauge, Rate, Trend };
