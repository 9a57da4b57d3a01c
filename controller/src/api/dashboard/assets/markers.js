// Threshold crossings on the run page (docs/dashboard.md, "Thresholds"): the moments a
// threshold's verdict changed, as the controller recorded them (run events with a `threshold`,
// judged on the merged data every 2 s and at the end), drawn as vertical lines with a label on
// the chart of their metric, and listed as text under it (the line alone would be colour and
// position only).

import { el, fmtTime, fmtNum } from './format.js';

const FAIL_COLOUR = '#a40e26';
const PASS_COLOUR = '#1a7f37';

/** The crossings among a run's events, oldest first: {t (Unix ms), at, metric, threshold,
 * ok, stat, value}. */
export function crossingsOf(run) {
  return (run?.events || []).filter((e) => e.threshold).map((e) => ({ t: Date.parse(e.at), at: e.at, ...e.threshold }));
}

/** A threshold key's metric (`waiting_time{kind:odd}` is `waiting_time`). */
export const baseMetric = (key) => key.split('{')[0];

/** What a crossing is called on a chart: `✖ p(95)<200: 312.40`. */
export function crossingLabel(c) {
  const what = c.metric.includes('{') ? `${c.metric} ${c.threshold}` : c.threshold;
  return `${c.ok ? '✔' : '✖'} ${what}: ${fmtNum(c.value, 2)}`;
}

/** How the thresholds table and the list say when it crossed. */
export function crossingText(c) {
  return `${c.ok ? 'passes again' : 'fails'} from ${fmtTime(c.at)} (${c.stat} = ${fmtNum(c.value, 2)})`;
}

/** A chart's crossing markers: a uPlot `draw` hook and their list under the chart. */
export class Markers {
  constructor(figure) {
    this.items = [];
    this.list = el('ul', { class: 'markers', 'aria-label': 'Threshold crossings on this chart' });
    figure.append(this.list);
  }

  /** The crossings to mark (the caller redraws the chart). */
  set(crossings) {
    const key = JSON.stringify(crossings);
    if (key === this.key) return false;
    this.key = key;
    this.items = crossings;
    this.list.replaceChildren(...crossings.map((c) => el('li', {
      class: c.ok ? 'marker-pass' : 'marker-fail', 'data-t': String(c.t), 'data-ok': String(c.ok),
      'data-metric': c.metric, 'data-threshold': c.threshold,
    }, el('span', { 'aria-hidden': 'true' }, c.ok ? '✔ ' : '✖ '), `${c.metric} ${c.threshold} ${crossingText(c)}`)));
    return true;
  }

  /** Draws each marker inside the plot and notes where (CSS px from the plot's left) on its
   * list item, with the x scale's range on the list. */
  hook() {
    return (u) => {
      const { ctx, bbox } = u;
      const dpr = window.devicePixelRatio || 1;
      const items = this.list.children;
      this.list.dataset.xMin = String(u.scales.x.min);
      this.list.dataset.xMax = String(u.scales.x.max);
      this.list.dataset.width = (bbox.width / dpr).toFixed(1);
      ctx.save();
      ctx.font = `${Math.round(11 * dpr)}px system-ui, sans-serif`;
      this.items.forEach((c, i) => {
        const x = u.valToPos(c.t / 1000, 'x', true);
        const inside = x >= bbox.left - 1 && x <= bbox.left + bbox.width + 1;
        if (items[i]) items[i].dataset.x = inside ? ((x - bbox.left) / dpr).toFixed(1) : '';
        if (!inside) return;
        const colour = c.ok ? PASS_COLOUR : FAIL_COLOUR;
        ctx.strokeStyle = colour;
        ctx.fillStyle = colour;
        ctx.lineWidth = 2 * dpr;
        ctx.setLineDash([5 * dpr, 3 * dpr]);
        ctx.beginPath();
        ctx.moveTo(x, bbox.top);
        ctx.lineTo(x, bbox.top + bbox.height);
        ctx.stroke();
        const label = crossingLabel(c);
        const w = ctx.measureText(label).width;
        const lx = x + 4 * dpr + w > bbox.left + bbox.width ? x - 4 * dpr - w : x + 4 * dpr;
        ctx.fillText(label, lx, bbox.top + (12 + 13 * (i % 4)) * dpr);
      });
      ctx.restore();
    };
  }
}
