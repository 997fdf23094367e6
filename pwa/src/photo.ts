// Photo intake: checks type and size, downscales on the device to 1600 px on the long edge and
// re-encodes as JPEG (so uploads are small and predictable).
export const MAX_EDGE = 1600;
export const MAX_INPUT_BYTES = 40 * 1024 * 1024; // what we accept from the camera / file picker
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024; // what the agent accepts
const TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];

export class PhotoError extends Error {}

export function checkPhoto(file: File | Blob): void {
  const type = file.type || '';
  const name = (file as File).name || 'the file';
  if (!TYPES.includes(type)) {
    if (/heic|heif/i.test(type) || /\.hei[cf]$/i.test(name))
      throw new PhotoError(`${name} is a HEIC photo, which cannot be read here. Set the camera to JPEG ("Most compatible") or pick another photo.`);
    throw new PhotoError(`${name} is not a photo this app can use (${type || 'unknown type'}). Use a JPEG, PNG, WebP or GIF image.`);
  }
  if (file.size > MAX_INPUT_BYTES)
    throw new PhotoError(`${name} is too large (${(file.size / 1048576).toFixed(1)} MB; the limit is ${MAX_INPUT_BYTES / 1048576} MB). Take the photo at a lower resolution.`);
  if (file.size === 0) throw new PhotoError(`${name} is empty.`);
}

function canvasBlob(c: HTMLCanvasElement, type: string, q?: number): Promise<Blob> {
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new PhotoError('Could not encode the photo.'))), type, q));
}

export async function downscale(file: Blob): Promise<{ blob: Blob; width: number; height: number }> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { imageOrientation: 'from-image' } as ImageBitmapOptions);
  } catch {
    throw new PhotoError('This image could not be read (damaged or unsupported). Try taking it again.');
  }
  const scale = Math.min(1, MAX_EDGE / Math.max(bmp.width, bmp.height));
  const w = Math.max(1, Math.round(bmp.width * scale));
  const h = Math.max(1, Math.round(bmp.height * scale));
  const c = document.createElement('canvas');
  c.width = w;
  c.height = h;
  const ctx = c.getContext('2d');
  if (!ctx) throw new PhotoError('This device cannot process photos (no canvas).');
  ctx.fillStyle = '#fff'; // JPEG has no transparency
  ctx.fillRect(0, 0, w, h);
  ctx.drawImage(bmp, 0, 0, w, h);
  bmp.close?.();
  let blob = await canvasBlob(c, 'image/jpeg', 0.85);
  for (const q of [0.7, 0.55, 0.4]) {
    if (blob.size <= MAX_UPLOAD_BYTES) break;
    blob = await canvasBlob(c, 'image/jpeg', q);
  }
  if (blob.size > MAX_UPLOAD_BYTES) throw new PhotoError('The photo is still too large after compression.');
  return { blob, width: w, height: h };
}
