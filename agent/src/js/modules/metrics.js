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
      return V.metricAdd(this._id, Number(value), tags === undefined ? null : tags);
    }
  };
}

export const Counter = make('counter');
export const Gauge = make('gauge');
export const Rate = make('rate');
export const Trend = make('trend');
export default { Counter, Gauge, Rate, Trend };
