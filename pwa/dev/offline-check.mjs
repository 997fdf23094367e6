// Dev aid: checks the PWA's behaviour while the agent does not answer (dev server only).
//   EDGE_URL=http://127.0.0.1:8099 node dev/offline-check.mjs
import assert from 'node:assert/strict';
import { apiLogin, launch, tokensInitScript, EDGE_URL, makePNG } from '../e2e/lib.mjs';

const tok = await apiLogin();
const H = { Authorization: 'Bearer ' + tok.access_token };
const list = await (await fetch(EDGE_URL + '/api/v1/field/jobs?limit=500', { headers: H })).json();
const job = list.items.find((j) => j.is_primary && j.status === 'in_progress');
assert.ok(job, 'need an in-progress job on the dev server');
const before = await (await fetch(`${EDGE_URL}/api/v1/field/jobs/${job.id}`, { headers: H })).json();
const pausesBefore = before.events.filter((e) => e.event === 'pause').length;
const down = (ms) => fetch(EDGE_URL + '/__dev/down', { method: 'POST', body: JSON.stringify({ ms }) });

const b = await launch();
const ctx = await b.newContext({ viewport: { width: 1280, height: 800 } });
await ctx.addInitScript(tokensInitScript(tok));
const page = await ctx.newPage();
page.on('pageerror', (e) => console.log('pageerror', e.message));
await page.goto(`${EDGE_URL}/#/jobs/${job.id}`);
await page.waitForSelector('[data-testid="job-status"][data-status="in_progress"]');
await page.evaluate(() => navigator.serviceWorker.ready);

// 1. Agent gone: a tap is kept and shown, a photo is kept.
await down(9000);
await page.click('[data-testid="exec-pause"]');
await page.waitForSelector('[data-testid="job-queued"]');
await page.waitForSelector('[data-testid="job-status"][data-status="paused"]');
await page.setInputFiles('[data-testid="photo-input"]', { name: 'p.png', mimeType: 'image/png', buffer: makePNG() });
await page.waitForSelector('[data-testid="attachment-pending"]');
await page.waitForSelector('[data-testid="sync-indicator"][data-state="agent-down"]', { timeout: 10000 });
await page.screenshot({ path: '/tmp/offline-1.png' });
// the shell survives a reload while the agent is down (service worker), and shows the saved job
await page.reload();
await page.waitForSelector('[data-testid="job-status"]', { timeout: 10000 });
await page.screenshot({ path: '/tmp/offline-2.png' });
// 2. Agent back: everything is sent once.
await page.waitForSelector('[data-testid="sync-indicator"][data-state="online"]', { timeout: 30000 });
await page.waitForFunction(() => !document.querySelector('[data-testid="attachment-pending"]'), null, { timeout: 40000 });
await page.waitForSelector('[data-testid="job-status"][data-status="paused"]');
const d = await (await fetch(`${EDGE_URL}/api/v1/field/jobs/${job.id}`, { headers: H })).json();
assert.equal(d.status, 'paused');
assert.equal(d.events.filter((e) => e.event === 'pause').length, pausesBefore + 1, 'pause applied once');
assert.equal(d.attachments.filter((a) => a.file_name === 'p.jpg').length, before.attachments.filter((a) => a.file_name === 'p.jpg').length + 1, 'photo uploaded once');
await page.screenshot({ path: '/tmp/offline-3.png' });
await b.close();
console.log('offline check ok');
