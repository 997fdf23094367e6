// End-to-end test of the technician PWA against a running edge agent.
//
//   EDGE_URL=http://127.0.0.1:8081 SCREENSHOT_DIR=/tmp/shots node --test e2e/field.spec.mjs
//
// Env: EDGE_URL (edge agent serving the PWA + field API), SCREENSHOT_DIR (default e2e/out),
//      E2E_EMAIL / E2E_PASSWORD (default tech1@example.com / tech123!), E2E_JOB_ID (job to run;
//      default: the first of today's jobs the technician is primary on and can start),
//      E2E_LINK_DOWN / E2E_LINK_UP (shell commands: run before the photo is attached and after the
//      job shows completed, e.g. to cut and restore the agent's NATS link, so the completion with
//      its evidence happens offline),
//      HUB_URL (if set: wait until the hub's field API shows the job completed with a photo),
//      HUB_WAIT_MS (default 60000), CHROMIUM_PATH (default /usr/bin/chromium),
//      E2E_SKIP_MATERIALS=1 (skip the material usage step).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_URL, EMAIL, PASSWORD, apiLogin, drawSignature, launch, makePNG } from './lib.mjs';

const SHOTS = process.env.SCREENSHOT_DIR || new URL('./out/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

let browser, context, page, jobId;
const shot = (name) => page.screenshot({ path: join(SHOTS, name + '.png') });

function run(cmd, what) {
  if (!cmd) return;
  console.log(`# ${what}: ${cmd}`);
  execSync(cmd, { stdio: 'inherit', shell: '/bin/sh', timeout: 120000 });
}

async function pageApi(path) {
  return page.evaluate(async (p) => {
    const t = JSON.parse(localStorage.getItem('dmf.tokens') || '{}');
    const r = await fetch(p, { headers: { Authorization: 'Bearer ' + t.access_token } });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, path);
}

async function listComplete() {
  await page.waitForFunction(() => {
    const l = document.querySelector('[data-testid="job-list"]');
    return l && l.getAttribute('data-rendered') === l.getAttribute('data-count');
  }, null, { timeout: 20000 });
}

async function waitIdle() {
  await page.waitForSelector('[data-testid="exec-bar"][data-busy="false"]', { timeout: 20000 });
}

describe('technician PWA', { concurrency: false }, () => {
  before(async () => {
    browser = await launch();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('pageerror', (e) => console.log('# page error:', e.message));
    page.on('dialog', (d) => d.accept());
  });
  after(async () => {
    await browser?.close();
  });

  test('login', async () => {
    await page.goto(EDGE_URL + '/#/login');
    await page.waitForSelector('[data-testid="login-form"]');
    // a wrong password says so, and nothing else happens
    await page.fill('[data-testid="login-email"]', EMAIL);
    await page.fill('[data-testid="login-password"]', 'wrong-password');
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="login-error"]');
    await page.fill('[data-testid="login-password"]', PASSWORD);
    await shot('01-login');
    await page.click('[data-testid="login-submit"]');
    await page.waitForSelector('[data-testid="job-list"]', { timeout: 20000 });
    await listComplete();
  });

  test("the day's jobs are listed", async () => {
    const n = await page.locator('[data-testid="job-item"]').count();
    assert.ok(n > 0, 'no jobs in the list');
    const today = new Date();
    const key = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}`;
    const todays = await page.locator(`[data-testid="job-item"][data-day="${key}"]`).count();
    console.log(`# ${n} jobs listed, ${todays} today`);
    await page.waitForSelector('[data-testid="sync-indicator"]');
    await shot('02-jobs');
    await page.click('[data-testid="view-map"]');
    await page.waitForSelector('[data-testid="jobs-map"].leaflet-container');
    await page.waitForTimeout(500);
    await shot('03-jobs-map');
    await page.click('[data-testid="view-list"]');
    await page.waitForSelector('[data-testid="job-list"]');
    await listComplete();
    assert.ok(todays > 0 || process.env.E2E_JOB_ID, 'no job scheduled today');
  });

  test('open a job', async () => {
    jobId = process.env.E2E_JOB_ID;
    if (!jobId) {
      const item = page.locator('[data-testid="job-item"][data-primary="true"][data-status="scheduled"], [data-testid="job-item"][data-primary="true"][data-status="dispatched"]').first();
      jobId = await item.getAttribute('data-job-id');
    }
    assert.ok(jobId, 'no scheduled or dispatched job where tech1 is primary');
    await page.click(`[data-testid="job-item"][data-job-id="${jobId}"]`);
    await page.waitForSelector('[data-testid="job-status"]');
    await shot('04-job');
  });

  test('run the events to in_progress (a double tap sends once)', async () => {
    for (const ev of ['accept', 'en_route', 'arrived', 'start']) {
      const btn = page.locator(`[data-testid="exec-${ev}"]`);
      if (await btn.isDisabled()) {
        console.log(`# ${ev} skipped: ${await btn.getAttribute('title')}`);
        continue;
      }
      if (ev === 'en_route') await btn.dblclick();
      else await btn.click();
      await waitIdle();
      const errEl = page.locator('[data-testid="exec-error"]');
      if (await errEl.count()) assert.fail(`${ev} failed: ${await errEl.textContent()}`);
    }
    await page.waitForSelector('[data-testid="job-status"][data-status="in_progress"]', { timeout: 20000 });
    const r = await pageApi(`/api/v1/field/jobs/${jobId}`);
    assert.equal(r.status, 200);
    const enRoute = (r.body.events || []).filter((e) => e.event === 'en_route').length;
    assert.ok(enRoute <= 1, `en_route recorded ${enRoute} times after a double tap`);
    // Disabled buttons say why.
    const why = await page.locator('[data-testid="exec-start"] .exec-why').textContent();
    assert.ok(why && why.length > 5, 'disabled Start has no reason');
    assert.ok(await page.locator('[data-testid="exec-complete"]').isDisabled(), 'Complete enabled without evidence');
  });

  test('add a note (a double tap sends once)', async () => {
    await page.click('[data-testid="tab-notes"]');
    const text = 'e2e note ' + Date.now();
    await page.fill('[data-testid="note-body"]', text);
    await page.dblclick('[data-testid="note-submit"]');
    await page.waitForSelector(`[data-testid="note"]:has-text("${text}")`, { timeout: 20000 });
    const r = await pageApi(`/api/v1/field/jobs/${jobId}`);
    assert.equal((r.body.notes || []).filter((n) => n.body === text).length, 1, 'note saved once');
  });

  test('record material usage', { skip: process.env.E2E_SKIP_MATERIALS === '1' && 'E2E_SKIP_MATERIALS=1' }, async () => {
    await page.click('[data-testid="tab-materials"]');
    const rows = page.locator('[data-testid="material-row"]');
    if (!(await rows.count())) {
      console.log('# job has no materials: usage not recorded');
      return;
    }
    const before = await pageApi(`/api/v1/field/jobs/${jobId}`);
    const used0 = before.body.materials[0].quantity_used;
    await page.locator('[data-testid="material-qty"]').first().fill('1');
    await page.click('[data-testid="materials-submit"]');
    await page.waitForFunction(() => !document.querySelector('[data-testid="materials-submit"]')?.textContent?.includes('Saving'));
    let used = used0;
    for (let i = 0; i < 40 && used === used0; i++) {
      await page.waitForTimeout(250);
      used = (await pageApi(`/api/v1/field/jobs/${jobId}`)).body.materials.find((m) => m.id === before.body.materials[0].id).quantity_used;
    }
    assert.equal(used, used0 + 1);
    await shot('05a-materials');
  });

  test('a wrong file is refused with a message', async () => {
    await page.click('[data-testid="tab-completion"]');
    await page.setInputFiles('[data-testid="photo-input"]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
    await page.waitForSelector('[data-testid="photo-input-error"]');
  });

  test('attach a photo and a signature', async () => {
    if (process.env.E2E_LINK_DOWN) {
      run(process.env.E2E_LINK_DOWN, 'link down');
      const off = await page
        .waitForSelector('[data-testid="sync-indicator"][data-state="offline"]', { timeout: 30000 })
        .then(() => true, () => false);
      console.log(`# sync indicator ${off ? 'shows offline' : 'did not show offline within 30 s'}`);
      await shot('04a-offline');
    }
    await page.setInputFiles('[data-testid="photo-input"]', { name: 'site.png', mimeType: 'image/png', buffer: makePNG() });
    await page.waitForSelector('[data-testid="completion-gate"] [data-kind="photo"]', { timeout: 20000 });
    await page.fill('[data-testid="signature-pad-name"]', 'Ada Customer');
    await drawSignature(page, '[data-testid="signature-pad"]');
    await page.click('[data-testid="signature-pad-save"]');
    await page.waitForSelector('[data-testid="completion-gate"] [data-kind="signature"]', { timeout: 20000 });
    await page.waitForSelector('[data-testid="completion-gate"][data-ok="true"]');
    await shot('05-completion');
  });

  test('complete the job', async () => {
    const btn = page.locator('[data-testid="exec-complete"]');
    await btn.waitFor();
    assert.ok(!(await btn.isDisabled()), 'Complete still disabled: ' + (await btn.getAttribute('title')));
    await btn.click();
    await page.waitForSelector('[data-testid="job-status"][data-status="completed"]', { timeout: 30000 });
    await waitIdle();
    const errEl = page.locator('[data-testid="exec-error"]');
    if (await errEl.count()) assert.fail(`complete failed: ${await errEl.textContent()}`);
    // The agent has it (not just the screen): the job, its photo and its signature.
    let r;
    for (let i = 0; i < 60; i++) {
      r = await pageApi(`/api/v1/field/jobs/${jobId}`);
      if (r.body?.status === 'completed') break;
      await page.waitForTimeout(500);
    }
    assert.equal(r.body.status, 'completed');
    assert.ok(r.body.attachments.some((a) => a.kind === 'photo'), 'no photo on the job');
    assert.ok(r.body.attachments.some((a) => a.kind === 'signature'), 'no signature on the job');
    await shot('06-job-completed');
    run(process.env.E2E_LINK_UP, 'link up');
  });

  test('sync indicator and detail page', async () => {
    const ind = page.locator('[data-testid="sync-indicator"]');
    assert.ok(await ind.getAttribute('data-state'));
    await ind.click();
    await page.waitForSelector('[data-testid="sync-page"]');
    await shot('07-sync');
  });

  test('the hub shows the job completed with its photo', { skip: !process.env.HUB_URL && 'HUB_URL not set' }, async () => {
    const hub = process.env.HUB_URL.replace(/\/$/, '');
    const tok = await apiLogin(hub);
    const deadline = Date.now() + Number(process.env.HUB_WAIT_MS || 60000);
    let last;
    while (Date.now() < deadline) {
      const res = await fetch(`${hub}/api/v1/field/jobs/${jobId}`, { headers: { Authorization: 'Bearer ' + tok.access_token } });
      last = res.ok ? await res.json() : { status: res.status };
      if (last.status === 'completed' && (last.attachments || []).some((a) => a.kind === 'photo')) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.fail(`hub did not show the job completed with a photo: ${JSON.stringify(last).slice(0, 300)}`);
  });

  test('site map, splice closure and portrait screens', async () => {
    await page.goto(`${EDGE_URL}/#/jobs/${jobId}`);
    await page.click('[data-testid="tab-map"]');
    await page.waitForSelector('[data-testid="site-map"]');
    await page.waitForTimeout(800);
    await shot('08-site-map');
    const closure = page.locator('[data-testid="closure-link"]').first();
    if (await closure.count()) {
      await closure.click();
      await page.waitForSelector('[data-testid="closure-view"]');
      await shot('09-closure');
    } else console.log('# no splice closure near the site: closure screen not shot');
    await page.setViewportSize({ width: 800, height: 1280 });
    await page.goto(`${EDGE_URL}/#/jobs`);
    await page.waitForSelector('[data-testid="job-list"]');
    await shot('10-jobs-portrait');
    await page.goto(`${EDGE_URL}/#/jobs/${jobId}`);
    await page.waitForSelector('[data-testid="job-status"]');
    await shot('11-job-portrait');
  });
});
