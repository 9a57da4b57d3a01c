// Measures what one run page of the dashboard costs in a real browser (bench/README.md#dashboard-in-a-browser):
// headless Chromium (playwright-core from tests/browser/) opens `#/runs/ID` on a running
// controller and reports, as one JSON object on stdout:
//   load_ms        from navigation to the "any metric" chart and the generators' table filled;
//   heap_mb        JS heap used (CDP Runtime.getHeapUsage) after load and after each minute;
//   frame_ms       gaps between animation frames while updates arrive (p50, p99, max): a chart
//                  update that blocks the page shows as a long gap;
//   busy_ms_per_s  the page's main-thread task time per second (CDP Performance.getMetrics);
//   sse_bytes_per_s what the run's live stream delivered (CDP Network.dataReceived);
//   controller_cores its CPU (/proc/PID/stat) over a window with no page, then with the page.
// Usage: node bench/dashboard_browser.mjs --url http://127.0.0.1:PORT --pid CONTROLLER_PID
//          --run ID [--minutes N] [--baseline SECONDS] [--token T]
// Exits 1 with the reason when a step fails.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../tests/browser/package.json', import.meta.url)));
const { chromium } = require('playwright-core');

function args() {
  const a = { minutes: 5, baseline: 30, token: process.env.VOLLEY_TOKEN || '' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--url') a.url = v.replace(/\/$/, '');
    else if (k === '--pid') a.pid = Number(v);
    else if (k === '--run') a.run = v;
    else if (k === '--minutes') a.minutes = Number(v);
    else if (k === '--baseline') a.baseline = Number(v);
    else if (k === '--token') a.token = v;
    else throw new Error(`unknown option ${k}; see the usage at the top of bench/dashboard_browser.mjs`);
  }
  if (!a.url) throw new Error('--url is required: the controller\'s REST address, http://127.0.0.1:PORT');
  if (!/^\d+$/.test(a.run || '')) throw new Error('--run is required: the run\'s id (controller-scale prints it: "run ID started")');
  if (!Number.isInteger(a.pid) || a.pid <= 0) throw new Error('--pid is required: the controller\'s process id (pgrep -f "volley controller")');
  if (!(a.minutes > 0 && a.minutes <= 120)) throw new Error('--minutes must be in (0, 120]');
  if (!(a.baseline >= 5 && a.baseline <= 600)) throw new Error('--baseline must be 5 to 600 seconds');
  return a;
}

/** The controller's CPU seconds so far (utime + stime; clock ticks are 100 a second on Linux). */
function cpuSeconds(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    throw new Error(`the controller (--pid ${pid}) is gone: did its run end? (${e.code})`);
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function cores(pid, seconds) {
  const [c0, t0] = [cpuSeconds(pid), Date.now()];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return (cpuSeconds(pid) - c0) / ((Date.now() - t0) / 1000);
}

function quantile(xs, q) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const round = (x, d = 1) => (x === null ? null : Number(x.toFixed(d)));

async function main() {
  const a = args();
  const baselineCores = await cores(a.pid, a.baseline);

  const executablePath = process.env.DASH_CHROMIUM || '/usr/bin/chromium';
  const browser = await chromium.launch({ executablePath, args: ['--enable-precise-memory-info'] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    if (a.token) {
      await context.addInitScript((t) => sessionStorage.setItem('volley-token', t), a.token);
    }
    // Gaps between animation frames, kept in the page (bounded: the newest 100,000).
    await context.addInitScript(() => {
      window.__gaps = [];
      let last = performance.now();
      const tick = (now) => {
        window.__gaps.push(now - last);
        if (window.__gaps.length > 100000) window.__gaps.shift();
        last = now;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Performance.enable');
    const live = new Set();
    let sseBytes = 0;
    cdp.on('Network.requestWillBeSent', (e) => {
      if (e.request.url.includes(`/v1/live/runs/${a.run}`)) live.add(e.requestId);
    });
    cdp.on('Network.dataReceived', (e) => {
      if (live.has(e.requestId)) sseBytes += e.encodedDataLength || e.dataLength;
    });

    const t0 = Date.now();
    await page.goto(`${a.url}/#/runs/${a.run}`);
    // The page allows no eval (its CSP: no waitForFunction), so poll: the "any metric" chart
    // has drawn points (its figure's data-points) and the generators' table has its rows.
    const ready = () => page.evaluate(() => {
      const f = document.querySelector('#metric-chart figure[data-points]');
      return f !== null && Number(f.dataset.points) > 0 && document.querySelector('#run-agents tr[data-agent]') !== null;
    });
    for (let waited = 0; !(await ready()); waited += 50) {
      if (waited > 120000) throw new Error('no chart with points 120 s after opening the page');
      await new Promise((r) => setTimeout(r, 50));
    }
    const loadMs = Date.now() - t0;

    const heap = async () => (await cdp.send('Runtime.getHeapUsage')).usedSize / 1048576;
    const busy = async () => {
      const m = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((x) => [x.name, x.value]));
      return m.TaskDuration;
    };
    await cdp.send('HeapProfiler.collectGarbage');
    const heaps = [round(await heap())];
    const points = async () => page.evaluate(() => [...document.querySelectorAll('.chart')].length);
    await page.evaluate(() => { window.__gaps = []; });
    const [b0, s0, w0] = [await busy(), sseBytes, Date.now()];
    const c0 = cpuSeconds(a.pid);
    for (let m = 0; m < a.minutes; m++) {
      await new Promise((r) => setTimeout(r, 60000));
      await cdp.send('HeapProfiler.collectGarbage');
      heaps.push(round(await heap()));
      process.stderr.write(`minute ${m + 1}: heap ${heaps.at(-1)} MB, stream ${sseBytes} bytes\n`);
    }
    const secs = (Date.now() - w0) / 1000;
    const pageCores = (cpuSeconds(a.pid) - c0) / secs;
    const gaps = await page.evaluate(() => window.__gaps);
    const out = {
      run: a.run,
      date: new Date().toISOString(),
      loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      charts: await points(),
      load_ms: loadMs,
      heap_mb: heaps,
      frame_ms: { p50: round(quantile(gaps, 0.5)), p99: round(quantile(gaps, 0.99)), max: round(Math.max(...gaps)) },
      busy_ms_per_s: round(((await busy()) - b0) * 1000 / secs),
      sse_bytes_per_s: Math.round((sseBytes - s0) / secs),
      controller_cores: { without_page: round(baselineCores, 3), with_page: round(pageCores, 3) },
      run_status_at_end: await page.evaluate(() => document.querySelector('#run-status')?.textContent ?? null),
      page_errors: errors,
    };
    console.log(JSON.stringify(out));
    if (errors.length) process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(`dashboard_browser: ${e.message}`);
  process.exit(1);
});
