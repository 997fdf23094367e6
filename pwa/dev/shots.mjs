// Dev aid: screenshots of every screen at 1280x800 and 800x1280 (and dark mode) for a visual check.
//   EDGE_URL=http://127.0.0.1:8099 OUT=/tmp/devshots node dev/shots.mjs
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { apiLogin, launch, tokensInitScript, EDGE_URL } from '../e2e/lib.mjs';

const OUT = process.env.OUT || '/tmp/devshots';
mkdirSync(OUT, { recursive: true });
const tok = await apiLogin();
const jobs = await (await fetch(EDGE_URL + '/api/v1/field/jobs?limit=500', { headers: { Authorization: 'Bearer ' + tok.access_token } })).json();
const items = jobs.items || jobs;
const sched = items.find((j) => j.status === 'scheduled' && j.is_primary) || items[0];
const active = items.find((j) => j.status === 'in_progress' && j.is_primary) || sched;
const crew = items.find((j) => !j.is_primary);
const withSurvey = await (async () => {
  for (const j of items) {
    const d = await (await fetch(EDGE_URL + '/api/v1/field/jobs/' + j.id, { headers: { Authorization: 'Bearer ' + tok.access_token } })).json();
    if (d.survey) return d;
  }
  return null;
})();

const browser = await launch();
for (const [vw, vh, scheme] of [[1280, 800, 'light'], [800, 1280, 'light'], [1280, 800, 'dark']]) {
  const ctx = await browser.newContext({ viewport: { width: vw, height: vh }, colorScheme: scheme });
  await ctx.addInitScript(tokensInitScript(tok));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log('pageerror', e.message));
  const tag = `${vw}x${vh}${scheme === 'dark' ? '-dark' : ''}`;
  const shot = async (name, full = false) => {
    await page.waitForTimeout(350);
    await page.screenshot({ path: join(OUT, `${tag}-${name}.png`), fullPage: full });
  };
  const open = async (hash, sel) => {
    await page.goto(EDGE_URL + '/' + hash);
    if (sel) await page.waitForSelector(sel);
  };
  await open('#/jobs', '[data-testid="job-list"]');
  await shot('jobs');
  await open('#/map', '[data-testid="jobs-map"]');
  await shot('map');
  await open('#/jobs/' + sched.id, '[data-testid="job-status"]');
  await shot('job-scheduled');
  if (crew) {
    await open('#/jobs/' + crew.id, '[data-testid="job-status"]');
    await shot('job-crew');
  }
  await open('#/jobs/' + active.id, '[data-testid="job-status"]');
  await shot('job-active');
  await page.click('[data-testid="tab-materials"]');
  await shot('materials');
  await page.click('[data-testid="tab-history"]');
  await shot('history');
  await page.click('[data-testid="tab-map"]');
  await page.waitForSelector('[data-testid="site-map"]');
  await shot('sitemap');
  if (active.status === 'in_progress') {
    await page.click('[data-testid="exec-unable_to_complete"]');
    await page.waitForSelector('[data-testid="reason-dialog"]');
    await shot('reason');
    await page.keyboard.press('Escape');
  }
  if (withSurvey) {
    await open('#/jobs/' + withSurvey.id, '[data-testid="job-status"]');
    await page.click('[data-testid="tab-survey"]');
    await page.click('[data-testid="survey-submit"]');
    await shot('survey-missing', true);
  }
  await open('#/sync', '[data-testid="sync-page"]');
  await shot('sync');
  await open('#/settings');
  await shot('settings');
  await ctx.close();
}
await browser.close();
console.log('screenshots in', OUT);
