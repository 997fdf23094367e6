// Unit tests of the PWA's pure logic (no browser): node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSync } from 'esbuild';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Bundle the TypeScript modules under test into one ESM file and import it.
const dir = mkdtempSync(join(tmpdir(), 'pwa-unit-'));
const entry = join(dir, 'entry.ts');
const src = new URL('../src/', import.meta.url).pathname;
writeFileSync(entry, `export * from '${src}statemachine'; export * from '${src}tia598'; export * from '${src}format';`);
const out = join(dir, 'bundle.mjs');
buildSync({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'neutral', outfile: out, logLevel: 'error' });
const m = await import(out);

const job = (status, allowed = null, is_primary = true) => ({ status, allowed_events: allowed, is_primary, crew: [] });

test('state machine: next status', () => {
  assert.equal(m.nextStatus('accept', 'scheduled'), 'scheduled');
  assert.equal(m.nextStatus('en_route', 'scheduled'), 'dispatched');
  assert.equal(m.nextStatus('en_route', 'paused'), 'paused');
  assert.equal(m.nextStatus('start', 'dispatched'), 'in_progress');
  assert.equal(m.nextStatus('hold', 'in_progress'), 'paused');
  assert.equal(m.nextStatus('resume', 'paused'), 'in_progress');
  assert.equal(m.nextStatus('complete', 'in_progress'), 'completed');
  assert.equal(m.nextStatus('unable_to_complete', 'paused'), 'canceled');
});

test('state machine: allowed from a status', () => {
  assert.deepEqual(m.localAllowed('in_progress'), ['pause', 'hold', 'complete', 'unable_to_complete']);
  assert.deepEqual(m.localAllowed('paused'), ['en_route', 'arrived', 'resume', 'unable_to_complete']);
  assert.deepEqual(m.localAllowed('completed'), []);
});

test('disabled buttons say why', () => {
  assert.equal(m.whyDisabled(job('in_progress'), 'pause', ['pause']), '');
  assert.match(m.whyDisabled(job('scheduled'), 'pause', ['start']), /in progress/);
  assert.match(m.whyDisabled(job('completed'), 'start', []), /completed/);
  assert.equal(m.whyDisabled(job('scheduled', null, false), 'start', []), 'Primary technician only');
  assert.equal(m.whyDisabled(job('dispatched'), 'accept', ['start']), 'Already accepted');
});

test('TIA-598 colours', () => {
  const names = Array.from({ length: 12 }, (_, i) => m.strandColor({ cable: 'A', number: i + 1 }).name);
  assert.deepEqual(names, ['blue', 'orange', 'green', 'brown', 'slate', 'white', 'red', 'black', 'yellow', 'violet', 'rose', 'aqua']);
  const s13 = m.strandColor({ cable: 'A', number: 13 });
  assert.equal(s13.hex, m.strandColor({ cable: 'A', number: 1 }).hex);
  assert.equal(s13.stripe, '#111111');
  assert.equal(m.strandColor({ cable: 'A', number: 20 }).stripe, '#ffd100'); // black with a yellow tracer
  assert.equal(m.strandColor({ cable: 'A', number: 3, color: 'Rose' }).name, 'rose'); // explicit colour wins
  assert.equal(m.strandColor({ cable: 'A', number: 1 }).stripe, null);
});

test('format helpers', () => {
  assert.equal(m.bytes(512), '512 B');
  assert.equal(m.bytes(2048), '2 KB');
  assert.equal(m.bytes(3 * 1048576), '3.0 MB');
  assert.equal(m.duration(3900), '1 h 5 min');
  assert.equal(m.label('site_not_ready'), 'Site not ready');
  assert.equal(m.fmtTime(null), '—');
  assert.equal(m.dayKey(null), 'unscheduled');
  assert.match(m.dayLabel(m.dayKey(new Date().toISOString())), /^Today/);
});
