// DotMac Field service worker: keeps the app shell so the UI loads while the edge agent restarts.
// API calls (/api/) are never cached here: the app keeps its own data in IndexedDB.
const VERSION = '__VERSION__';
const CACHE = 'dmf-shell-' + VERSION;
const SHELL = __SHELL__;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE).then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' })))).then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('dmf-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/healthz' || url.pathname === '/readyz') return;

  if (req.mode === 'navigate') {
    // Network first (fresh shell when the agent is up), cached shell when it is not.
    event.respondWith(
      fetch(req).then((res) => (res.ok ? res : caches.match('./').then((c) => c || res)))
        .catch(() => caches.match('./', { cacheName: CACHE }).then((c) => c || caches.match('index.html'))),
    );
    return;
  }
  // Shell assets: cache first (they are versioned by this worker), network as a fallback.
  event.respondWith(
    caches.match(req, { cacheName: CACHE, ignoreSearch: true }).then((hit) => hit || fetch(req)),
  );
});
