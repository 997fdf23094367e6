// Last known position (for events and photos) without ever making a tap wait for GPS.
export interface Fix { lat: number; lon: number; accuracy: number; at: number }
let last: Fix | null = null;
let watching = false;

export function startWatching() {
  if (watching || !('geolocation' in navigator)) return;
  watching = true;
  try {
    navigator.geolocation.watchPosition(
      (p) => (last = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy, at: Date.now() }),
      () => undefined,
      { enableHighAccuracy: true, maximumAge: 60000, timeout: 60000 },
    );
  } catch {
    /* no GPS */
  }
}

/** lastFix returns a position no older than maxAgeMs, or null. */
export function lastFix(maxAgeMs = 5 * 60000): Fix | null {
  return last && Date.now() - last.at <= maxAgeMs ? last : null;
}

/** currentFix asks for a fresh position (survey GPS questions); rejects with a readable message. */
export function currentFix(timeoutMs = 20000): Promise<Fix> {
  return new Promise((resolve, reject) => {
    if (!('geolocation' in navigator)) return reject(new Error('This device has no location service.'));
    navigator.geolocation.getCurrentPosition(
      (p) => {
        last = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy, at: Date.now() };
        resolve(last);
      },
      (err) =>
        reject(
          new Error(
            err.code === err.PERMISSION_DENIED
              ? 'Location permission is blocked. Allow location for this app in the browser settings, then try again.'
              : err.code === err.TIMEOUT
                ? 'No GPS fix yet. Move to open sky and try again.'
                : 'Location is unavailable right now.',
          ),
        ),
      { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 30000 },
    );
  });
}
