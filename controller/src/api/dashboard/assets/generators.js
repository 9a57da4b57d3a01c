// "Generators over time" on a run page (docs/dashboard.md): each agent's process CPU %, RSS,
// VUs and requests/s over the run, one line per agent, with the moments an agent was at
// warning or overloaded shaded on the CPU chart and listed, as words, in a table. The run
// stream sends each agent's points as columns (the whole run downsampled when it opens, new
// heartbeats after); the page keeps at most AGENT_POINTS per agent, merging neighbours
// as the controller does (the highest CPU, RSS and VUs, the mean requests/s, the worst level).

import { el, fmtTime, fmtNum } from './format.js';

/** Points kept per agent (the controller opens a stream with at most as many). */
export const AGENT_POINTS = 600;
/** Overload periods listed (the newest); the table says how many more there were. */
const MAX_PERIODS = 100;
const LEVELS = ['ok', 'warning', 'overloaded'];
const COLUMNS = ['t', 'process_cpu', 'host_cpu', 'rss', 'vus', 'rps', 'level'];

/** The charts: title, unit, the column charted, how a value is shown. */
const AGENT_CHARTS = [
  ['Process CPU % per generator', '%', 'process_cpu', (v) => v],
  ['Process RSS per generator', 'MiB', 'rss', (v) => (v === null ? null : v / 1048576)],
  ['VUs per generator', '', 'vus', (v) => v],
  ['Requests/s per generator', '/s', 'rps', (v) => v],
];

/** A distinct, readable colour for the i-th agent. */
const agentColour = (i) => `hsl(${Math.round((i * 137.5) % 360)}, 70%, 38%)`;

const maxOf = (a, b) => (a === null || a === undefined ? b : b === null || b === undefined ? a : Math.max(a, b));

/** Two neighbouring points as one. */
function mergePair(s, i, j) {
  return {
    t: s.t[j], process_cpu: maxOf(s.process_cpu[i], s.process_cpu[j]), host_cpu: maxOf(s.host_cpu[i], s.host_cpu[j]),
    rss: maxOf(s.rss[i], s.rss[j]), vus: maxOf(s.vus[i], s.vus[j]), rps: (s.rps[i] + s.rps[j]) / 2,
    level: Math.max(s.level[i], s.level[j]),
  };
}

/** Halves a series' points by merging pairs (the newest point stays on its own). */
function halve(s) {
  const out = Object.fromEntries(COLUMNS.map((c) => [c, []]));
  const n = s.t.length;
  const push = (p) => COLUMNS.forEach((c) => out[c].push(p[c]));
  let i = 0;
  for (; i + 1 < n - 1; i += 2) push(mergePair(s, i, i + 1));
  for (; i < n; i++) push(Object.fromEntries(COLUMNS.map((c) => [c, s[c][i]])));
  return out;
}

/** An agent's state after an `agents` event: its new points appended, bounded. */
export function mergeAgent(had, a) {
  let series = a.series;
  if (had) {
    // A page that opens gets each agent's whole run read afresh, which may already hold the
    // newest heartbeats the next update brings: points not newer than the last are dropped.
    const last = had.series.t.length ? had.series.t[had.series.t.length - 1] : -Infinity;
    const from = a.series.t.findIndex((t) => t > last);
    const keep = from < 0 ? a.series.t.length : from;
    series = Object.fromEntries(COLUMNS.map((c) => [c, had.series[c].concat((a.series[c] || []).slice(keep))]));
  }
  while (series.t.length > AGENT_POINTS) series = halve(series);
  return { ...a, series };
}

/** The highest process CPU % of an agent's points (null: not reported). */
export function peakCpu(a) {
  return a.series.process_cpu.reduce((m, v) => maxOf(m, v), null);
}

/** Each agent's runs of points at warning or above: {agent, level, from, to, peak}. */
function overloadPeriods(agents) {
  const periods = [];
  for (const a of agents) {
    const s = a.series;
    let open = null;
    for (let i = 0; i <= s.t.length; i++) {
      const lv = i < s.t.length ? s.level[i] : 0;
      if (lv > 0) {
        if (!open) open = { agent: a.agent, level: lv, from: s.t[i], to: s.t[i], peak: s.process_cpu[i] };
        open.level = Math.max(open.level, lv);
        open.to = s.t[i];
        open.peak = maxOf(open.peak, s.process_cpu[i]);
      } else if (open) {
        periods.push(open);
        open = null;
      }
    }
  }
  return periods.sort((x, y) => x.from - y.from);
}

/** The charts and the overload table of a run page. */
export class AgentCharts {
  constructor(parent) {
    this.box = el('div', { class: 'charts', id: 'agent-charts' });
    this.overloads = el('tbody');
    const table = el('table', { id: 'run-overloads' },
      el('caption', {}, 'Overload warnings: when a generator reached warning (≥ 80 % CPU or memory) or overloaded (≥ 90 %)'),
      el('thead', {}, el('tr', {}, ['Agent', 'Level', 'From', 'To', 'Peak process CPU %'].map((h) => el('th', { scope: 'col' }, h)))),
      this.overloads);
    parent.append(this.box, el('div', { class: 'scroll' }, table));
    this.names = '';
    this.plots = [];
    this.grid = { xs: [], levels: [], step: 1 };
  }

  /** A chart of one column, one line per agent. */
  makePlot([title, unit, column], names) {
    const box = el('figure', { class: 'chart', 'data-column': column }, el('figcaption', {}, unit ? `${title} (${unit})` : title));
    this.box.append(box);
    const cpu = column === 'process_cpu';
    const self = this;
    const hooks = cpu ? {
      // Shade the moments a generator was at warning (amber) or overloaded (red); mark 80/90 %.
      drawClear: [(u) => {
        const { ctx, bbox } = u;
        const { xs, levels, step } = self.grid;
        ctx.save();
        for (let i = 0; i < xs.length; i++) {
          if (!levels[i]) continue;
          const x0 = u.valToPos(xs[i], 'x', true), x1 = u.valToPos(xs[i] + step, 'x', true);
          ctx.fillStyle = levels[i] === 2 ? 'rgba(207, 34, 46, 0.18)' : 'rgba(212, 167, 44, 0.22)';
          ctx.fillRect(x0, bbox.top, Math.max(1, x1 - x0), bbox.height);
        }
        ctx.restore();
      }],
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.setLineDash([6, 4]);
        for (const [v, colour] of [[80, '#7d4e00'], [90, '#a40e26']]) {
          const y = u.valToPos(v, 'y', true);
          ctx.strokeStyle = colour;
          ctx.beginPath();
          ctx.moveTo(bbox.left, y);
          ctx.lineTo(bbox.left + bbox.width, y);
          ctx.stroke();
        }
        ctx.restore();
      }],
    } : {};
    return new uPlot({
      width: this.width(), height: 180,
      scales: { x: { time: true }, ...(cpu ? { y: { range: [0, 100] } } : {}) },
      series: [{}, ...names.map((n, i) => ({ label: n, stroke: agentColour(i), width: 1.5, spanGaps: true }))],
      axes: [{}, { size: 60 }],
      legend: { live: true },
      hooks,
    }, [[], ...names.map(() => [])], box);
  }

  width() {
    const room = this.box.clientWidth || 1200;
    return Math.max(280, Math.min(600, room < 700 ? room - 8 : room / 2 - 24));
  }

  resize() {
    this.plots.forEach((p) => p.setSize({ width: this.width(), height: 180 }));
  }

  /** Redraws from the agents' points: one time grid for all of them (at most AGENT_POINTS
   * steps of whole seconds), each agent's highest value per step. */
  render(agents) {
    const names = agents.map((a) => a.agent);
    if (names.join('\n') !== this.names) {
      this.plots.forEach((p) => p.destroy());
      this.box.replaceChildren();
      this.names = names.join('\n');
      this.plots = agents.length ? AGENT_CHARTS.map((c) => this.makePlot(c, names)) : [];
    }
    let t0 = Infinity, t1 = -Infinity;
    for (const a of agents) {
      if (!a.series.t.length) continue;
      t0 = Math.min(t0, a.series.t[0]);
      t1 = Math.max(t1, a.series.t[a.series.t.length - 1]);
    }
    if (t0 === Infinity) t1 = t0 = 0;
    const stepMs = Math.max(1000, Math.ceil((t1 - t0 + 1) / AGENT_POINTS / 1000) * 1000);
    const n = agents.length ? Math.floor((t1 - t0) / stepMs) + 1 : 0;
    const xs = Array.from({ length: n }, (_, i) => (t0 + i * stepMs) / 1000);
    const levels = new Array(n).fill(0);
    const columns = AGENT_CHARTS.map(() => agents.map(() => new Array(n).fill(null)));
    agents.forEach((a, k) => {
      const s = a.series;
      for (let i = 0; i < s.t.length; i++) {
        const b = Math.floor((s.t[i] - t0) / stepMs);
        levels[b] = Math.max(levels[b], s.level[i]);
        AGENT_CHARTS.forEach(([, , column, show], c) => {
          columns[c][k][b] = maxOf(columns[c][k][b], show(s[column][i]));
        });
      }
    });
    this.grid = { xs, levels, step: stepMs / 1000 };
    this.plots.forEach((p, c) => p.setData([xs, ...columns[c]]));

    const periods = overloadPeriods(agents);
    const shown = periods.slice(-MAX_PERIODS);
    const rows = shown.map((p) => el('tr', { class: `row-${LEVELS[p.level]}`, 'data-agent': p.agent },
      el('th', { scope: 'row' }, p.agent),
      el('td', {}, el('span', { class: `badge ${p.level === 2 ? 'bad' : 'warn'}` },
        el('span', { 'aria-hidden': 'true' }, p.level === 2 ? '✖ ' : '⚠ '), LEVELS[p.level])),
      el('td', {}, fmtTime(new Date(p.from).toISOString())),
      el('td', {}, fmtTime(new Date(p.to).toISOString())),
      el('td', { class: 'num' }, fmtNum(p.peak))));
    if (periods.length > shown.length) {
      rows.unshift(el('tr', {}, el('td', { colspan: 5 }, `… and ${periods.length - shown.length} earlier periods`)));
    }
    this.overloads.replaceChildren(...(rows.length ? rows
      : [el('tr', {}, el('td', { colspan: 5 }, agents.length ? 'No generator reached 80 % during the run.' : 'No per-agent data.'))]));
  }
}
