// PWA benchmarks in headless Chromium against a running edge agent. Prints one line per figure:
//   <name> <value> <unit> budget=<budget>
//
//   EDGE_URL=http://127.0.0.1:8081 node e2e/bench.mjs
//
// Env: EDGE_URL, E2E_EMAIL / E2E_PASSWORD, BENCH_RUNS (page loads for the list, default 5),
//      BENCH_TAPS (taps measured, default 10), BENCH_STRICT=1 (exit 1 when a figure is over budget),
//      CHROMIUM_PATH.
// The job list figure uses the agent's own list when it has at least 500 jobs in the window;
// otherwise the list response is replaced (in the browser only) by 500 generated jobs so the
// figure always measures rendering 500 jobs. The tap figure uses a real job on the agent and
// alternates pause/resume on it (starting a scheduled job first if none is in progress).
import { gzipSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';
import { EDGE_URL, apiLogin, launch, tokensInitScript } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS || 5);
const TAPS = Number(process.env.BENCH_TAPS || 10);
const results = [];
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function report(name, value, unit, budget) {
  results.push({ name, value, budget });
  console.log(`${name} ${value.toFixed(1)} ${unit} budget=${budget}`);
}

const tok = await apiLogin();
const auth = { Authorization: 'Bearer ' + tok.access_token };
const from = new Date();
from.setHours(0, 0, 0, 0);
const to = new Date(from.getTime() + 8 * 86400000);
const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), limit: '500', offset: '0' });
const list = await (await fetch(`${EDGE_URL}/api/v1/field/jobs?${q}`, { headers: auth })).json();
const realJobs = list.items || list;
const total = list.total ?? realJobs.length;

function synthetic(n) {
  const st = ['scheduled', 'dispatched', 'in_progress', 'paused', 'completed'];
  const items = [];
  for (let i = 0; i < n; i++) {
    const start = new Date(from.getTime() + (i % 8) * 86400000 + (7 + (i % 11)) * 3600000);
    items.push({
      id: randomUUID(), number: 'WO-' + String(900000 + i), title: `Bench job ${i}: FTTH install`, description: '', status: st[i % st.length],
      priority: 'normal', work_type: 'install', version: 1, scheduled_start: start.toISOString(), scheduled_end: new Date(start.getTime() + 7200000).toISOString(),
      started_at: null, paused_at: null, completed_at: null, total_active_seconds: 0, access_notes: '', tags: ['fiber'],
      assigned_to: randomUUID(), is_primary: true, crew: [], site: { address: `${i} Bench Road`, lat: 6.45 + (i % 50) / 1000, lon: 3.39 + Math.floor(i / 50) / 1000 },
      customer: { id: randomUUID(), name: `Customer ${i}`, phone: '', email: '', address: `${i} Bench Road` }, allowed_events: [],
    });
  }
  return { items, total: n, limit: 500, offset: 0 };
}

const browser = await launch();
try {
  // 1. Time to an interactive job list with 500 jobs.
  const useSynthetic = total < 500;
  const body = useSynthetic ? JSON.stringify(synthetic(500)) : null;
  // One browser profile, like a tablet: the first load is cold (nothing cached, service worker
  // installing); the following loads are the everyday case (app shell cached by the worker).
  const times = [];
  const allTimes = [];
  const lctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await lctx.addInitScript(tokensInitScript(tok));
  if (useSynthetic) await lctx.route(/\/api\/v1\/field\/jobs\?/, (route) => route.fulfill({ status: 200, contentType: 'application/json', body }));
  const lpage = await lctx.newPage();
  // The renderer's CPU time is printed too: wall-clock figures swing with other load on the machine.
  const bcdp = await browser.newBrowserCDPSession();
  const cpuTime = async () =>
    (await bcdp.send('SystemInfo.getProcessInfo')).processInfo.filter((p) => p.type === 'renderer').reduce((n, p) => n + p.cpuTime, 0);
  const busy = [];
  for (let r = 0; r <= RUNS; r++) {
    const c0 = await cpuTime();
    if (r === 0) await lpage.goto(`${EDGE_URL}/#/jobs`);
    else await lpage.reload();
    await lpage.waitForFunction(() => performance.getEntriesByName('joblist-complete').length > 0, null, { timeout: 30000 });
    if (r > 0) busy.push((await cpuTime()) - c0);
    const [t, tAll] = await lpage.evaluate(() => ['joblist-ready', 'joblist-complete'].map((m) => performance.getEntriesByName(m)[0].startTime));
    const count = await lpage.locator('[data-testid="job-item"]').count();
    if (count < 500) throw new Error(`only ${count} jobs rendered`);
    if (r === 0) {
      report('pwa_job_list_500_interactive_cold', t, 'ms', 1000);
      await lpage.evaluate(() => navigator.serviceWorker?.ready);
      continue;
    }
    times.push(t);
    allTimes.push(tAll);
  }
  await lctx.close();
  if (useSynthetic) console.log(`# job list: agent has ${total} jobs in the window; measured with 500 generated jobs`);
  console.log(`# job list loads, first screen interactive (ms): ${times.map((t) => t.toFixed(0)).join(' ')}`);
  console.log(`# job list loads, all 500 rows in the page (ms): ${allTimes.map((t) => t.toFixed(0)).join(' ')}`);
  console.log(`# job list loads, renderer CPU time until all rows are in (ms): ${busy.map((t) => (t * 1000).toFixed(0)).join(' ')}`);
  console.log(`# load average now: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).cpus().length} cores`);
  report('pwa_job_list_500_interactive', median(times), 'ms', 1000);

  // 2. Tap on an execution button to the screen showing the new state.
  let job = realJobs.find((j) => j.is_primary && (j.status === 'in_progress' || j.status === 'paused'));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await ctx.addInitScript(tokensInitScript(tok));
  const page = await ctx.newPage();
  if (!job) {
    job = realJobs.find((j) => j.is_primary && (j.status === 'scheduled' || j.status === 'dispatched'));
    if (!job) throw new Error('no job the technician can run on the agent');
    await page.goto(`${EDGE_URL}/#/jobs/${job.id}`);
    await page.click('[data-testid="exec-start"]');
    await page.waitForSelector('[data-testid="exec-bar"][data-busy="false"] [data-testid="exec-pause"]:not([disabled])');
  } else {
    await page.goto(`${EDGE_URL}/#/jobs/${job.id}`);
  }
  await page.waitForSelector('[data-testid="job-status"]');
  const taps = [];
  for (let i = 0; i < TAPS; i++) {
    await page.waitForSelector('[data-testid="exec-bar"][data-busy="false"]');
    const status = await page.getAttribute('[data-testid="job-status"]', 'data-status');
    const ev = status === 'in_progress' ? 'pause' : 'resume';
    const want = status === 'in_progress' ? 'paused' : 'in_progress';
    await page.waitForSelector(`[data-testid="exec-${ev}"]:not([disabled])`);
    const done = page.evaluate(
      ({ ev, want }) =>
        new Promise((resolve) => {
          let t0 = 0;
          const btn = document.querySelector(`[data-testid="exec-${ev}"]`);
          btn.addEventListener('pointerdown', () => (t0 = performance.now()), { once: true, capture: true });
          const obs = new MutationObserver(() => {
            const el = document.querySelector('[data-testid="job-status"]');
            if (t0 && el && el.getAttribute('data-status') === want) {
              obs.disconnect();
              requestAnimationFrame(() => resolve(performance.now() - t0));
            }
          });
          obs.observe(document.body, { subtree: true, attributes: true, childList: true, attributeFilter: ['data-status'] });
        }),
      { ev, want },
    );
    await page.click(`[data-testid="exec-${ev}"]`);
    taps.push(await done);
  }
  await page.waitForSelector('[data-testid="exec-bar"][data-busy="false"]');
  console.log(`# tap runs (ms): ${taps.map((t) => t.toFixed(1)).join(' ')} on ${job.number}`);
  report('pwa_tap_to_state', median(taps), 'ms', 100);
  await ctx.close();

  // 3. JavaScript + CSS shipped, gzipped.
  // Every .js and .css the app ships (the service worker's shell list names them all).
  const sw = await (await fetch(`${EDGE_URL}/sw.js`)).text();
  const shell = JSON.parse(/const SHELL = (\[.*?\]);/s.exec(sw)?.[1] || '["./app.js","./app.css"]');
  const files = shell.map((f) => f.replace(/^\.\//, '')).filter((f) => /\.(js|css)$/.test(f));
  let gz = 0;
  for (const f of files) {
    const res = await fetch(`${EDGE_URL}/${f}`);
    if (!res.ok) throw new Error(`${f}: ${res.status}`);
    gz += gzipSync(Buffer.from(await res.arrayBuffer()), { level: 9 }).length;
  }
  console.log(`# shipped: ${files.join(' ')}`);
  report('pwa_js_css_gzip', gz / 1024, 'KB', 300);
} finally {
  await browser.close();
}
if (process.env.BENCH_STRICT && results.some((r) => r.value > r.budget)) process.exit(1);
