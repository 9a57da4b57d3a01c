// "Any metric over time" on a run page (docs/dashboard.md): every metric of the run — custom
// Trends, Counters, Rates and Gauges too — and each submetric its thresholds name, chosen from
// a list and charted. The run stream's `metrics` events carry each series as columns (`t`
// and one column per field), at most 600 points each: the whole run when the stream opens or
// when the controller merged its points into longer ones (`reset`), new or changed points after.

import { el } from './format.js';
import { Markers } from './markers.js';

/** Points kept per series (the controller sends at most 600; newer ones come on top). */
const METRIC_POINTS = 1200;
/** What the chart draws of each type: the fields, how a value is shown, the unit. */
const DRAWN = {
  trend: [['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'], (v) => v],
  counter: [['rate'], (v) => v],
  rate: [['rate'], (v) => (v === null ? null : v * 100)],
  gauge: [['value', 'min', 'max'], (v) => v],
};
const METRIC_COLOURS = ['#1f6feb', '#1a7f37', '#b35900', '#8250df', '#cf222e', '#57606a'];
/** Metric names k6 makes itself; the list opens on the first other one (a custom metric). */
const BUILTIN = /^(http_|iteration|data_|checks$|vus|dropped_iterations$|group_duration$|ws_|grpc_|browser_)/;

function unitOf(s) {
  if (s.type === 'trend') return s.contains === 'time' ? 'ms' : '';
  if (s.type === 'counter') return '/s';
  if (s.type === 'rate') return '%';
  return s.contains === 'time' ? 'ms' : '';
}

/** Adds or replaces `add`'s points in `into` (both column series), by time. */
function upsertSeries(into, add) {
  for (let i = 0; i < add.t.length; i++) {
    const t = add.t[i];
    let at = into.t.length;
    while (at > 0 && into.t[at - 1] > t) at--;
    const same = at > 0 && into.t[at - 1] === t;
    if (same) {
      into.v.forEach((c, k) => { c[at - 1] = add.v[k][i]; });
    } else {
      into.t.splice(at, 0, t);
      into.v.forEach((c, k) => c.splice(at, 0, add.v[k][i]));
    }
  }
  const extra = into.t.length - METRIC_POINTS;
  if (extra > 0) {
    into.t.splice(0, extra);
    into.v.forEach((c) => c.splice(0, extra));
  }
}

export class MetricChart {
  constructor(parent) {
    this.series = new Map();
    this.crossings = [];
    this.generation = null;
    this.names = '';
    this.plot = null;
    this.shown = null;
    this.select = el('select', { id: 'metric-select' });
    this.note = el('p', { id: 'metric-note', class: 'muted' }, 'No metric data yet.');
    this.box = el('div', { class: 'charts', id: 'metric-chart' });
    parent.append(el('p', { class: 'filters' }, el('label', { for: 'metric-select' }, 'Metric '), this.select), this.note, this.box);
    this.select.addEventListener('change', () => this.draw());
  }

  /** The run's threshold crossings (those of the metric shown are marked). */
  setCrossings(crossings) {
    this.crossings = crossings;
    this.draw();
  }

  /** A `metrics` event. */
  update(d) {
    if (d.reset || d.generation !== this.generation) this.series.clear();
    this.generation = d.generation;
    this.pointMs = d.point_ms;
    for (const s of d.series) {
      const had = this.series.get(s.name);
      if (had && had.type === s.type) upsertSeries(had, s);
      else this.series.set(s.name, { ...s, t: [...s.t], v: s.v.map((c) => [...c]) });
    }
    this.renderList();
    this.draw();
  }

  renderList() {
    const names = [...this.series.keys()].sort();
    if (names.join('\n') === this.names) return;
    this.names = names.join('\n');
    const was = this.select.value;
    this.select.replaceChildren(...names.map((n) => el('option', { value: n }, `${n} (${this.series.get(n).type})`)));
    this.select.value = names.includes(was) ? was
      : names.find((n) => !BUILTIN.test(n)) || (names.includes('http_req_duration') ? 'http_req_duration' : names[0] || '');
  }

  width() {
    const room = this.box.clientWidth || 1200;
    return Math.max(280, Math.min(1000, room - 8));
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: this.width(), height: 220 });
  }

  draw() {
    const s = this.series.get(this.select.value);
    if (!s) return;
    const [wanted, show] = DRAWN[s.type] || [s.fields, (v) => v];
    const fields = wanted.filter((f) => s.fields.includes(f));
    const data = [s.t.map((t) => t / 1000), ...fields.map((f) => s.v[s.fields.indexOf(f)].map((v) => show(v ?? null)))];
    const unit = unitOf(s);
    const secs = (this.pointMs || 1000) / 1000;
    this.note.textContent = `${s.name}: a ${s.type}, ${s.t.length} points of ${secs} s${s.type === 'counter' ? ' (per second)' : ''}.`;
    if (!this.plot || this.shown !== s.name) {
      if (this.plot) this.plot.destroy();
      this.box.replaceChildren();
      const box = el('figure', { class: 'chart', 'data-metric': s.name }, el('figcaption', {}, unit ? `${s.name} (${unit})` : s.name));
      this.box.append(box);
      this.markers = new Markers(box);
      this.markers.set(this.crossings.filter((c) => c.metric === s.name));
      this.plot = new uPlot({
        width: this.width(), height: 220,
        scales: { x: { time: true } },
        series: [{}, ...fields.map((f, i) => ({ label: f, stroke: METRIC_COLOURS[i % METRIC_COLOURS.length], width: 1.5, spanGaps: false }))],
        axes: [{}, { size: 60 }],
        legend: { live: true },
        hooks: { draw: [this.markers.hook()] },
      }, data, box);
      box.append(this.markers.list);
      this.shown = s.name;
    } else {
      // The markers first: setData draws the chart, and them.
      this.markers.set(this.crossings.filter((c) => c.metric === s.name));
      this.plot.setData(data);
    }
    this.box.firstChild.dataset.points = String(s.t.length);
  }
}
