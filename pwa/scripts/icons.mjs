// Generates the app icons (PNG via a tiny encoder, and an SVG): a blue tile with a white
// fiber-cable cross-section (ring with a core). No image files are kept in the repository.
import { deflateSync } from 'node:zlib';

const BLUE = [11, 79, 156];
const WHITE = [255, 255, 255];
const ORANGE = [245, 130, 32];

export function iconPixels(size, maskable) {
  const px = Buffer.alloc(size * size * 4);
  const c = (size - 1) / 2;
  const radius = maskable ? size / 2 : size * 0.2; // corner radius of the tile
  const scale = maskable ? 0.72 : 1; // keep the mark inside the maskable safe zone
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 4;
      let inside = true;
      if (!maskable) {
        const dx = Math.max(radius - x, 0, x - (size - 1 - radius));
        const dy = Math.max(radius - y, 0, y - (size - 1 - radius));
        inside = dx * dx + dy * dy <= radius * radius;
      }
      if (!inside) continue; // transparent
      const d = Math.hypot(x - c, y - c) / (size / 2) / scale;
      let col = BLUE;
      if (d < 0.62 && d > 0.48) col = WHITE; // jacket ring
      else if (d <= 0.2) col = ORANGE; // core
      else if (d <= 0.26) col = WHITE; // cladding
      px.set([...col, 255], i);
    }
  }
  return px;
}

export function iconSVG() {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">
<rect width="512" height="512" rx="102" fill="rgb(${BLUE})"/>
<circle cx="256" cy="256" r="141" fill="none" stroke="#fff" stroke-width="36"/>
<circle cx="256" cy="256" r="66" fill="#fff"/>
<circle cx="256" cy="256" r="51" fill="rgb(${ORANGE})"/>
</svg>
`;
}

const CRC_TABLE = (() => {
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
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** encodePNG encodes RGBA pixels (Buffer of w*h*4) as a PNG file. */
export function encodePNG(w, h, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc((w * 4 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 4 + 1)] = 0;
    rgba.copy(raw, y * (w * 4 + 1) + 1, y * w * 4, (y + 1) * w * 4);
  }
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
