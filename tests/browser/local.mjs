// Drives `volley run --web-dashboard` in headless Chromium for tests/tests/web_dashboard.rs:
// the run page while the run goes (live figures), the same page once it has ended (the figures
// must equal the run's own end-of-test summary), then the exported HTML report opened from
// disk with the network off. Any console error, page error or request that leaves the file
// fails. Prints `LOCAL-DASHBOARD-OK`, or exits 1 with the reason.
import { readFileSync, existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const URL = env('DASH_URL');
const SUMMARY = env('DASH_SUMMARY');
const REPORT = env('DASH_REPORT');
const SHOTS = env('DASH_SHOTS');
const WAIT = { timeout: 30000 };

const errors = [];
const watch = (page, what) => {
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${what} console: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => errors.push(`${what} page error: ${e.message}`));
};
const step = async (what, f) => {
  try { return await f(); } catch (e) { throw new Error(`${what}: ${e.message.split('\n')[0]}`); }
};
const until = async (what, f, ms = 30000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};
const text = (page, sel) => page.locator(sel).textContent();

const browser = await chromium.launch({ executablePath: env('DASH_CHROMIUM'), headless: true, args: ['--no-sandbox'] });
let failed = null;
try {
  // While the run goes: RUNNING, live totals that grow.
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  watch(page, 'dashboard');
  await page.goto(URL);
  await step('the run shows RUNNING', () => page.locator('#run-status', { hasText: 'RUNNING' }).waitFor(WAIT));
  await step('the run names its test, the script load.js', () => page.locator('#run-test', { hasText: 'load.js' }).waitFor(WAIT));
  await step('the totals are live', () => page.locator('#totals-source', { hasText: 'live, so far' }).waitFor(WAIT));
  // The dashboard's API has no tokens: the page asks for none.
  if (await page.locator('#token-form').isVisible()) throw new Error('the API token field is shown on an API without tokens');
  const live = await until('a live request count above 0', async () => {
    const n = Number(await text(page, '#total-requests'));
    return n > 0 ? n : null;
  });
  await page.screenshot({ path: `${SHOTS}/local-live.png`, fullPage: true });

  // At the end: the summary's figures, equal to the run's own summary.
  await step('the page shows the end-of-test summary', () => page.locator('#totals-source', { hasText: 'end-of-test summary' }).waitFor({ timeout: 60000 }));
  await step('the run shows FINISHED', () => page.locator('#run-status', { hasText: 'FINISHED' }).waitFor(WAIT));
  await until(`the summary export ${SUMMARY}`, () => existsSync(SUMMARY));
  const summary = JSON.parse(readFileSync(SUMMARY, 'utf8'));
  const requests = Math.round(summary.metrics.http_reqs.count);
  const iterations = Math.round(summary.metrics.iterations.count);
  if (!(requests >= live)) throw new Error(`the summary has ${requests} requests, fewer than the ${live} shown live`);
  const shown = { requests: await text(page, '#total-requests'), iterations: await text(page, '#total-iterations') };
  if (shown.requests !== String(requests) || shown.iterations !== String(iterations)) {
    throw new Error(`the page shows ${JSON.stringify(shown)}, the run's summary ${requests} requests and ${iterations} iterations`);
  }
  const canvases = await page.locator('.chart canvas').count();
  if (canvases < 4) throw new Error(`${canvases} charts drawn on the live page, expected 4`);
  // The custom trend, chosen from the list, charted over the run.
  const metricPoints = async (p, what) => {
    await step(`${what} lists think_time`, () => p.locator('#metric-select option[value="think_time"]').waitFor({ ...WAIT, state: 'attached' }));
    await p.selectOption('#metric-select', 'think_time');
    const fig = p.locator('#metric-chart figure[data-metric="think_time"]');
    await step(`${what} charts think_time`, () => fig.waitFor(WAIT));
    const n = Number(await fig.getAttribute('data-points'));
    if (!(n >= 2)) throw new Error(`${what} charts ${n} points of think_time over a 6 s run`);
    return n;
  };
  const pagePoints = await metricPoints(page, 'the page');
  await page.screenshot({ path: `${SHOTS}/local-finished.png`, fullPage: true });

  // The report, from disk, offline: nothing may leave the file.
  await until(`the report ${REPORT}`, () => existsSync(REPORT));
  const ctx = await browser.newContext({ offline: true, viewport: { width: 1280, height: 800 } });
  await ctx.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    errors.push(`the report asked for ${url}`);
    return route.abort();
  });
  const report = await ctx.newPage();
  watch(report, 'report');
  await report.goto(`file://${REPORT}`);
  await step(`the report's request count ${requests}`, () => report.locator('#total-requests', { hasText: new RegExp(`^${requests}$`) }).waitFor(WAIT));
  await step('the report shows the summary', () => report.locator('#totals-source', { hasText: 'end-of-test summary' }).waitFor(WAIT));
  await step('the report names the test load.js', () => report.locator('#run-test', { hasText: 'load.js' }).waitFor(WAIT));
  await step('the report shows FINISHED', () => report.locator('#run-status', { hasText: 'FINISHED' }).waitFor(WAIT));
  await step('the report has its timeline', () => report.locator('#timeline', { hasText: 'RUNNING' }).waitFor(WAIT));
  const drawn = await report.locator('.chart canvas').count();
  if (drawn < 4) throw new Error(`${drawn} charts drawn in the report, expected 4`);
  const points = await report.evaluate(() => document.querySelectorAll('.chart .u-over').length);
  if (points < 4) throw new Error(`${points} chart areas in the report, expected 4`);
  if (await report.locator('#stop').isVisible()) throw new Error('the report offers a Stop button');
  const reportPoints = await metricPoints(report, 'the report');
  if (reportPoints !== pagePoints) throw new Error(`the report charts ${reportPoints} points of think_time, the page ${pagePoints}`);
  await report.screenshot({ path: `${SHOTS}/local-report.png`, fullPage: true });
} catch (e) {
  failed = e.message;
} finally {
  await browser.close();
}
if (errors.length) failed = `${failed ? `${failed}; ` : ''}errors: ${errors.join(' | ')}`;
if (failed) {
  console.error(`LOCAL-DASHBOARD-FAILED ${failed}`);
  process.exit(1);
}
console.log('LOCAL-DASHBOARD-OK');
