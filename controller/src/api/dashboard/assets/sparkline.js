// The Agents page's small charts (docs/dashboard.md, "Agents"): per agent, its process CPU %,
// RSS, VUs and requests/s over the last few minutes, one point per heartbeat, as the agents
// stream's `recent` events send them (every agent's last points when the stream opens, new
// ones after). Each chart is a small SVG line beside the figure it charts, so the value is
// always there as text; its label says what it shows and the range, for screen readers.

import { el } from './format.js';

/** Points kept per agent (the controller keeps as many: three minutes at one a second). */
export const SPARK_POINTS = 180;
/** The columns charted: the column, what it is, how a value is shown in the label. */
export const SPARK_COLUMNS = {
  process_cpu: ['process CPU %', (v) => `${v.toFixed(1)} %`],
  rss: ['process RSS', (v) => `${(v / 1048576).toFixed(1)} MiB`],
  vus: ['VUs', (v) => String(v)],
  rps: ['requests/s', (v) => v.toFixed(1)],
};
const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 64;
const HEIGHT = 20;
/** The shortest time a chart spans (a newly connected cluster's points do not fill it). */
const MIN_SPAN_MS = 60000;

/** Each agent's recent heartbeats as columns, bounded. */
export class RecentSeries {
  constructor() {
    this.agents = new Map();
    this.max = SPARK_POINTS;
  }

  /** A `recent` event: new points appended (a reset starts over), older ones dropped. */
  update(d) {
    if (d.reset) this.agents.clear();
    this.max = Math.min(d.max_points || SPARK_POINTS, 3600);
    for (const a of d.agents) {
      let s = this.agents.get(a.agent);
      if (!s) {
        s = { t: [], process_cpu: [], rss: [], vus: [], rps: [] };
        this.agents.set(a.agent, s);
      }
      const last = s.t.length ? s.t[s.t.length - 1] : -Infinity;
      for (let i = 0; i < a.t.length; i++) {
        if (a.t[i] <= last) continue;
        for (const c of ['t', ...Object.keys(SPARK_COLUMNS)]) s[c].push(a[c][i] ?? null);
      }
      const extra = s.t.length - this.max;
      if (extra > 0) for (const c of Object.keys(s)) s[c].splice(0, extra);
    }
  }

  /** Forgets the agents that are no longer connected. */
  retain(names) {
    for (const name of [...this.agents.keys()]) if (!names.has(name)) this.agents.delete(name);
  }

  /** The time every chart spans, the same for all: from the oldest point kept (at least
   * MIN_SPAN_MS, at most the points kept) to the newest, Unix ms. */
  span() {
    let from = Infinity, to = -Infinity;
    for (const s of this.agents.values()) {
      if (!s.t.length) continue;
      from = Math.min(from, s.t[0]);
      to = Math.max(to, s.t[s.t.length - 1]);
    }
    return { end: to, ms: Math.min(this.max * 1000, Math.max(MIN_SPAN_MS, to - from)) };
  }

  /** The small chart of `agent`'s `column` over `span`; null when the agent has no points. */
  chart(agent, column, { end, ms: span }) {
    const s = this.agents.get(agent);
    if (!s || !s.t.length) return null;
    const values = s[column];
    const shown = values.filter((v) => v !== null);
    const top = Math.max(0, ...shown) || 1;
    let d = '', pen = 'M';
    s.t.forEach((t, i) => {
      const v = values[i];
      if (v === null) { pen = 'M'; return; }
      const x = Math.max(0, WIDTH - ((end - t) / span) * WIDTH);
      const y = HEIGHT - 2 - (v / top) * (HEIGHT - 4);
      d += `${pen}${x.toFixed(1)},${y.toFixed(1)} `;
      pen = 'L';
    });
    const [what, fmt] = SPARK_COLUMNS[column];
    const latest = values[values.length - 1];
    const label = shown.length
      ? `${what} over the last ${Math.round((s.t[s.t.length - 1] - s.t[0]) / 1000)} s: ${shown.length} heartbeats, from ${fmt(Math.min(...shown))} to ${fmt(Math.max(...shown))}, latest ${latest === null ? 'not reported' : fmt(latest)}`
      : `${what}: not reported`;
    const svg = document.createElementNS(SVG, 'svg');
    for (const [k, v] of Object.entries({
      class: 'spark', width: WIDTH, height: HEIGHT, viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img',
      'aria-label': label, 'data-column': column, 'data-points': String(s.t.length),
      'data-latest': latest === null ? '' : String(latest),
      // The newest few points, `[[t, value], ...]`: what a heartbeat the API served looks like here.
      'data-recent': JSON.stringify(s.t.slice(-5).map((t, i) => [t, values[values.length - Math.min(5, s.t.length) + i]])),
    })) svg.setAttribute(k, v);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = label;
    const base = document.createElementNS(SVG, 'line');
    for (const [k, v] of Object.entries({ class: 'spark-base', x1: 0, x2: WIDTH, y1: HEIGHT - 0.5, y2: HEIGHT - 0.5 })) base.setAttribute(k, v);
    const line = document.createElementNS(SVG, 'path');
    line.setAttribute('class', 'spark-line');
    line.setAttribute('d', d.trim());
    svg.append(title, base, line);
    return svg;
  }

  /** A table cell: the figure as text, its small chart beside it. */
  cell(agent, column, span, text) {
    return el('td', { class: 'num spark-cell' }, el('span', { class: 'spark-value' }, text), ' ', this.chart(agent, column, span));
  }
}
