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
const AGENTS = env('DASH_AGENTS').split(',');
const SHOTS = env('DASH_SHOTS');
const WAIT = { timeout: 20000 };

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

  await page.goto(URL);
  // The API has tokens: the page asks for one before it reads anything.
  await step('the token field is shown', () => page.locator('#token').waitFor(WAIT));
  await page.locator('#token').fill(TOKEN);
  await page.keyboard.press('Enter');

  // Runs: both runs, status as text.
  const doneRow = page.locator(`#runs tr[data-run="${DONE}"]`);
  await step('the finished run is listed as FINISHED', () => doneRow.filter({ hasText: 'FINISHED' }).waitFor(WAIT));
  await step('the live run is listed as RUNNING', () => page.locator(`#runs tr[data-run="${LIVE}"]`).filter({ hasText: 'RUNNING' }).waitFor(WAIT));
  await page.screenshot({ path: `${SHOTS}/runs.png`, fullPage: true });

  // Keyboard: Tab reaches the finished run's link, Enter opens it.
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate((id) => document.activeElement?.getAttribute('href') === `#/runs/${id}`, DONE);
  }
  if (!reached) throw new Error(`Tab did not reach the link to run #${DONE} in 40 presses`);
  await page.keyboard.press('Enter');

  // The finished run: the summary's figures, both generators, charts.
  await step(`the request count ${REQS}`, () => page.locator('#total-requests', { hasText: new RegExp(`^${REQS}$`) }).waitFor(WAIT));
  const p95Text = `${P95.toFixed(2)} ms`;
  await step(`the p95 ${p95Text}`, () => page.locator('#total-p95', { hasText: p95Text }).waitFor(WAIT));
  await step('the summary as the source', () => page.locator('#totals-source', { hasText: 'end-of-test summary' }).waitFor(WAIT));
  for (const a of AGENTS) {
    await step(`agent ${a} in the per-agent panel`, () => page.locator(`#run-agents tr[data-agent="${a}"]`).waitFor(WAIT));
  }
  await step('a threshold that passed', () => page.locator('#thresholds', { hasText: 'pass (at the end)' }).waitFor(WAIT));
  const canvases = await page.locator('.chart canvas').count();
  if (canvases < 4) throw new Error(`${canvases} charts drawn, expected 4`);
  const points = await page.evaluate(() => document.querySelectorAll('.u-legend').length);
  if (points < 4) throw new Error(`${points} chart legends, expected 4`);
  await step('the timeline reaches FINISHED', () => page.locator('#timeline', { hasText: 'FINISHED' }).waitFor(WAIT));
  if (await page.locator('#stop').isVisible()) throw new Error('a finished run offers a Stop button');
  await page.screenshot({ path: `${SHOTS}/run-finished.png`, fullPage: true });

  // A narrow window: the page reflows (tables scroll in their own box), nothing wider than it.
  await page.setViewportSize({ width: 420, height: 800 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`at 420 px wide the page is ${overflow} px wider than the window`);
  await page.screenshot({ path: `${SHOTS}/run-narrow.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });

  // Agents: both, live.
  await page.goto(`${URL}/#/agents`);
  for (const a of AGENTS) {
    await step(`agent ${a} on the Agents page`, () => page.locator(`#agents tr[data-agent="${a}"]`).waitFor(WAIT));
  }
  await page.screenshot({ path: `${SHOTS}/agents.png`, fullPage: true });

  // The live run: charts fill, Stop stops it.
  await page.goto(`${URL}/#/runs/${LIVE}`);
  await step('the live run shows RUNNING', () => page.locator('#run-status', { hasText: 'RUNNING' }).waitFor(WAIT));
  await step('the live run has per-agent samples', () => page.locator('#run-agents tr[data-agent]').first().waitFor(WAIT));
  await page.screenshot({ path: `${SHOTS}/run-live.png`, fullPage: true });
  await page.locator('#stop').click();
  await step('the run shows ABORTED_BY_USER after Stop', () => page.locator('#run-status', { hasText: 'ABORTED_BY_USER' }).waitFor({ timeout: 30000 }));
  await page.screenshot({ path: `${SHOTS}/run-stopped.png`, fullPage: true });
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
