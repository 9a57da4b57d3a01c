// Drives the dashboard in headless Chromium for tests/tests/dashboard.rs: the Rust test starts
// a controller, two agents and two runs, then runs this with what the API says in DASH_*
// variables. Every check names what it waited for; any console error or page error fails.
// Prints one line `DASHBOARD-OK` at the end, or exits 1 with the reason.
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('DASH_URL');
const TOKEN = env('DASH_TOKEN');
const DONE = env('DASH_DONE_RUN');
const REQS = env('DASH_REQUESTS');
const P95 = Number(env('DASH_P95'));
const LIVE = env('DASH_LIVE_RUN');
// Who started each run (its token's name) and its project, as the API has them.
const DONE_BY = env('DASH_DONE_BY');
// When the finished run's threshold began to fail, as the API has it, and the threshold.
const CROSSED_AT = Date.parse(env('DASH_CROSSED_AT'));
const CROSSED = env('DASH_CROSSED');
const DONE_PROJECT = env('DASH_DONE_PROJECT');
const LIVE_BY = env('DASH_LIVE_BY');
const LIVE_PROJECT = env('DASH_LIVE_PROJECT');
const AGENTS = env('DASH_AGENTS').split(',');
const TEST_NAME = env('DASH_TEST_NAME');
// gen-1=12.3,gen-2=8.0: each agent's highest process CPU % over the run, as the API has it.
const PEAKS = Object.fromEntries(env('DASH_PEAKS').split(',').map((p) => p.split('=')));
// The agents that reached 80 % at some heartbeat, as the API has it.
const LOADED = env('DASH_LOADED').split(',').filter(Boolean);
// ::front page::status is 200=40/0,...: the summary's checks, passes/fails.
const CHECKS = env('DASH_CHECKS').split(',').map((c) => {
  const [path, counts] = c.split('=');
  const [passes, fails] = counts.split('/');
  return { path, passes, fails };
});
const SHOTS = env('DASH_SHOTS');
// A custom Trend of the finished run, the other metrics it must list, and how many points the
// run's stream has of the trend.
const METRIC = env('DASH_METRIC');
const METRIC_LISTED = env('DASH_METRIC_LISTED').split(',');
const METRIC_POINTS = env('DASH_METRIC_POINTS');
const WAIT = { timeout: 20000 };
/** The Agents page's small charts, by the GET /v1/agents field each one's newest point is. */
const SPARKS = { process_cpu: 'process_cpu_percent', rss: 'process_rss_bytes', vus: 'active_vus', rps: 'requests_per_second' };

/** Checks that each agent's small charts have a point for the heartbeat GET /v1/agents serves
 * now, with its figures (the page follows the API by up to a second, and keeps each chart's
 * newest points in `data-recent`), and that the text beside each chart is its newest point. */
async function sparksMatchTheApi(page, agents, state) {
  const api = await page.evaluate(async (token) => {
    const resp = await fetch('/v1/agents', { headers: { Authorization: `Token ${token}`, Accept: 'application/json' } });
    const body = await resp.json();
    const now = Date.now();
    return body.agents.map((a) => ({ ...a, heartbeat_at: now - a.heartbeat_age_s * 1000 }));
  }, TOKEN);
  let last = '';
  for (let i = 0; i < 40; i++) {
    last = await page.evaluate(([names, fields, wanted, api]) => {
      const diffs = [];
      for (const name of names) {
        const a = api.find((x) => x.name === name);
        if (!a) { diffs.push(`${name} not in the API`); continue; }
        if (a.state !== wanted) diffs.push(`${name} is ${a.state} in the API`);
        const row = document.querySelector(`#agents tr[data-agent="${name}"]`);
        if (!row) { diffs.push(`${name} not on the page`); continue; }
        for (const [column, field] of Object.entries(fields)) {
          const svg = row.querySelector(`svg.spark[data-column="${column}"]`);
          if (!svg) { diffs.push(`${name} has no ${column} chart`); continue; }
          const recent = JSON.parse(svg.dataset.recent);
          const point = recent.find(([t]) => Math.abs(t - a.heartbeat_at) < 250);
          const want = a[field] ?? null;
          if (!point) diffs.push(`${name} ${column}: no point for the API's heartbeat at ${a.heartbeat_at} in ${svg.dataset.recent}`);
          else if (point[1] !== want) diffs.push(`${name} ${column}: chart ${point[1]}, API ${want}`);
          const text = svg.parentElement.querySelector('.spark-value')?.textContent;
          const latest = svg.dataset.latest === '' ? null : Number(svg.dataset.latest);
          const shown = latest === null ? '—' : column === 'vus' ? String(latest) : column === 'rss' ? text : latest.toFixed(1);
          if (text !== shown) diffs.push(`${name} ${column}: text ${text} beside a chart ending at ${svg.dataset.latest}`);
        }
      }
      return diffs.join('; ');
    }, [agents, SPARKS, state, api]);
    if (!last) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`the agents' small charts do not show the heartbeats GET /v1/agents served: ${last}`);
}

const errors = [];
const browser = await chromium.launch({ executablePath: env('DASH_CHROMIUM'), headless: true, args: ['--no-sandbox'] });
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => d.accept());
  const step = async (what, f) => {
    try { return await f(); } catch (e) { throw new Error(`${what}: ${e.message.split('\n')[0]}`); }
  };
  // Polls `f` until it holds (page.waitForFunction would evaluate a string, which the page's
  // Content-Security-Policy forbids).
  const until = async (what, f) => {
    for (let i = 0; i < 100; i++) {
      if (await f()) return;
      await page.waitForTimeout(200);
    }
    throw new Error(`${what}: not within 20 s`);
  };
  // The layouts the page must fit (docs/dashboard.md, "Accessibility"): a laptop and a phone.
  const WIDE = { width: 1280, height: 800 };
  const NARROW = { width: 390, height: 844 };
  // Nothing is wider than the window at `size` (tables scroll sideways in their own box);
  // `shot` is saved at that size, then the window is wide again.
  const fits = async (what, size, shot) => {
    await page.setViewportSize(size);
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`at ${size.width}×${size.height} ${what} is ${overflow} px wider than the window`);
    if (shot) await page.screenshot({ path: `${SHOTS}/${shot}`, fullPage: true });
    await page.setViewportSize(WIDE);
    await page.waitForTimeout(300);
  };
  // What has the keyboard focus: its id, else its link, else its tag; and whether the focus
  // is drawn (an outline), since a keyboard user must see where they are.
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    const s = getComputedStyle(e);
    return { id: e.id || e.getAttribute('href') || e.tagName, shown: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0 };
  });
  // Presses Tab until `want` (a focused() id) has the focus, at most `max` times; returns the
  // ids the focus went through, in order. Each must show its focus.
  const tabTo = async (want, max) => {
    const path = [];
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (!f.shown) throw new Error(`${f.id} has the keyboard focus but shows no focus outline`);
      path.push(f.id);
      if (f.id === want) return path;
    }
    throw new Error(`Tab did not reach ${want} in ${max} presses (went through ${path.join(' → ')})`);
  };
  // The focus stays on `want`, shown, while the live page redraws (it does every second).
  const focusStays = async (want) => {
    await page.waitForTimeout(2500);
    const f = await focused();
    if (f.id !== want || !f.shown) throw new Error(`the keyboard focus left ${want} when the page redrew: it is on ${f.id}${f.shown ? '' : ', not shown'}`);
  };

  await page.goto(URL);
  // The API has tokens: the page asks for one before it reads anything.
  await step('the token field is shown', () => page.locator('#token').waitFor(WAIT));
  await page.locator('#token').fill(TOKEN);
  await page.keyboard.press('Enter');

  // Runs: both runs, status as text.
  const doneRow = page.locator(`#runs tr[data-run="${DONE}"]`);
  await step('the finished run is listed as FINISHED', () => doneRow.filter({ hasText: 'FINISHED' }).waitFor(WAIT));
  await step(`the finished run names its test ${TEST_NAME}`, () => doneRow.locator('td.test', { hasText: TEST_NAME }).waitFor(WAIT));
  await step('the live run is listed as RUNNING', () => page.locator(`#runs tr[data-run="${LIVE}"]`).filter({ hasText: 'RUNNING' }).waitFor(WAIT));
  await step(`the finished run was started by ${DONE_BY}`, () => doneRow.locator('td.started-by', { hasText: new RegExp(`^${DONE_BY}$`) }).waitFor(WAIT));
  await step(`the live run was started by ${LIVE_BY}`, () => page.locator(`#runs tr[data-run="${LIVE}"] td.started-by`, { hasText: new RegExp(`^${LIVE_BY}$`) }).waitFor(WAIT));
  await page.screenshot({ path: `${SHOTS}/runs.png`, fullPage: true });

  await fits('the runs page', NARROW, 'runs-narrow.png');
  await fits('the runs page', WIDE);

  // The filters: labelled, reached with Tab in their order (status, test, project) with the
  // focus shown; the project filter shows only the chosen project's runs and keeps the choice
  // in the address.
  const shownRuns = () => page.locator('#runs tbody tr[data-run]').evaluateAll((rows) => rows.map((r) => r.dataset.run).join(','));
  const toFilter = await tabTo('filter-project', 20);
  const order = ['filter-status', 'filter-test', 'filter-project'].map((f) => toFilter.indexOf(f));
  if (order.some((i, k) => i < 0 || (k && i <= order[k - 1]))) throw new Error(`Tab went ${toFilter.join(' → ')}, not through the status, test and project filters in order`);
  await page.getByLabel('Project', { exact: true }).selectOption(LIVE_PROJECT);
  await until(`only run #${LIVE} (project ${LIVE_PROJECT}) is shown`, async () => (await shownRuns()) === LIVE);
  const hash = await page.evaluate(() => location.hash);
  if (hash !== `#/runs?project=${LIVE_PROJECT}`) throw new Error(`the filter is not in the address: ${hash}`);
  await page.screenshot({ path: `${SHOTS}/runs-filtered.png`, fullPage: true });
  // A link to a filtered view opens filtered: the finished run's project, ended runs.
  await page.goto(`${URL}/#/runs?status=ended&project=${DONE_PROJECT}`);
  await until(`the linked view shows only run #${DONE}`, async () => (await shownRuns()) === DONE);
  const chosen = await page.evaluate(() => [document.getElementById('filter-status').value, document.getElementById('filter-project').value].join());
  if (chosen !== `ended,${DONE_PROJECT}`) throw new Error(`the linked view's filters show ${chosen}`);
  if ((await shownRuns()) !== DONE) throw new Error(`the linked view shows runs ${await shownRuns()}`);

  // Keyboard: Tab reaches the finished run's link, Enter opens it.
  await tabTo(`#/runs/${DONE}`, 40);
  await focusStays(`#/runs/${DONE}`);
  await page.keyboard.press('Enter');

  // The finished run: the summary's figures, both generators, charts.
  await step(`the request count ${REQS}`, () => page.locator('#total-requests', { hasText: new RegExp(`^${REQS}$`) }).waitFor(WAIT));
  const p95Text = `${P95.toFixed(2)} ms`;
  await step(`the p95 ${p95Text}`, () => page.locator('#total-p95', { hasText: p95Text }).waitFor(WAIT));
  await step('the summary as the source', () => page.locator('#totals-source', { hasText: 'end-of-test summary' }).waitFor(WAIT));
  await step(`the run names its test ${TEST_NAME}`, () => page.locator('#run-test', { hasText: TEST_NAME }).waitFor(WAIT));
  const heading = await page.locator('h1').textContent();
  if (!heading.includes(TEST_NAME)) throw new Error(`the heading "${heading}" does not name the test ${TEST_NAME}`);
  for (const a of AGENTS) {
    await step(`agent ${a} in the per-agent panel`, () => page.locator(`#run-agents tr[data-agent="${a}"]`).waitFor(WAIT));
    const peak = PEAKS[a];
    if (peak === undefined) throw new Error(`the API has no utilization for agent ${a}: ${env('DASH_PEAKS')}`);
    await step(`agent ${a}'s peak CPU ${peak} %`, () => page.locator(`#run-agents tr[data-agent="${a}"] td.peak-cpu`, { hasText: new RegExp(`^${peak}$`) }).waitFor(WAIT));
    // Its line in each of the four charts over time (the legends name the agents).
    const legends = await page.locator('#agent-charts .u-legend', { hasText: a }).count();
    if (legends !== 4) throw new Error(`agent ${a} is in ${legends} of the 4 generator charts`);
  }
  const agentCharts = await page.locator('#agent-charts .chart canvas').count();
  if (agentCharts !== 4) throw new Error(`${agentCharts} generator charts drawn, expected 4`);
  // The overload table lists exactly the agents that reached 80 %, or says none did.
  const listed = [...new Set(await page.locator('#run-overloads tbody tr[data-agent]').evaluateAll((rows) => rows.map((r) => r.dataset.agent)))].sort();
  if (listed.join(',') !== [...LOADED].sort().join(',')) {
    throw new Error(`the overload table lists [${listed}], the API's heartbeats reached 80 % on [${LOADED}]`);
  }
  if (!LOADED.length) await step('no overload said in words', () => page.locator('#run-overloads', { hasText: 'No generator reached 80 %' }).waitFor(WAIT));
  const points = await page.evaluate(() => document.querySelectorAll('#agent-charts .u-over').length);
  if (points !== 4) throw new Error(`${points} generator chart areas, expected 4`);
  await step('a threshold that passed', () => page.locator('#thresholds', { hasText: 'pass (at the end)' }).waitFor(WAIT));
  // The threshold that began to fail mid-run: a marker on the duration chart at that moment
  // (where uPlot's x scale puts it), and the thresholds table says when.
  const marker = page.locator(`figure[data-metrics~="http_req_duration"] ul.markers li[data-t="${CROSSED_AT}"][data-ok="false"][data-threshold="${CROSSED}"]`);
  await step(`the ${CROSSED} crossing marked on the http_req_duration chart`, () => marker.waitFor(WAIT));
  const pos = await marker.evaluate((li) => ({ x: li.dataset.x, min: li.parentElement.dataset.xMin, max: li.parentElement.dataset.xMax, width: li.parentElement.dataset.width }));
  const wantX = ((CROSSED_AT / 1000 - Number(pos.min)) / (Number(pos.max) - Number(pos.min))) * Number(pos.width);
  if (pos.x === '' || !(Math.abs(Number(pos.x) - wantX) < 2)) throw new Error(`the ${CROSSED} marker is drawn at x=${pos.x}, its time is at x=${wantX.toFixed(1)} (scale ${pos.min}..${pos.max}, ${pos.width} px)`);
  // In words too, not by its colour and place alone.
  await step(`the ${CROSSED} crossing listed in words under the chart`, () => marker.filter({ hasText: `http_req_duration ${CROSSED} fails from` }).waitFor(WAIT));
  await step(`the thresholds table says when ${CROSSED} began to fail`, () => page.locator(`#thresholds tr[data-threshold="${CROSSED}"] td.crossed span[data-t="${CROSSED_AT}"]`, { hasText: 'fails from' }).waitFor(WAIT));
  await step(`${CROSSED} failed at the end`, () => page.locator(`#thresholds tr[data-threshold="${CROSSED}"]`, { hasText: 'fail (at the end)' }).waitFor(WAIT));
  await page.locator('figure[data-metrics~="http_req_duration"]').screenshot({ path: `${SHOTS}/run-crossing.png` });
  const canvases = await page.locator('.charts:not(#agent-charts) .chart canvas').count();
  if (canvases < 4) throw new Error(`${canvases} charts drawn, expected 4`);
  const legends = await page.evaluate(() => document.querySelectorAll('.u-legend').length);
  if (legends < 8) throw new Error(`${legends} chart legends, expected 8`);
  // The groups/checks tree: the group, each check with the summary's passes and fails.
  await step('the group "front page"', () => page.locator('#checks li.group[data-group="::front page"] summary', { hasText: 'front page' }).waitFor(WAIT));
  for (const c of CHECKS) {
    const item = page.locator(`#checks li.check[data-check="${c.path}"]`);
    await step(`check ${c.path}: ${c.passes} passed, ${c.fails} failed`, () => item.locator('.check-counts', { hasText: `${c.passes} passed, ${c.fails} failed` }).waitFor(WAIT));
    const word = Number(c.fails) === 0 ? 'pass' : 'fail';
    await step(`check ${c.path} says ${word}`, () => item.locator('.badge', { hasText: word }).waitFor(WAIT));
  }
  // Keyboard: Tab reaches the downloads, the metric list, then the group; Enter folds it.
  const toGroup = await tabTo('SUMMARY', 60);
  const inOrder = ['download-report', 'download-summary', 'metric-select'].map((f) => toGroup.indexOf(f));
  if (inOrder.some((i, k) => i < 0 || (k && i <= inOrder[k - 1]))) throw new Error(`Tab went ${toGroup.join(' → ')}, not through the downloads and the metric list in order`);
  await page.keyboard.press('Enter');
  const folded = await page.evaluate(() => !document.querySelector('#checks li.group details').open);
  if (!folded) throw new Error('Enter on the group did not fold it');
  await page.keyboard.press('Enter');
  await step('the timeline reaches FINISHED', () => page.locator('#timeline', { hasText: 'FINISHED' }).waitFor(WAIT));
  if (await page.locator('#stop').isVisible()) throw new Error('a finished run offers a Stop button');
  await page.screenshot({ path: `${SHOTS}/run-finished.png`, fullPage: true });

  // Any metric: the list has the run's metrics and its thresholds' submetric; the custom trend
  // chosen from it is charted with every point the run's stream has of it.
  const options = await page.locator('#metric-select option').evaluateAll((os) => os.map((o) => o.value));
  for (const m of [METRIC, ...METRIC_LISTED]) {
    if (!options.includes(m)) throw new Error(`the metric list [${options}] lacks ${m}`);
  }
  await page.selectOption('#metric-select', 'http_reqs');
  await step('the http_reqs chart', () => page.locator('#metric-chart figure[data-metric="http_reqs"]').waitFor(WAIT));
  await page.selectOption('#metric-select', METRIC);
  const metricFigure = page.locator(`#metric-chart figure[data-metric="${METRIC}"]`);
  await step(`the ${METRIC} chart`, () => metricFigure.waitFor(WAIT));
  await step(`${METRIC} in ms`, () => metricFigure.locator('figcaption', { hasText: `${METRIC} (ms)` }).waitFor(WAIT));
  await step(`${METRIC_POINTS} points of ${METRIC}`, () => page.locator(`#metric-chart figure[data-points="${METRIC_POINTS}"]`).waitFor(WAIT));
  const legend = await metricFigure.locator('.u-legend').textContent();
  for (const f of ['avg', 'p(95)', 'max']) if (!legend.includes(f)) throw new Error(`the ${METRIC} legend "${legend}" lacks ${f}`);
  // Its lines are drawn: the canvas has pixels of the first line's blue (#1f6feb, antialiased).
  const blue = await metricFigure.locator('canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 128 && d[i + 2] > 180 && d[i] < 120 && d[i + 1] > 70 && d[i + 1] < 160) n++;
    return n;
  });
  if (blue < 20) throw new Error(`the ${METRIC} chart drew ${blue} pixels of its avg line`);
  await metricFigure.screenshot({ path: `${SHOTS}/run-metric.png` });

  // A narrow window: the page reflows (charts stack, tables scroll in their own box), nothing
  // wider than it; and the wide one.
  await fits('the run page', NARROW, 'run-narrow.png');
  await fits('the run page', WIDE);

  // Agents: both, live, each with its four small charts, whose newest points are the
  // figures GET /v1/agents serves.
  await page.goto(`${URL}/#/agents`);
  for (const a of AGENTS) {
    await step(`agent ${a} on the Agents page`, () => page.locator(`#agents tr[data-agent="${a}"]`).waitFor(WAIT));
    for (const c of Object.keys(SPARKS)) {
      await step(`agent ${a}'s small ${c} chart with points`, () => page.locator(`#agents tr[data-agent="${a}"] svg.spark[data-column="${c}"]:not([data-points="1"]) path.spark-line`).waitFor(WAIT));
    }
  }
  await sparksMatchTheApi(page, AGENTS, 'busy');
  // Health and state in words; each small chart says what it shows to a screen reader, with
  // its figure as text beside it.
  for (const a of AGENTS) {
    const row = page.locator(`#agents tr[data-agent="${a}"]`);
    await step(`agent ${a}'s health in words`, () => row.locator('.badge', { hasText: /^.\s*(ok|warning|overloaded)\b/ }).waitFor(WAIT));
    const unlabelled = await row.locator('svg.spark').evaluateAll((svgs) => svgs
      .filter((s) => s.getAttribute('role') !== 'img' || !['process CPU % ', 'process RSS ', 'VUs ', 'requests/s '].some((w) => (s.getAttribute('aria-label') || '').startsWith(w)) || !s.parentElement.querySelector('.spark-value')?.textContent)
      .map((s) => s.dataset.column));
    if (unlabelled.length) throw new Error(`agent ${a}'s small charts [${unlabelled}] lack a label or their figure as text`);
  }
  // Keyboard: Tab reaches the run an agent is busy with.
  await tabTo(`#/runs/${LIVE}`, 30);
  await focusStays(`#/runs/${LIVE}`);
  await page.screenshot({ path: `${SHOTS}/agents.png`, fullPage: true });
  await fits('the Agents page', NARROW, 'agents-narrow.png');
  await fits('the Agents page', WIDE);

  // The live run: charts fill, Stop stops it.
  await page.goto(`${URL}/#/runs/${LIVE}`);
  await step('the live run shows RUNNING', () => page.locator('#run-status', { hasText: 'RUNNING' }).waitFor(WAIT));
  await step('the live run shows its check as it runs', () => page.locator('#checks li.check[data-check="::live status is 200"] .check-counts', { hasText: /^[1-9]\d* passed, 0 failed/ }).waitFor(WAIT));
  await step('the live run has per-agent samples', () => page.locator('#run-agents tr[data-agent]').first().waitFor(WAIT));
  await page.screenshot({ path: `${SHOTS}/run-live.png`, fullPage: true });
  // Keyboard: Stop is the first control of the page's content.
  await page.locator('#main').focus();
  await tabTo('stop', 1);
  await page.locator('#stop').click();
  await step('the run shows ABORTED_BY_USER after Stop', () => page.locator('#run-status', { hasText: 'ABORTED_BY_USER' }).waitFor({ timeout: 30000 }));
  await page.screenshot({ path: `${SHOTS}/run-stopped.png`, fullPage: true });

  // Idle agents: their charts go on, VUs flat at 0.
  await page.goto(`${URL}/#/agents`);
  for (const a of AGENTS) {
    await step(`agent ${a} idle again`, () => page.locator(`#agents tr[data-agent="${a}"] td`, { hasText: /^idle$/ }).waitFor({ timeout: 30000 }));
  }
  await sparksMatchTheApi(page, AGENTS, 'idle');
  for (const a of AGENTS) {
    await step(`agent ${a}'s VUs at 0`, () => page.locator(`#agents tr[data-agent="${a}"] svg.spark[data-column="vus"][data-latest="0"]`).waitFor(WAIT));
  }
  await page.screenshot({ path: `${SHOTS}/agents-idle.png`, fullPage: true });
} catch (e) {
  failed = e.message;
} finally {
  await browser.close();
}
if (errors.length) failed = `${failed ? `${failed}; ` : ''}console errors: ${errors.join(' | ')}`;
if (failed) {
  console.error(`DASHBOARD-FAILED ${failed}`);
  process.exit(1);
}
console.log('DASHBOARD-OK');
