// Shared helpers for the PWA browser tests and benchmarks (playwright-core + Debian's chromium).
import { chromium } from 'playwright-core';
import { deflateSync } from 'node:zlib';

export const EDGE_URL = (process.env.EDGE_URL || 'http://127.0.0.1:8081').replace(/\/$/, '');
export const EMAIL = process.env.E2E_EMAIL || 'tech1@example.com';
export const PASSWORD = process.env.E2E_PASSWORD || 'tech123!';
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** apiLogin logs in over HTTP (no browser) and returns the token response. */
export async function apiLogin(base = EDGE_URL) {
  const res = await fetch(base + '/api/v1/auth/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
  });
  if (!res.ok) throw new Error(`login at ${base} failed: ${res.status} ${await res.text()}`);
  return res.json();
}

/** tokensInitScript makes the PWA start signed in (same storage format as src/api.ts). */
export function tokensInitScript(tok) {
  const t = { access_token: tok.access_token, refresh_token: tok.refresh_token, expires_at: Date.now() + (tok.expires_in || 900) * 1000, email: EMAIL };
  return `try { if (!sessionStorage.getItem('e2e.init')) { localStorage.setItem('dmf.tokens', ${JSON.stringify(JSON.stringify(t))}); sessionStorage.setItem('e2e.init', '1'); } } catch (e) {}`;
}

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** makePNG draws a small test photo (RGB gradient with a cross) and returns the PNG bytes. */
export function makePNG(w = 320, h = 240) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const i = y * (w * 3 + 1) + 1 + x * 3;
      const cross = Math.abs(x - w / 2) < 4 || Math.abs(y - h / 2) < 4;
      raw[i] = cross ? 255 : Math.round((x / w) * 255);
      raw[i + 1] = cross ? 255 : Math.round((y / h) * 200);
      raw[i + 2] = cross ? 255 : 140;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** drawSignature scribbles on a canvas element with the mouse (pointer events). */
export async function drawSignature(page, selector) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  if (!box) throw new Error('signature pad not visible');
  const x0 = box.x + 30;
  const y0 = box.y + box.height * 0.6;
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  for (let i = 1; i <= 24; i++) {
    await page.mouse.move(x0 + i * ((box.width - 80) / 24), y0 - Math.sin(i / 2) * 40, { steps: 2 });
  }
  await page.mouse.up();
  await page.mouse.move(x0 + 40, y0 - 60);
  await page.mouse.down();
  await page.mouse.move(x0 + 70, y0 + 10, { steps: 5 });
  await page.mouse.up();
}
