// The three pages: Runs, a run, Agents (docs/dashboard.md). Each takes the `main` element and
// the status line, opens its live stream and returns a function that closes it.

import { Feed, api, authHeaders } from './feed.js';
import {
  el, statusBadge, resultBadge, healthBadge, fmtDuration, runSeconds, fmtTime, fmtBytes,
  fmtNum, fmtMs, isTerminal, keepingFocus, RUN_STATUS,
} from './format.js';
import { AgentCharts, mergeAgent, peakCpu } from './generators.js';
import { checksTreeOf, renderChecks } from './checks.js';
import { MetricChart } from './metrics.js';
import { RecentSeries, SPARK_POINTS } from './sparkline.js';
import { Markers, crossingsOf, crossingText, baseMetric } from './markers.js';

/** Points kept per chart: an hour at one point a second. Older points are dropped. */
export const MAX_POINTS = 3600;

function table(caption, headers, id) {
  const body = el('tbody');
  const t = el('table', { id },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h)))),
    body);
  return { t, body };
}

/** A run's test as the pages name it: its name and id (`load.js (test #3)`). */
function testName(r) {
  return r.test_name ? `${r.test_name} (test #${r.test_id})` : `test #${r.test_id}`;
}

function showError(status, what) {
  return (s) => {
    if (s.ok) { status(''); return; }
    const hint = s.code === 401 ? ' Enter an API token above.' : s.code === 403 ? ' This token\'s role does not allow it.' : '';
    status(`${what}: ${s.message}${hint}`, true);
  };
}

// ---------------------------------------------------------------------------------------------
// Runs

/** Who started a run, as the runs page shows it. */
const startedBy = (r) => r.started_by || '— (open API)';

/** The runs page; `query` holds its filters (`status`, `test`, `project`), kept in the
 * address (`#/runs?status=ended&project=2`) so that a filtered view can be linked. */
export function runsPage(main, status, query = new URLSearchParams()) {
  const filterStatus = el('select', { id: 'filter-status' },
    el('option', { value: 'all' }, 'all statuses'),
    el('option', { value: 'active' }, 'not ended (queued, running…)'),
    el('option', { value: 'ended' }, 'ended'),
    ...Object.entries(RUN_STATUS).map(([n, [name]]) => el('option', { value: n }, `${n} ${name}`)));
  const filterTest = el('input', { id: 'filter-test', type: 'search', placeholder: 'test name' });
  const filterProject = el('select', { id: 'filter-project' });
  const count = el('p', { id: 'runs-count' });
  const { t, body } = table('Runs, newest first (the newest 50)', ['Run', 'Test', 'Project', 'Started by', 'Status', 'Result', 'Started', 'Duration', 'VUs', 'Detail'], 'runs');
  main.replaceChildren(
    el('h1', {}, 'Runs'),
    el('div', { class: 'filters', role: 'search', 'aria-label': 'Filter the runs' },
      el('label', { for: 'filter-status' }, 'Status '), filterStatus, ' ',
      el('label', { for: 'filter-test' }, 'Test '), filterTest, ' ',
      el('label', { for: 'filter-project' }, 'Project '), filterProject),
    count, el('div', { class: 'scroll' }, t));
  const wanted = { status: query.get('status') || 'all', test: query.get('test') || '', project: query.get('project') || 'all' };
  filterStatus.value = wanted.status;
  if (filterStatus.value !== wanted.status) filterStatus.value = 'all';
  filterTest.value = wanted.test;
  let last = { runs: [], count: 0 };
  let projects = '';
  // The project list: every project of the listed runs, and the one asked for in the address.
  const renderProjects = () => {
    const ids = [...new Set(last.runs.map((r) => String(r.project_id)))];
    if (wanted.project !== 'all' && !ids.includes(wanted.project)) ids.push(wanted.project);
    ids.sort((a, b) => Number(a) - Number(b));
    if (ids.join() === projects) return;
    projects = ids.join();
    filterProject.replaceChildren(el('option', { value: 'all' }, 'all projects'),
      ...ids.map((p) => el('option', { value: p }, `project ${p}`)));
    filterProject.value = wanted.project;
  };
  // The filters into the address, without a new history entry (nor a hashchange).
  const remember = () => {
    wanted.status = filterStatus.value;
    wanted.test = filterTest.value.trim();
    wanted.project = filterProject.value;
    const q = new URLSearchParams();
    if (wanted.status !== 'all') q.set('status', wanted.status);
    if (wanted.test) q.set('test', wanted.test);
    if (wanted.project !== 'all') q.set('project', wanted.project);
    const hash = q.toString() ? `#/runs?${q}` : '#/runs';
    if (location.hash !== hash) history.replaceState(null, '', hash);
  };
  const render = () => {
    renderProjects();
    const f = filterStatus.value, q = filterTest.value.trim().toLowerCase(), p = filterProject.value;
    const rows = last.runs.filter((r) =>
      (f === 'all' || (f === 'active' && !isTerminal(r.run_status)) || (f === 'ended' && isTerminal(r.run_status)) || String(r.run_status) === f)
      && (!q || r.test_name.toLowerCase().includes(q))
      && (p === 'all' || String(r.project_id) === p));
    count.textContent = `${rows.length} shown of ${last.count} runs`;
    keepingFocus(body, () => body.replaceChildren(...rows.map((r) => el('tr', { 'data-run': r.id, 'data-project': r.project_id },
      el('td', {}, el('a', { href: `#/runs/${r.id}` }, `#${r.id}`)),
      el('td', { class: 'test' }, testName(r)),
      el('td', { class: 'project num' }, String(r.project_id)),
      el('td', { class: 'started-by' }, startedBy(r)),
      el('td', {}, statusBadge(r.run_status)),
      el('td', {}, resultBadge(r.result_status, isTerminal(r.run_status))),
      el('td', {}, fmtTime(r.started)),
      el('td', {}, fmtDuration(runSeconds(r))),
      el('td', { class: 'num' }, String(r.vus)),
      el('td', { class: 'detail' }, r.run_status === 0 && r.detail ? `waiting: ${r.detail}` : r.detail || r.note || '')))));
  };
  const changed = () => { remember(); render(); };
  filterStatus.addEventListener('change', changed);
  filterTest.addEventListener('input', changed);
  filterProject.addEventListener('change', changed);
  render();
  const feed = new Feed('/v1/live/runs', { runs: (d) => { last = d; render(); } }, showError(status, 'runs'));
  const timer = setInterval(render, 1000);
  return () => { feed.stop(); clearInterval(timer); };
}

// ---------------------------------------------------------------------------------------------
// Agents

export function agentsPage(main, status) {
  const { t, body } = table(`Connected agents (the small charts: each agent's last ${SPARK_POINTS / 60} minutes of heartbeats)`, ['Agent', 'Labels', 'State', 'Run', 'Health', 'Process CPU %', 'Process RSS', 'Host CPU %', 'Host memory %', 'VUs', 'Req/s', 'Heartbeat'], 'agents');
  const count = el('p', { id: 'agents-count' });
  main.replaceChildren(el('h1', {}, 'Agents'), count, el('div', { class: 'scroll' }, t));
  const recent = new RecentSeries();
  let agents = [];
  const render = () => {
    count.textContent = `${agents.length} agents connected`;
    const span = recent.span();
    keepingFocus(body, () => body.replaceChildren(...agents.map((a) => el('tr', { 'data-agent': a.name, class: a.health === 'ok' ? '' : `row-${a.health}` },
      el('th', { scope: 'row' }, a.name),
      el('td', {}, Object.entries(a.labels || {}).map(([k, v]) => `${k}=${v}`).join(', ') || '—'),
      el('td', a.state === 'draining' ? { title: 'got SIGTERM: finishes its part of its run and takes no new one' } : {}, a.state),
      el('td', {}, a.run_id ? el('a', { href: `#/runs/${a.run_id}` }, `#${a.run_id}`) : '—'),
      el('td', {}, healthBadge(a.health, a.health_cause)),
      recent.cell(a.name, 'process_cpu', span, fmtNum(a.process_cpu_percent)),
      recent.cell(a.name, 'rss', span, fmtBytes(a.process_rss_bytes)),
      el('td', { class: 'num' }, fmtNum(a.cpu_percent)),
      el('td', { class: 'num' }, fmtNum(a.memory_percent)),
      recent.cell(a.name, 'vus', span, String(a.active_vus)),
      recent.cell(a.name, 'rps', span, fmtNum(a.requests_per_second)),
      el('td', { class: 'num' }, `${fmtNum(a.heartbeat_age_s)} s ago`)))));
  };
  const feed = new Feed('/v1/live/agents', {
    agents: (d) => {
      agents = d.agents;
      recent.retain(new Set(agents.map((a) => a.name)));
      render();
    },
    recent: (d) => { recent.update(d); render(); },
  }, showError(status, 'agents'));
  return () => feed.stop();
}

// ---------------------------------------------------------------------------------------------
// A run

/** The charts of a run page: title, unit, series (field of a point, label), the metrics
 * whose thresholds' crossings it marks. */
const CHARTS = [
  ['VUs', '', [['vus', 'VUs']], ['vus', 'vus_max']],
  ['Throughput', '/s', [['requests_per_second', 'requests/s'], ['iterations_per_second', 'iterations/s']], ['http_reqs', 'iterations']],
  ['http_req_duration', 'ms', [['p50', 'p50'], ['p90', 'p90'], ['p95', 'p95'], ['p99', 'p99']], ['http_req_duration']],
  ['Failed requests', '%', [['failed_pct', 'http_req_failed %']], ['http_req_failed']],
];
const COLOURS = ['#1f6feb', '#b35900', '#8250df', '#cf222e', '#1a7f37'];

/** A chart of a run's points, bounded to MAX_POINTS. */
class Chart {
  constructor(parent, [title, unit, series, metrics]) {
    this.fields = series.map(([f]) => f);
    this.metrics = metrics;
    this.data = [[], ...series.map(() => [])];
    const box = el('figure', { class: 'chart', 'data-metrics': metrics.join(' ') }, el('figcaption', {}, unit ? `${title} (${unit})` : title));
    parent.append(box);
    this.parent = parent;
    this.markers = new Markers(box);
    this.plot = new uPlot({
      width: this.width(), height: 180,
      scales: { x: { time: true } },
      series: [{}, ...series.map(([, label], i) => ({ label, stroke: COLOURS[i], width: 1.5, spanGaps: false }))],
      axes: [{}, { size: 60 }],
      legend: { live: true },
      hooks: { draw: [this.markers.hook()] },
    }, this.data, box);
    // The plot before the list of its markers.
    box.append(this.markers.list);
  }

  /** Marks the crossings of this chart's metrics' thresholds. */
  setCrossings(crossings) {
    // setData draws the chart again, and its markers (redraw() right after a setData would
    // interfere with the drawing that one scheduled).
    if (this.markers.set(crossings.filter((c) => this.metrics.includes(baseMetric(c.metric))))) this.plot.setData(this.data);
  }

  /** Two charts a row on a wide window, one on a narrow one. */
  width() {
    const room = this.parent.clientWidth || 1200;
    return Math.max(280, Math.min(600, room < 700 ? room - 8 : room / 2 - 24));
  }

  resize() {
    this.plot.setSize({ width: this.width(), height: 180 });
  }

  /** Adds or replaces points (by time), keeps at most MAX_POINTS, redraws. */
  upsert(points) {
    const [xs, ...ys] = this.data;
    for (const p of points) {
      const x = p.t / 1000;
      let i = xs.length;
      while (i > 0 && xs[i - 1] > x) i--;
      const same = i > 0 && xs[i - 1] === x;
      const at = same ? i - 1 : i;
      if (!same) xs.splice(at, 0, x);
      this.fields.forEach((f, k) => {
        const v = p[f] ?? null;
        if (same) ys[k][at] = v; else ys[k].splice(at, 0, v);
      });
    }
    const extra = xs.length - MAX_POINTS;
    if (extra > 0) this.data.forEach((a) => a.splice(0, extra));
    this.plot.setData(this.data);
  }
}

/** Parses a threshold expression such as `p(95)<500` into stat, operator and value. */
function parseThreshold(expr) {
  const m = /^\s*([a-z]+(?:\(\d+(?:\.\d+)?\))?)\s*(<=|>=|==|===|!=|<|>)\s*(-?[\d.]+)\s*$/.exec(expr);
  return m ? { stat: m[1] === 'med' ? 'med' : m[1], op: m[2], limit: Number(m[3]) } : null;
}

function holds(v, op, limit) {
  switch (op) {
    case '<': return v < limit;
    case '<=': return v <= limit;
    case '>': return v > limit;
    case '>=': return v >= limit;
    case '!=': return v !== limit;
    default: return v === limit;
  }
}

/** Fetches an API document with the page's token and saves it as a file. */
async function download(path, name, status) {
  let resp;
  try {
    resp = await fetch(path, { headers: authHeaders() });
  } catch (e) {
    status(`${name}: ${e.message || e}`, true);
    return;
  }
  if (!resp.ok) {
    const body = await resp.json().catch(() => null);
    status(`${name}: ${body?.error?.message || `HTTP ${resp.status}`}`, true);
    return;
  }
  const url = URL.createObjectURL(await resp.blob());
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function runPage(main, status, id) {
  const title = el('h1', {}, `Run #${id}`);
  const head = el('div', { class: 'run-head' });
  const stop = el('button', { id: 'stop', type: 'button', class: 'danger', hidden: true }, 'Stop run');
  const downloads = el('p', { id: 'run-downloads', class: 'downloads' },
    el('button', { id: 'download-report', type: 'button', onclick: () => download(`/v1/test-runs/${id}/report`, `volley-run-${id}-report.html`, status) },
      'Download the HTML report'), ' ',
    el('button', { id: 'download-summary', type: 'button', onclick: () => download(`/v1/runs/${id}/summary`, `volley-run-${id}-summary.json`, status) },
      'Download the summary (JSON)'));
  const totals = el('dl', { id: 'totals', class: 'totals' });
  const charts = el('div', { class: 'charts' });
  const anyMetric = el('div', { id: 'any-metric' });
  const thresholds = table('Thresholds (when one crossed: from the controller, judged on the merged data every 2 s and at the end)', ['Metric', 'Threshold', 'Value', 'Result', 'Crossed'], 'thresholds');
  const agents = table('Generators (per agent, latest heartbeat; peak over the run)', ['Agent', 'Segment', 'Health', 'Process CPU %', 'Peak process CPU %', 'Process RSS', 'Host CPU %', 'VUs', 'Req/s', 'Heartbeats'], 'run-agents');
  const overTime = el('div', { class: 'generators-over-time' });
  const checks = el('div', { id: 'checks', class: 'checks-tree' });
  const timeline = table('Status timeline', ['At', 'From', 'To', 'Reason'], 'timeline');
  const events = table('Events', ['At', 'Level', 'Message'], 'events');
  main.replaceChildren(title, head, stop, downloads, el('h2', {}, 'Totals'), totals, el('h2', {}, 'Over time'), charts,
    el('h2', {}, 'Any metric over time'), anyMetric,
    el('h2', {}, 'Thresholds'), el('div', { class: 'scroll' }, thresholds.t),
    el('h2', {}, 'Groups and checks'), checks,
    el('h2', {}, 'Generators'), el('div', { class: 'scroll' }, agents.t),
    el('h3', {}, 'Generators over time'), overTime,
    el('h2', {}, 'Status and events'), el('div', { class: 'scroll' }, timeline.t), el('div', { class: 'scroll' }, events.t));
  const plots = CHARTS.map((c) => new Chart(charts, c));
  const agentCharts = new AgentCharts(overTime);
  const metricChart = new MetricChart(anyMetric);
  let run = null, live = null, summary = null, liveChecks = null, crossings = [];
  const perAgent = new Map();

  stop.addEventListener('click', async () => {
    if (!window.confirm(`Stop run #${id}? Its agents stop gracefully; the run ends ABORTED_BY_USER.`)) return;
    stop.disabled = true;
    const r = await api('POST', `/loadtests/v2/runs/${id}/stop`, {});
    if (r.status !== 200) {
      status(`stop: ${r.body?.error?.message || `HTTP ${r.status}`}`, true);
      stop.disabled = false;
    } else {
      status(`Stop requested for run #${id}`);
    }
  });

  const metricValue = (metric, stat) => {
    const m = (summary?.metrics || live?.metrics || {})[metric];
    return m?.values?.[stat];
  };

  const renderHead = () => {
    if (!run) return;
    const secs = runSeconds(run);
    head.replaceChildren(el('dl', { class: 'facts' },
      el('dt', {}, 'Status'), el('dd', { id: 'run-status' }, statusBadge(run.run_status)),
      el('dt', {}, 'Result'), el('dd', { id: 'run-result' }, resultBadge(run.result_status, isTerminal(run.run_status))),
      el('dt', {}, 'Test'), el('dd', { id: 'run-test' }, testName(run)),
      el('dt', {}, 'Project'), el('dd', { id: 'run-project' }, String(run.project_id)),
      el('dt', {}, 'Started by'), el('dd', { id: 'run-started-by' }, startedBy(run)),
      el('dt', {}, 'Started'), el('dd', {}, fmtTime(run.started)),
      el('dt', {}, 'Duration'), el('dd', {}, fmtDuration(secs)),
      el('dt', {}, 'VUs'), el('dd', {}, String(run.vus)),
      run.error_detail ? [el('dt', {}, 'Why it ended'), el('dd', {}, run.error_detail)] : null,
      run.note ? [el('dt', {}, 'Note'), el('dd', {}, run.note)] : null));
    stop.hidden = isTerminal(run.run_status);
  };

  const renderTotals = () => {
    const reqs = metricValue('http_reqs', 'count');
    const rate = metricValue('http_reqs', 'rate');
    const failed = metricValue('http_req_failed', 'rate');
    const iters = metricValue('iterations', 'count');
    const src = summary ? 'end-of-test summary' : live ? 'live, so far' : 'no data yet';
    totals.replaceChildren(
      el('dt', {}, 'Requests'), el('dd', { id: 'total-requests' }, reqs === undefined ? '—' : String(Math.round(reqs))),
      el('dt', {}, 'Requests/s'), el('dd', { id: 'total-rps' }, fmtNum(rate, 2)),
      el('dt', {}, 'p95 http_req_duration'), el('dd', { id: 'total-p95' }, fmtMs(metricValue('http_req_duration', 'p(95)'))),
      el('dt', {}, 'p90 http_req_duration'), el('dd', { id: 'total-p90' }, fmtMs(metricValue('http_req_duration', 'p(90)'))),
      el('dt', {}, 'Failed requests'), el('dd', { id: 'total-failed' }, failed === undefined ? '—' : `${(failed * 100).toFixed(2)} %`),
      el('dt', {}, 'Iterations'), el('dd', { id: 'total-iterations' }, iters === undefined ? '—' : String(Math.round(iters))),
      el('dt', {}, 'Source'), el('dd', { id: 'totals-source' }, src));
  };

  const renderThresholds = () => {
    const conf = run?.config?.thresholds || {};
    const rows = [];
    for (const [metric, list] of Object.entries(conf)) {
      for (const item of [].concat(list)) {
        const expr = typeof item === 'string' ? item : item?.threshold;
        if (!expr) continue;
        const p = parseThreshold(expr);
        const [name] = metric.split('{');
        const value = p && name === metric ? metricValue(metric, p.stat) : undefined;
        let ok = summary?.metrics?.[metric]?.thresholds?.[expr]?.ok;
        let when = 'at the end';
        if (ok === undefined && value !== undefined && p) { ok = holds(value, p.op, p.limit); when = 'so far'; }
        const result = ok === undefined ? el('span', { class: 'badge neutral' }, '… no data')
          : ok ? el('span', { class: 'badge good' }, el('span', { 'aria-hidden': 'true' }, '✔ '), `pass (${when})`)
            : el('span', { class: 'badge bad' }, el('span', { 'aria-hidden': 'true' }, '✖ '), `fail (${when})`);
        const crossed = crossings.filter((c) => c.metric === metric && c.threshold === expr);
        rows.push(el('tr', { 'data-metric': metric, 'data-threshold': expr }, el('th', { scope: 'row' }, metric), el('td', {}, expr), el('td', { class: 'num' }, fmtNum(value, 2)), el('td', {}, result),
          el('td', { class: 'crossed' }, crossed.length ? crossed.flatMap((c, i) => [i ? el('br') : null, el('span', { 'data-t': String(c.t), 'data-ok': String(c.ok) }, crossingText(c))]) : 'not crossed')));
      }
    }
    thresholds.body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 5 }, 'This run has no thresholds.'))]));
  };

  const renderAgents = () => {
    if (!perAgent.size) {
      agents.body.replaceChildren(el('tr', {}, el('td', { colspan: 10 }, 'No per-agent data (a local run has no agents).')));
      agentCharts.render([]);
      return;
    }
    agents.body.replaceChildren(...[...perAgent.values()].map((a) => {
      const s = a.latest || {};
      return el('tr', { 'data-agent': a.agent, class: a.health === 'ok' ? '' : `row-${a.health}` },
        el('th', { scope: 'row' }, a.agent),
        el('td', {}, a.segment),
        el('td', {}, healthBadge(a.health, a.health_cause)),
        el('td', { class: 'num' }, fmtNum(s.process_cpu_percent)),
        el('td', { class: 'num peak-cpu' }, fmtNum(peakCpu(a))),
        el('td', { class: 'num' }, fmtBytes(s.process_rss_bytes)),
        el('td', { class: 'num' }, fmtNum(s.cpu_percent)),
        el('td', { class: 'num' }, String(s.active_vus ?? '—')),
        el('td', { class: 'num' }, fmtNum(s.requests_per_second)),
        el('td', { class: 'num' }, String(a.samples)));
    }));
    agentCharts.render([...perAgent.values()]);
  };

  // The summary's tree once the run has ended, else the live one.
  const renderCheckTree = () => {
    if (summary?.root_group) renderChecks(checks, summary.root_group);
    else renderChecks(checks, liveChecks ? checksTreeOf(liveChecks.checks) : null, liveChecks?.more);
  };

  const renderEvents = () => {
    timeline.body.replaceChildren(...(run?.transitions || []).map((t) => el('tr', {},
      el('td', {}, fmtTime(t.at)), el('td', {}, statusBadge(t.from)), el('td', {}, statusBadge(t.to)), el('td', {}, t.reason))));
    const evs = run?.events || [];
    events.body.replaceChildren(...(evs.length ? evs.map((e) => el('tr', { class: `level-${e.level}` },
      el('td', {}, fmtTime(e.at)), el('td', {}, e.level), el('td', {}, e.message)))
      : [el('tr', {}, el('td', { colspan: 3 }, 'No events.'))]));
  };

  const feed = new Feed(`/v1/live/runs/${id}`, {
    run: (r) => {
      run = r;
      crossings = crossingsOf(r);
      plots.forEach((c) => c.setCrossings(crossings));
      metricChart.setCrossings(crossings);
      title.textContent = `Run #${id} of ${testName(r)}`;
      renderHead(); renderThresholds(); renderEvents();
    },
    points: (d) => {
      const pts = d.points.map((p) => ({ ...p, failed_pct: p.failed_rate === null ? null : p.failed_rate * 100 }));
      plots.forEach((c) => c.upsert(pts));
    },
    metrics: (d) => metricChart.update(d),
    totals: (t) => { live = t; renderTotals(); renderThresholds(); },
    summary: (s) => { summary = s; renderTotals(); renderThresholds(); renderCheckTree(); },
    checks: (c) => { liveChecks = c; renderCheckTree(); },
    agents: (d) => {
      for (const a of d.agents) perAgent.set(a.agent, mergeAgent(perAgent.get(a.agent), a));
      renderAgents();
    },
    end: () => { status(`Run #${id} has ended; this page shows its final figures.`); },
    gone: (g) => status(g.message, true),
  }, showError(status, `run #${id}`));
  renderTotals();
  renderAgents();
  renderCheckTree();
  const timer = setInterval(renderHead, 1000);
  const resize = () => { plots.forEach((c) => c.resize()); agentCharts.resize(); metricChart.resize(); };
  window.addEventListener('resize', resize);
  return () => { feed.stop(); clearInterval(timer); window.removeEventListener('resize', resize); };
}
