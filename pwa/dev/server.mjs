// Throwaway development server for the PWA (node, no dependencies). It serves pwa/dist/ and an
// in-memory imitation of the edge agent's API (see the project's field API notes). It is a dev aid
// only: the real browser tests run against the real edge agent.
//
//   node dev/server.mjs            PORT=8099 JOBS=12 (jobs generated for tech1) LATENCY_MS=0
//   POST /__dev/online {"online":false}   flip the simulated hub link
//   POST /__dev/down {"ms":5000}          make /api/ answer nothing (connection reset) for a while
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync, existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const PORT = Number(process.env.PORT || 8099);
const HOST = process.env.HOST || '127.0.0.1';
const N_JOBS = Number(process.env.JOBS || 12);
const LATENCY = Number(process.env.LATENCY_MS || 0);
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

// ---------- data ----------
const TECH = { id: '0190a000-0000-7000-8000-000000000001', email: 'tech1@example.com', password: 'tech123!', name: 'Tess Technician' };
const HELPER = { id: '0190a000-0000-7000-8000-000000000002', name: 'Hal Helper' };
const LEAD = { id: '0190a000-0000-7000-8000-000000000003', name: 'Paula Primary' };
const CENTER = [6.4541, 3.3947]; // lat, lon

let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rnd() * a.length)];

const STREETS = ['Adeola Odeku St', 'Awolowo Rd', 'Ozumba Mbadiwe Ave', 'Akin Adesola St', 'Kofo Abayomi St', 'Ahmadu Bello Way', 'Admiralty Way', 'Bishop Aboyade Cole St'];
const NAMES = ['Ada Okafor', 'Bola Adeyemi', 'Chidi Nwosu', 'Dayo Bakare', 'Efe Omoregie', 'Funke Alabi', 'Gbenga Ojo', 'Halima Musa', 'Ike Eze', 'Jumoke Ade'];
const TITLES = {
  install: ['FTTH install, 100 Mb plan', 'New ONT install', 'Business fiber install'],
  repair: ['No signal on ONT (LOS red)', 'Slow speeds, check drop', 'Fiber cut in drop cable'],
  survey: ['Site survey for wireless link', 'Rooftop survey'],
  maintenance: ['Closure re-entry and clean', 'Cabinet inspection'],
  disconnect: ['Recover ONT and router'],
};

const SURVEY = {
  template_id: '0190a000-0000-7000-8000-0000000000a1',
  name: 'FTTH install checklist',
  questions: [
    { id: 'q_power', label: 'Optical power at ONT (dBm)', type: 'number', required: true, options: null },
    { id: 'q_route', label: 'Drop route', type: 'choice', required: true, options: ['Aerial', 'Underground', 'Wall-mounted'] },
    { id: 'q_checks', label: 'Checks done', type: 'checkbox', required: false, options: ['Labelled ONT', 'Sealed entry', 'Speed test'] },
    { id: 'q_safe', label: 'Site left clean and safe', type: 'checkbox', required: true, options: null },
    { id: 'q_comment', label: 'Comments', type: 'text', required: false, options: null },
    { id: 'q_photo', label: 'Photo of the ONT location', type: 'photo', required: false, options: null },
    { id: 'q_gps', label: 'ONT position', type: 'gps', required: false, options: null },
    { id: 'q_sig', label: 'Customer acceptance', type: 'signature', required: false, options: null },
  ],
};

const jobs = new Map();
const closures = new Map();
const features = [];
const attachments = new Map(); // id -> {meta, bytes}
const replay = new Map(); // client id -> response JSON
let online = true;
let downUntil = 0;
let pendingUploads = 0;
let lastSync = new Date().toISOString();
const now = Date.now();
const dayStart = new Date();
dayStart.setHours(0, 0, 0, 0);

function mkJob(i) {
  const work_type = i === 0 ? 'install' : pick(Object.keys(TITLES));
  const day = i < Math.max(4, Math.ceil(N_JOBS / 8)) ? 0 : Math.floor(rnd() * 8);
  const start = new Date(dayStart.getTime() + day * 86400000 + (8 + (i % 9)) * 3600000 + (i % 2) * 1800000);
  const lat = CENTER[0] + (rnd() - 0.5) * 0.06;
  const lon = CENTER[1] + (rnd() - 0.5) * 0.08;
  const name = pick(NAMES);
  const address = `${1 + Math.floor(rnd() * 200)} ${pick(STREETS)}, Lagos`;
  let status = 'scheduled';
  if (i === 1) status = 'dispatched';
  else if (i === 2) status = 'in_progress';
  else if (i === 3 && N_JOBS > 5) status = 'completed';
  else if (i > 3) status = pick(['scheduled', 'scheduled', 'dispatched', 'scheduled']);
  const crewJob = i === 4;
  const id = randomUUID();
  const job = {
    id,
    number: 'WO-' + String(1001 + i).padStart(6, '0'),
    title: pick(TITLES[work_type]),
    description: 'Customer reports: ' + pick(['no internet since yesterday', 'new subscription', 'slow evenings', 'moving router']) + '.\nBring ladder and spare SC/APC connectors.',
    status,
    priority: pick(['normal', 'normal', 'high', 'urgent', 'low']),
    work_type,
    version: 1,
    scheduled_start: start.toISOString(),
    scheduled_end: new Date(start.getTime() + 2 * 3600000).toISOString(),
    started_at: status === 'in_progress' ? new Date(now - 1800000).toISOString() : null,
    paused_at: null,
    completed_at: status === 'completed' ? new Date(now - 3600000).toISOString() : null,
    total_active_seconds: status === 'in_progress' ? 1800 : status === 'completed' ? 5400 : 0,
    access_notes: i % 3 === 0 ? 'Gate code 4471. Dog in the yard — call before entering. Cabinet key at security post.' : '',
    tags: i % 2 ? ['fiber', 'residential'] : ['fiber'],
    assigned_to: crewJob ? LEAD.id : TECH.id,
    is_primary: !crewJob,
    crew: crewJob
      ? [{ person_id: LEAD.id, name: LEAD.name, is_primary: true }, { person_id: TECH.id, name: TECH.name, is_primary: false }]
      : [{ person_id: TECH.id, name: TECH.name, is_primary: true }, { person_id: HELPER.id, name: HELPER.name, is_primary: false }],
    site: { address, lat, lon },
    customer: { id: randomUUID(), name, phone: '+234 80' + Math.floor(10000000 + rnd() * 89999999), email: name.toLowerCase().replace(' ', '.') + '@example.com', address },
    notes: i % 2 === 0 ? [{ id: randomUUID(), body: 'Customer prefers morning visits.', author_id: LEAD.id, author_name: 'Dispatch', is_internal: false, client_ref: null, created_at: new Date(now - 86400000).toISOString() }] : [],
    materials: [
      { id: randomUUID(), item_id: randomUUID(), sku: 'ONT-HG8245', name: 'ONT Huawei HG8245', unit: 'pcs', quantity: 1, quantity_used: 0, status: 'reserved' },
      { id: randomUUID(), item_id: randomUUID(), sku: 'DROP-1F-100', name: 'Drop cable 1F', unit: 'm', quantity: 120, quantity_used: 0, status: 'reserved' },
      { id: randomUUID(), item_id: randomUUID(), sku: 'CONN-SCAPC', name: 'SC/APC fast connector', unit: 'pcs', quantity: 4, quantity_used: 0, status: 'required' },
    ],
    attachments: [],
    events: [],
    survey: work_type === 'install' || i === 0 ? JSON.parse(JSON.stringify({ ...SURVEY, answers: {} })) : null,
  };
  if (status !== 'scheduled') job.events.push(ev(job, 'accept', 'scheduled', 'scheduled', new Date(now - 7200000)));
  if (status === 'in_progress') job.events.push(ev(job, 'start', 'dispatched', 'in_progress', new Date(now - 1800000)));
  return job;
}
function ev(job, event, from, to, at = new Date(), extra = {}) {
  return { id: randomUUID(), event, from_status: from, to_status: to, occurred_at: at.toISOString(), received_at: new Date().toISOString(), actor_id: TECH.id, lat: null, lon: null, note: null, clock_skew: false, client_event_id: null, payload: {}, ...extra };
}
function mkPlant(job, k) {
  const { lat, lon } = job.site;
  const cab = [lat + 0.0016, lon - 0.0022];
  const clo = [lat + 0.0006, lon - 0.0008];
  const cabId = randomUUID();
  const cloId = randomUUID();
  const f = (geometry, props) => ({ type: 'Feature', geometry, properties: { id: randomUUID(), status: 'active', ...props } });
  features.push(
    f({ type: 'Point', coordinates: [cab[1], cab[0]] }, { id: cabId, kind: 'fdh_cabinet', name: `FDH-${k}A` }),
    f({ type: 'Point', coordinates: [clo[1], clo[0]] }, { id: cloId, kind: 'splice_closure', name: `SC-${k}-07` }),
    f({ type: 'Point', coordinates: [lon - 0.0003, lat + 0.0002] }, { kind: 'splitter', name: `SPL 1:8 #${k}` }),
    f({ type: 'LineString', coordinates: [[cab[1], cab[0]], [cab[1] + 0.0008, cab[0] - 0.0004], [clo[1], clo[0]]] }, { kind: 'segment', name: `Feeder ${k}`, fiber_count: 48 }),
    f({ type: 'LineString', coordinates: [[clo[1], clo[0]], [lon - 0.0003, lat + 0.0002], [lon, lat]] }, { kind: 'segment', name: `Drop ${k}`, fiber_count: 2 }),
    f({ type: 'LineString', coordinates: [[clo[1], clo[0]], [clo[1] + 0.002, clo[0] + 0.0012]] }, { kind: 'segment', name: `Distribution ${k}`, fiber_count: 24, status: 'planned' }),
    f({ type: 'Point', coordinates: [cab[1] + 0.0008, cab[0] - 0.0004] }, { kind: 'pole', name: `P-${k}-1` }),
  );
  const trays = [];
  for (let t = 1; t <= 3; t++) {
    const splices = [];
    const n = t === 3 ? 0 : 12;
    for (let s = 1; s <= n; s++) {
      const num = (t - 1) * 12 + s;
      splices.push({ id: randomUUID(), in_strand: { cable: `Feeder ${k}`, number: num, color: null }, out_strand: { cable: `Distribution ${k}`, number: num + (t === 2 ? 12 : 0), color: null } });
    }
    trays.push({ id: randomUUID(), number: t, splices });
  }
  closures.set(cloId, { id: cloId, name: `SC-${k}-07`, trays });
}
for (let i = 0; i < N_JOBS; i++) {
  const j = mkJob(i);
  jobs.set(j.id, j);
  if (i < 30) mkPlant(j, i + 1);
}

// ---------- state machine (mirror of the shared rules) ----------
const RULES = {
  accept: [['scheduled', 'dispatched'], null],
  en_route: [['scheduled', 'dispatched', 'paused'], 'dispatched'],
  arrived: [['scheduled', 'dispatched', 'paused'], null],
  start: [['scheduled', 'dispatched'], 'in_progress'],
  pause: [['in_progress'], 'paused'],
  hold: [['in_progress'], 'paused'],
  resume: [['paused'], 'in_progress'],
  complete: [['in_progress'], 'completed'],
  unable_to_complete: [['scheduled', 'dispatched', 'in_progress', 'paused'], 'canceled'],
};
const REASONS = ['customer_absent', 'no_access', 'site_not_ready', 'needs_parts', 'unsafe', 'other'];
function allowed(job) {
  if (!job.is_primary) return [];
  return Object.entries(RULES).filter(([e, [from]]) => from.includes(job.status) && !(e === 'accept' && job.events.some((x) => x.event === 'accept'))).map(([e]) => e);
}
const view = (job) => ({ ...job, allowed_events: allowed(job) });
function listItem(job) {
  const { notes, materials, attachments: a, events, survey, ...rest } = view(job);
  return rest;
}

// ---------- http ----------
const tokens = new Map(); // access -> {user, exp}
const refreshTokens = new Map();
function issue() {
  const access = randomUUID();
  const refresh = randomUUID();
  tokens.set(access, { exp: Date.now() + 900000 });
  refreshTokens.set(refresh, true);
  return { access_token: access, refresh_token: refresh, token_type: 'bearer', expires_in: 900 };
}

function send(res, status, body, headers = {}) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}
const err = (res, status, code, message, fields = {}) => send(res, status, { error: { code, message, fields } });

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.webmanifest': 'application/manifest+json', '.png': 'image/png', '.svg': 'image/svg+xml' };

function serveStatic(req, res, path) {
  let p = normalize(decodeURIComponent(path)).replace(/^(\.\.[/\\])+/, '');
  if (p === '/' || p === '') p = '/index.html';
  const file = join(DIST, p);
  if (!file.startsWith(DIST) || !existsSync(file) || statSync(file).isDirectory()) return err(res, 404, 'not_found', 'not found');
  res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', 'Cache-Control': p === '/sw.js' ? 'no-cache' : 'no-cache' });
  res.end(readFileSync(file));
}

function bump() {
  pendingUploads++;
  if (online) setTimeout(() => { pendingUploads = Math.max(0, pendingUploads - 1); lastSync = new Date().toISOString(); }, 1500);
}

async function api(req, res, url) {
  const path = url.pathname;
  const m = (re) => re.exec(path);
  if (req.method === 'POST' && path === '/api/v1/auth/login') {
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (b.email !== TECH.email || b.password !== TECH.password) return err(res, 401, 'unauthorized', 'invalid email or password');
    return send(res, 200, issue());
  }
  if (req.method === 'POST' && path === '/api/v1/auth/refresh') {
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (!refreshTokens.has(b.refresh_token)) return err(res, 401, 'unauthorized', 'refresh token invalid');
    refreshTokens.delete(b.refresh_token);
    return send(res, 200, issue());
  }
  const tok = (req.headers.authorization || '').replace(/^Bearer /, '');
  const t = tokens.get(tok);
  if (!t || t.exp < Date.now()) return err(res, 401, 'unauthorized', 'missing or expired token');

  if (req.method === 'GET' && path === '/api/v1/auth/me')
    return send(res, 200, { id: TECH.id, email: TECH.email, display_name: TECH.name, roles: ['field_technician'], permissions: ['field:job:execute'] });
  if (req.method === 'GET' && path === '/api/v1/sync/status')
    return send(res, 200, { online, pending_uploads: pendingUploads, last_sync_at: lastSync, last_error: online ? null : 'hub unreachable: dial tcp: connection refused', open_conflicts: 0, scope: { work_orders: jobs.size, customers: jobs.size, map_features: features.length, closures: closures.size } });
  if (req.method === 'GET' && path === '/api/v1/sync/conflicts') return send(res, 200, { items: [], total: 0, limit: 0, offset: 0 });
  if (req.method === 'GET' && path === '/api/v1/field/jobs') {
    const from = url.searchParams.get('from');
    const to = url.searchParams.get('to');
    const st = url.searchParams.get('status');
    const limit = Math.min(Number(url.searchParams.get('limit') || 50), 500);
    const offset = Number(url.searchParams.get('offset') || 0);
    const all = [...jobs.values()]
      .filter((j) => (!from || j.scheduled_start >= from) && (!to || j.scheduled_start < to) && (!st || j.status === st))
      .sort((a, b) => a.scheduled_start.localeCompare(b.scheduled_start));
    return send(res, 200, { items: all.slice(offset, offset + limit).map(listItem), total: all.length, limit, offset });
  }
  let mm;
  if ((mm = m(/^\/api\/v1\/field\/jobs\/([^/]+)$/)) && req.method === 'GET') {
    const j = jobs.get(mm[1]);
    return j ? send(res, 200, view(j)) : err(res, 404, 'not_found', 'job not found');
  }
  if ((mm = m(/^\/api\/v1\/field\/jobs\/([^/]+)\/transition$/)) && req.method === 'POST') {
    const j = jobs.get(mm[1]);
    if (!j) return err(res, 404, 'not_found', 'job not found');
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (!b.client_event_id) return err(res, 422, 'invalid', 'client_event_id is required', { client_event_id: 'required' });
    if (replay.has(b.client_event_id)) {
      const r = replay.get(b.client_event_id);
      return send(res, 200, { job: view(jobs.get(r.job)), event: { ...r.event, replayed: true } });
    }
    if (!j.is_primary) return err(res, 403, 'forbidden', 'only the primary technician may change the status');
    const rule = RULES[b.event];
    if (!rule) return err(res, 422, 'invalid', 'unknown event', { event: 'unknown' });
    if (!rule[0].includes(j.status)) return err(res, 409, 'conflict', `event ${b.event} is not allowed from status ${j.status}`);
    const payload = b.payload || {};
    if (b.event === 'unable_to_complete' && !REASONS.includes(payload.reason)) return err(res, 422, 'invalid', 'a reason is required', { reason: 'one of ' + REASONS.join(', ') });
    if (b.event === 'complete') {
      const fields = {};
      if (!j.attachments.some((a) => a.kind === 'photo')) fields.photo = 'at least one photo is required';
      if (!j.attachments.some((a) => a.kind === 'signature') && !payload.signature_unavailable_reason) fields.signature = 'a signature or signature_unavailable_reason is required';
      if (Object.keys(fields).length) return err(res, 422, 'invalid', 'completion gate not met', fields);
    }
    const from = j.status;
    let to = rule[1] ?? from;
    if (b.event === 'en_route' && from === 'paused') to = from;
    const skew = b.occurred_at && Math.abs(Date.parse(b.occurred_at) - Date.now()) > 15 * 60000;
    const e = ev(j, b.event, from, to, b.occurred_at ? new Date(b.occurred_at) : new Date(), { lat: b.lat ?? null, lon: b.lon ?? null, note: b.note ?? null, clock_skew: !!skew, client_event_id: b.client_event_id, payload });
    j.events.push(e);
    j.status = to;
    j.version++;
    if (to === 'in_progress' && !j.started_at) j.started_at = new Date().toISOString();
    if (to === 'paused') j.paused_at = new Date().toISOString();
    if (to === 'completed') j.completed_at = new Date().toISOString();
    const event = { id: e.id, replayed: false, clock_skew: !!skew };
    replay.set(b.client_event_id, { job: j.id, event });
    bump();
    return send(res, 200, { job: view(j), event });
  }
  if ((mm = m(/^\/api\/v1\/field\/jobs\/([^/]+)\/notes$/)) && req.method === 'POST') {
    const j = jobs.get(mm[1]);
    if (!j) return err(res, 404, 'not_found', 'job not found');
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (replay.has(b.client_ref)) return send(res, 200, replay.get(b.client_ref));
    if (!String(b.body || '').trim()) return err(res, 422, 'invalid', 'note body is empty', { body: 'required' });
    const n = { id: randomUUID(), body: b.body, author_id: TECH.id, author_name: TECH.name, is_internal: false, client_ref: b.client_ref, created_at: new Date().toISOString() };
    j.notes.push(n);
    replay.set(b.client_ref, n);
    bump();
    return send(res, 201, n);
  }
  if ((mm = m(/^\/api\/v1\/field\/jobs\/([^/]+)\/materials\/consume$/)) && req.method === 'POST') {
    const j = jobs.get(mm[1]);
    if (!j) return err(res, 404, 'not_found', 'job not found');
    const b = JSON.parse((await body(req)).toString() || '{}');
    if (replay.has(b.client_ref)) return send(res, 200, replay.get(b.client_ref));
    for (const l of b.lines || []) {
      const mat = j.materials.find((x) => x.id === l.material_id);
      if (!mat) return err(res, 422, 'invalid', 'unknown material', { material_id: l.material_id });
      mat.quantity_used += Number(l.quantity);
      mat.status = 'used';
    }
    const r = { materials: j.materials };
    replay.set(b.client_ref, JSON.parse(JSON.stringify(r)));
    bump();
    return send(res, 200, r);
  }
  if ((mm = m(/^\/api\/v1\/field\/jobs\/([^/]+)\/survey$/)) && req.method === 'POST') {
    const j = jobs.get(mm[1]);
    if (!j || !j.survey) return err(res, 404, 'not_found', 'no survey');
    const b = JSON.parse((await body(req)).toString() || '{}');
    const missing = {};
    for (const q of j.survey.questions) {
      const v = b.answers?.[q.id];
      if (q.required && (v == null || v === '' || v === false || (Array.isArray(v) && !v.length))) missing[q.id] = 'required';
    }
    if (Object.keys(missing).length) return err(res, 422, 'invalid', 'required answers missing', missing);
    j.survey.answers = b.answers;
    bump();
    return send(res, 200, { ok: true, answers: b.answers });
  }
  if (path === '/api/v1/field/attachments' && req.method === 'POST') {
    const raw = await body(req);
    let fd;
    try {
      fd = await new Request('http://x/', { method: 'POST', headers: { 'content-type': req.headers['content-type'] }, body: raw }).formData();
    } catch {
      return err(res, 400, 'invalid', 'multipart body expected');
    }
    const ref = fd.get('client_ref');
    if (replay.has(ref)) return send(res, 200, replay.get(ref));
    const j = jobs.get(fd.get('work_order_id'));
    if (!j) return err(res, 404, 'not_found', 'job not found');
    const file = fd.get('file');
    if (!file || typeof file === 'string') return err(res, 422, 'invalid', 'file is required', { file: 'required' });
    if (file.size > 5 * 1024 * 1024) return err(res, 422, 'invalid', 'file is larger than 5 MB', { file: 'too large' });
    if (!['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'application/pdf'].includes(file.type)) return err(res, 422, 'invalid', `type ${file.type} not allowed`, { file: 'type not allowed' });
    const a = { id: randomUUID(), kind: fd.get('kind') || 'photo', file_name: file.name, mime: file.type, size: file.size, url: '', captured_at: fd.get('captured_at') || new Date().toISOString(), client_ref: ref, signer_name: fd.get('signer_name') || null, lat: Number(fd.get('lat')) || null, lon: Number(fd.get('lon')) || null };
    a.url = `/api/v1/field/attachments/${a.id}/content`;
    attachments.set(a.id, { meta: a, bytes: Buffer.from(await file.arrayBuffer()) });
    j.attachments.push(a);
    replay.set(ref, a);
    bump();
    return send(res, 201, a);
  }
  if ((mm = m(/^\/api\/v1\/field\/attachments\/([^/]+)\/content$/)) && req.method === 'GET') {
    const a = attachments.get(mm[1]);
    if (!a) return err(res, 404, 'not_found', 'attachment not found');
    res.writeHead(200, { 'Content-Type': a.meta.mime, 'Content-Length': a.bytes.length });
    return res.end(a.bytes);
  }
  if (path === '/api/v1/field/map-assets' && req.method === 'GET') {
    const [w, s, e, n] = (url.searchParams.get('bbox') || '-180,-90,180,90').split(',').map(Number);
    const inBox = ([x, y]) => x >= w && x <= e && y >= s && y <= n;
    const fs = features.filter((f) => (f.geometry.type === 'Point' ? inBox(f.geometry.coordinates) : f.geometry.coordinates.some(inBox)));
    return send(res, 200, { type: 'FeatureCollection', features: fs });
  }
  if ((mm = m(/^\/api\/v1\/field\/splice-closures\/([^/]+)$/)) && req.method === 'GET') {
    const c = closures.get(mm[1]);
    return c ? send(res, 200, c) : err(res, 404, 'not_found', 'closure not found');
  }
  return err(res, 404, 'not_found', 'no such endpoint');
}

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname === '/__dev/online' && req.method === 'POST') {
      online = !!JSON.parse((await body(req)).toString() || '{}').online;
      return send(res, 200, { online });
    }
    if (url.pathname === '/__dev/down' && req.method === 'POST') {
      downUntil = Date.now() + Number(JSON.parse((await body(req)).toString() || '{}').ms || 5000);
      return send(res, 200, { downUntil });
    }
    if (url.pathname === '/healthz') return send(res, 200, { ok: true });
    if (url.pathname.startsWith('/api/')) {
      if (Date.now() < downUntil) return req.socket.destroy();
      if (LATENCY) await new Promise((r) => setTimeout(r, LATENCY));
      return await api(req, res, url);
    }
    return serveStatic(req, res, url.pathname);
  } catch (e) {
    console.error(e);
    err(res, 500, 'internal', String(e.message || e));
  }
}).listen(PORT, HOST, () => console.log(`dev server on http://${HOST}:${PORT} (${jobs.size} jobs)`));
