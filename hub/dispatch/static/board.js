// Dispatch board: a day or week timeline per technician, the unassigned queue, a map, and live
// updates over a reconnecting websocket. Plain JS; the page's data comes from
// /admin/operations/dispatch/* (the same handlers as /api/v1/dispatch/*, on the staff session).
(function () {
  "use strict";
  var root = document.getElementById("board");
  if (!root) return;
  var BASE = "/admin/operations/dispatch";
  var CSRF = root.dataset.csrf;
  var CAN = root.dataset.canDispatch === "true";
  var TILES = root.dataset.tiles || "";
  var TZ = (Intl.DateTimeFormat().resolvedOptions().timeZone) || "UTC";
  var H0 = 6, H1 = 21; // the day view shows at least 06:00–21:00, more when jobs or shifts need it
  var st = { date: root.dataset.today, days: 1, region: "", skill: "", status: "", data: null, byId: {}, techs: {}, selected: null, fitted: false };
  var $ = function (id) { return document.getElementById(id); };

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  var hm = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  var dm = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  function fmtTime(s) { return s ? hm.format(new Date(s)) : "unscheduled"; }
  function fmtWhen(s) { return s ? dm.format(new Date(s)) + " " + hm.format(new Date(s)) : "unscheduled"; }

  function msg(text, isErr) {
    var m = $("db-msg");
    m.textContent = text;
    m.className = "db-msg" + (isErr ? " err" : "");
    m.hidden = !text;
  }

  function api(method, path, body) {
    var opt = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      opt.headers["X-CSRF-Token"] = CSRF;
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body || {});
    }
    return fetch(BASE + path, opt).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
        if (!r.ok) {
          var e = new Error((j && j.error && j.error.message) || ("request failed (" + r.status + ")"));
          e.status = r.status;
          throw e;
        }
        return j;
      });
    });
  }

  // --- time scale ------------------------------------------------------------------------------
  function from() { return st.data ? new Date(st.data.from).getTime() : Date.now(); }
  // frac places a time on the lane (0..1), or null outside the window.
  function frac(iso) {
    if (!iso) return null;
    var t = new Date(iso).getTime(), f0 = from();
    var mins = (t - f0) / 60000;
    if (st.days === 1) {
      var v = (mins - H0 * 60) / ((H1 - H0) * 60);
      return v < -0.05 || v > 1.05 ? null : Math.max(0, Math.min(1, v));
    }
    var day = Math.floor(mins / 1440);
    if (day < 0 || day > 6) return null;
    var w = Math.max(0, Math.min(1, (mins - day * 1440 - H0 * 60) / ((H1 - H0) * 60)));
    return (day + w) / 7;
  }
  // timeAt turns a lane fraction back into a time (snapped to 15 minutes).
  function timeAt(f) {
    var mins;
    if (st.days === 1) mins = H0 * 60 + f * (H1 - H0) * 60;
    else {
      var day = Math.min(6, Math.floor(f * 7));
      mins = day * 1440 + H0 * 60 + (f * 7 - day) * (H1 - H0) * 60;
    }
    mins = Math.round(mins / 15) * 15;
    return new Date(from() + mins * 60000);
  }
  function endOf(j) {
    if (j.scheduled_end) return j.scheduled_end;
    var m = j.estimated_duration_minutes || 60;
    return new Date(new Date(j.scheduled_start).getTime() + m * 60000).toISOString();
  }

  // --- loading ---------------------------------------------------------------------------------
  function query() {
    var q = new URLSearchParams({ date: st.date, days: String(st.days), tz: TZ });
    ["region", "skill", "status"].forEach(function (k) { if (st[k]) q.set(k, st[k]); });
    return q.toString();
  }
  var loading = null;
  function load() {
    var q = query();
    loading = q;
    return api("GET", "/board.json?" + q).then(function (d) {
      if (loading !== q) return;
      st.data = d;
      st.byId = {};
      st.techs = {};
      d.jobs.concat(d.queue).forEach(function (j) { st.byId[j.id] = j; });
      d.technicians.forEach(function (t) { st.techs[t.id] = t; });
      fillFilters(d);
      render();
      loadMap();
    }).catch(function (e) { msg("The board could not be loaded: " + e.message, true); });
  }

  function fillFilters(d) {
    var fill = function (sel, items, first) {
      var cur = sel.value;
      sel.innerHTML = '<option value="">' + first + "</option>" + items.map(function (i) {
        return '<option value="' + esc(i.id) + '">' + esc(i.name) + "</option>";
      }).join("");
      sel.value = cur;
    };
    fill($("db-region"), d.regions.map(function (r) { return { id: r, name: r }; }), "All regions");
    fill($("db-skill"), d.skills, "All skills");
  }

  // --- rendering -------------------------------------------------------------------------------
  function jobButton(j, cls, style) {
    var label = j.number + " · " + j.title;
    return '<button type="button" draggable="' + CAN + '" class="db-job st-' + esc(j.status) + (cls || "") + '" data-job="' + esc(j.id) + '"' +
      (style ? ' style="' + style + '"' : "") + ' aria-pressed="' + (st.selected === j.id) + '" title="' + esc(label + " — " + fmtWhen(j.scheduled_start) + " · " + j.status) + '">' +
      "<span><b>" + esc(j.number) + "</b> " + esc(fmtTime(j.scheduled_start)) + "</span><span>" + esc(j.title) + "</span></button>";
  }

  // hours widens the day view to the shifts and jobs of the day.
  function hours(d) {
    H0 = 6; H1 = 21;
    if (st.days !== 1) return;
    var f0 = from();
    var see = function (iso) {
      if (!iso) return;
      var h = (new Date(iso).getTime() - f0) / 3600000;
      if (h >= 0 && h < 24) { H0 = Math.min(H0, Math.floor(h)); H1 = Math.max(H1, Math.min(24, Math.ceil(h))); }
    };
    d.shifts.forEach(function (s) { see(s.starts_at); see(s.ends_at); });
    d.jobs.concat(d.queue).forEach(function (j) { see(j.scheduled_start); if (j.scheduled_start) see(endOf(j)); });
  }

  function render() {
    var d = st.data;
    if (!d) return;
    hours(d);
    // header scale
    var ticks = "";
    if (st.days === 1) {
      var every = H1 - H0 > 12 ? 2 : 1;
      for (var h = H0; h < H1; h++) ticks += '<div class="db-tick" style="left:' + ((h - H0) / (H1 - H0) * 100) + '%">' + ((h - H0) % every ? "" : String(h).padStart(2, "0") + ":00") + "</div>";
    } else {
      for (var i = 0; i < 7; i++) ticks += '<div class="db-tick" style="left:' + (i / 7 * 100) + '%">' + esc(dm.format(new Date(from() + i * 86400000 + 12 * 3600000))) + "</div>";
    }
    $("db-head").innerHTML = '<div class="db-who">Technician</div><div class="db-scale">' + ticks + "</div>";

    var jobsBy = {}, shiftsBy = {}, blocksBy = {};
    d.jobs.forEach(function (j) { (jobsBy[j.assigned_to] = jobsBy[j.assigned_to] || []).push(j); });
    d.shifts.forEach(function (s) { (shiftsBy[s.technician_id] = shiftsBy[s.technician_id] || []).push(s); });
    d.blocks.forEach(function (s) { (blocksBy[s.technician_id] = blocksBy[s.technician_id] || []).push(s); });
    var nowF = frac(new Date().toISOString());
    var span = function (a, b) {
      var fa = frac(a), fb = frac(b);
      if (fa == null && fb == null) return null;
      fa = fa == null ? 0 : fa;
      fb = fb == null ? 1 : fb;
      return "left:" + (fa * 100).toFixed(3) + "%;width:" + Math.max(0.4, (fb - fa) * 100).toFixed(3) + "%";
    };
    var out = [];
    d.technicians.forEach(function (t) {
      var p = t.presence, dot = "";
      if (p) dot = p.status + (p.location_at && !p.fresh ? " stale" : "");
      var lane = "";
      (shiftsBy[t.id] || []).forEach(function (s) { var sp = span(s.starts_at, s.ends_at); if (sp) lane += '<div class="db-shift" style="' + sp + '" title="shift ' + esc(fmtTime(s.starts_at) + "–" + fmtTime(s.ends_at)) + '"></div>'; });
      (blocksBy[t.id] || []).forEach(function (s) { var sp = span(s.starts_at, s.ends_at); if (sp) lane += '<div class="db-block" style="' + sp + '" title="' + esc("unavailable: " + (s.reason || s.kind)) + '"></div>'; });
      var lastEnd = [0, 0];
      (jobsBy[t.id] || []).forEach(function (j) {
        var sp = span(j.scheduled_start, endOf(j));
        if (!sp) return;
        var s0 = new Date(j.scheduled_start).getTime(), l = s0 < lastEnd[0] ? 1 : 0;
        lastEnd[l] = Math.max(lastEnd[l], new Date(endOf(j)).getTime());
        lane += jobButton(j, l ? " lane1" : "", sp);
      });
      if (nowF != null) lane += '<div class="db-now" style="left:' + (nowF * 100) + '%"></div>';
      out.push('<div class="db-row" role="listitem" data-tech="' + esc(t.id) + '"><div class="db-who"><span class="db-dot ' + esc(dot) + '"></span>' +
        esc(t.name) + "<small>" + esc(t.region || "no region") + ((jobsBy[t.id] || []).length ? " · " + jobsBy[t.id].length + " jobs" : "") +
        '</small></div><div class="db-lane" data-tech="' + esc(t.id) + '" aria-label="' + esc(t.name) + '">' + lane + "</div></div>");
    });
    $("db-rows").innerHTML = out.length ? out.join("") : '<p class="db-empty">No technicians match these filters.</p>';
    $("db-tech-n").textContent = d.technicians.length;

    var q = d.queue.map(function (j) {
      var why = j.queue_status && j.queue_status !== "assigned" && j.queue_reason ? '<span class="why">' + esc(j.queue_reason) + "</span>" : "";
      return '<li><button type="button" draggable="' + CAN + '" class="db-q pr-' + esc(j.priority) + '" data-job="' + esc(j.id) + '" aria-pressed="' + (st.selected === j.id) + '">' +
        "<b>" + esc(j.number) + "</b> " + esc(j.title) + '<br><span class="muted small">' + esc(fmtWhen(j.scheduled_start)) + " · " + esc(j.priority) + " · " + esc(j.work_type) +
        (j.region ? " · " + esc(j.region) : "") + "</span>" + why + "</button></li>";
    });
    $("db-queue-list").innerHTML = q.length ? q.join("") : '<li class="db-empty">Nothing waiting.</li>';
    $("db-queue-n").textContent = d.queue.length;
    renderSelected();
  }

  function renderSelected() {
    var box = $("db-sel"), j = st.byId[st.selected];
    if (!j) {
      box.innerHTML = '<p class="muted">Select a job to assign, reassign, unassign or auto-assign it.</p>';
      return;
    }
    var tech = j.assigned_to && st.techs[j.assigned_to];
    var opts = st.data.technicians.map(function (t) {
      return '<option value="' + esc(t.id) + '"' + (t.id === j.assigned_to ? " selected" : "") + ">" + esc(t.name) + (t.region ? " (" + esc(t.region) + ")" : "") + "</option>";
    }).join("");
    var html = "<h3>" + esc(j.number) + " · " + esc(j.title) + '</h3><dl><dt>Status</dt><dd><span class="badge ' + esc(j.status) + '">' + esc(j.status) + "</span></dd>" +
      "<dt>When</dt><dd>" + esc(fmtWhen(j.scheduled_start)) + "</dd><dt>Technician</dt><dd>" + (tech ? esc(tech.name) : (j.assigned_to ? "another technician" : "unassigned")) + "</dd>" +
      "<dt>Customer</dt><dd>" + esc(j.customer_name || "—") + "</dd><dt>Address</dt><dd>" + esc(j.address || "—") + "</dd>" +
      (j.queue_reason && j.queue_status !== "assigned" ? '<dt>Queue</dt><dd class="err">' + esc(j.queue_reason) + "</dd>" : "") + "</dl>";
    if (CAN) {
      html += '<label>Technician <select id="db-sel-tech">' + opts + "</select></label>" +
        '<div class="acts"><button type="button" class="btn primary" id="db-do-assign">' + (j.assigned_to ? "Reassign" : "Assign") + "</button>" +
        (j.assigned_to ? '<button type="button" class="btn danger" id="db-do-unassign">Unassign</button>' : "") +
        '<button type="button" class="btn" id="db-do-auto">Auto-assign</button><button type="button" class="btn ghost" id="db-do-near">Nearest</button></div><div id="db-near"></div>';
    }
    box.innerHTML = html;
    if (!CAN) return;
    $("db-do-assign").onclick = function () { assign(j.id, $("db-sel-tech").value, null); };
    if ($("db-do-unassign")) $("db-do-unassign").onclick = function () { assign(j.id, null, null); };
    $("db-do-auto").onclick = function () { autoAssign(j.id); };
    $("db-do-near").onclick = function () { nearest(j.id); };
  }

  function select(id, focusPanel) {
    st.selected = st.selected === id ? null : id;
    document.querySelectorAll("[data-job][aria-pressed]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.job === st.selected)); });
    renderSelected();
    if (focusPanel && st.selected) {
      var s = $("db-sel-tech") || $("db-sel");
      if (s && s.focus) s.focus();
    }
  }

  // --- actions ---------------------------------------------------------------------------------
  function assign(id, techId, start) {
    var j = st.byId[id];
    if (!j) return;
    var body = { assigned_to: techId || null, version: j.version };
    if (start) body.scheduled_start = start.toISOString();
    msg("");
    return api("POST", "/jobs/" + id + "/assign", body).then(function (nj) {
      patch(nj);
      var t = nj.assigned_to && st.techs[nj.assigned_to];
      msg(nj.number + (nj.assigned_to ? " assigned to " + (t ? t.name : "a technician") : " unassigned") + ".");
    }).catch(function (e) {
      msg(e.message, true);
      if (e.status === 409) refreshJob(id);
    });
  }

  function autoAssign(id) {
    msg("");
    return api("POST", "/jobs/" + id + "/auto-assign", {}).then(function (r) {
      if (r.status === "assigned" && r.reason !== "already assigned") msg(r.number + " auto-assigned to " + (r.technician_name || "a technician") + " (" + r.reason + ").");
      else if (r.status === "assigned") msg(r.number + " is already assigned.");
      else msg(r.number + " was not assigned: " + r.reason, true);
      refreshJob(id);
    }).catch(function (e) { msg(e.message, true); });
  }

  function autoAll() {
    var b = $("db-auto-all");
    b.disabled = true;
    msg("Auto-assigning the queue…");
    var f = from(), to = f + st.days * 86400000;
    api("POST", "/auto-assign", { from: new Date(f).toISOString(), to: new Date(to).toISOString() }).then(function (r) {
      var reasons = {};
      r.results.forEach(function (x) { if (x.status !== "assigned") reasons[x.reason] = (reasons[x.reason] || 0) + 1; });
      var why = Object.keys(reasons).slice(0, 3).map(function (k) { return reasons[k] + "× " + k; }).join("; ");
      msg(r.assigned + " of " + r.considered + " assigned in " + r.duration_ms + " ms" + (r.queued + r.skipped ? "; " + (r.queued + r.skipped) + " left: " + why : "") + ".", r.assigned < r.considered);
      load();
    }).catch(function (e) { msg(e.message, true); }).then(function () { b.disabled = false; });
  }

  function nearest(id) {
    var box = $("db-near");
    box.textContent = "Looking…";
    api("GET", "/jobs/" + id + "/nearest?limit=5").then(function (r) {
      box.innerHTML = r.items.length ? '<ol class="small">' + r.items.map(function (n) {
        return "<li>" + esc(n.name) + " — " + n.distance_km.toFixed(1) + " km" + (n.has_required_skills ? "" : " (lacks skills)") + "</li>";
      }).join("") + "</ol>" : '<p class="muted small">No technician is sharing a fresh position.</p>';
    }).catch(function (e) { box.textContent = e.message; });
  }

  // matches says whether a job belongs on the board under the current filters and window.
  function matches(j) {
    var d = st.data;
    if (!d) return false;
    if (st.status ? j.status !== st.status : j.status === "canceled") return false;
    if (j.scheduled_start) {
      var t = new Date(j.scheduled_start).getTime();
      if (t < new Date(d.from).getTime() || t >= new Date(d.to).getTime()) return false;
    } else if (j.assigned_to || j.status === "completed") return false;
    if (j.assigned_to) return !!st.techs[j.assigned_to];
    if (st.region && (j.region || "").toLowerCase() !== st.region.toLowerCase()) return false;
    if (st.skill && (j.required_skills || []).indexOf(st.skill) < 0) return false;
    return true;
  }

  function patch(j) {
    var d = st.data;
    if (!d) return;
    d.jobs = d.jobs.filter(function (x) { return x.id !== j.id; });
    d.queue = d.queue.filter(function (x) { return x.id !== j.id; });
    delete st.byId[j.id];
    if (j.removed !== true && matches(j)) {
      (j.assigned_to ? d.jobs : d.queue).push(j);
      st.byId[j.id] = j;
      var key = function (x) { return (x.scheduled_start || "9") + x.id; };
      d.jobs.sort(function (a, b) { return key(a) < key(b) ? -1 : 1; });
    }
    if (st.selected && !st.byId[st.selected]) st.selected = null;
    render();
    mapPatch(j);
  }

  function refreshJob(id) {
    return api("GET", "/jobs/" + id).then(patch).catch(function (e) {
      if (e.status === 404) patch({ id: id, removed: true });
    });
  }

  // --- drag and drop ---------------------------------------------------------------------------
  var dragging = null;
  root.addEventListener("dragstart", function (e) {
    var b = e.target.closest && e.target.closest("[data-job]");
    if (!b || !CAN) return;
    dragging = b.dataset.job;
    e.dataTransfer.setData("text/plain", dragging);
    e.dataTransfer.effectAllowed = "move";
  });
  root.addEventListener("dragend", function () {
    dragging = null;
    document.querySelectorAll(".over").forEach(function (x) { x.classList.remove("over"); });
  });
  function dropTarget(e) { return e.target.closest && (e.target.closest(".db-row") || e.target.closest("#db-queue")); }
  root.addEventListener("dragover", function (e) {
    var t = dragging && dropTarget(e);
    if (!t) return;
    e.preventDefault();
    document.querySelectorAll(".over").forEach(function (x) { if (x !== t) x.classList.remove("over"); });
    (t.id === "db-queue" ? $("db-queue-list") : t).classList.add("over");
  });
  root.addEventListener("drop", function (e) {
    var t = dropTarget(e), id = dragging || e.dataTransfer.getData("text/plain");
    if (!t || !id) return;
    e.preventDefault();
    var j = st.byId[id];
    if (!j) return;
    if (t.id === "db-queue") {
      if (j.assigned_to) assign(id, null, null);
      return;
    }
    var lane = t.querySelector(".db-lane"), r = lane.getBoundingClientRect();
    var f = Math.max(0, Math.min(0.999, (e.clientX - r.left) / r.width));
    var start = null;
    if (st.days === 1 || j.scheduled_start) {
      start = timeAt(f);
      if (st.days === 7 && j.scheduled_start) { // keep the time of day, move the day
        var old = new Date(j.scheduled_start);
        start.setHours(old.getHours(), old.getMinutes(), 0, 0);
      }
    }
    assign(id, t.dataset.tech, start);
  });

  root.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button[data-job]");
    if (b) select(b.dataset.job, true);
  });

  // --- map -------------------------------------------------------------------------------------
  var map = null, jobLayer = null, techLayer = null, markers = {};
  var colors = { draft: "#7a8796", scheduled: "#0a5fd8", dispatched: "#0a5fd8", in_progress: "#a15c00", paused: "#a15c00", completed: "#137333", canceled: "#b3261e" };
  function initMap() {
    if (map || !window.L) return;
    map = L.map("db-map", { zoomControl: true, attributionControl: !!TILES, preferCanvas: true }).setView([45.677, -111.0429], 12);
    if (TILES) L.tileLayer(TILES, { maxZoom: 19 }).addTo(map);
    $("db-map-note").textContent = TILES ? "" : "No base map is configured (offline): jobs and technicians are drawn as points.";
    jobLayer = L.layerGroup().addTo(map);
    techLayer = L.layerGroup().addTo(map);
  }
  function featureMarker(f) {
    var p = f.properties, ll = [f.geometry.coordinates[1], f.geometry.coordinates[0]];
    if (p.kind === "technician") {
      return L.circleMarker(ll, { radius: 8, color: "#14202e", weight: 2, fillColor: p.fresh ? "#137333" : "#9fb0c3", fillOpacity: 0.95 })
        .bindTooltip(esc(p.name) + (p.fresh ? "" : " (position not fresh)"));
    }
    var m = L.circleMarker(ll, { radius: 6, color: colors[p.status] || "#0a5fd8", weight: p.queued ? 3 : 1, dashArray: p.queued ? "3" : null, fillOpacity: 0.6 })
      .bindTooltip(esc(p.number + " · " + p.title + (p.queued ? " (unassigned)" : "")));
    m.on("click", function () { select(f.id, true); });
    return m;
  }
  function loadMap() {
    initMap();
    if (!map) return;
    api("GET", "/map.json?" + query()).then(function (g) {
      jobLayer.clearLayers();
      techLayer.clearLayers();
      markers = {};
      var pts = [];
      g.features.forEach(function (f) {
        var m = featureMarker(f);
        (f.properties.kind === "technician" ? techLayer : jobLayer).addLayer(m);
        markers[f.properties.kind + ":" + f.id] = m;
        pts.push(m.getLatLng());
      });
      if (pts.length && !st.fitted) {
        map.fitBounds(L.latLngBounds(pts).pad(0.15), { maxZoom: 15 });
        st.fitted = true;
      }
    }).catch(function () { });
  }
  function mapPatch(j) {
    if (!map) return;
    var k = "job:" + j.id;
    if (markers[k]) { jobLayer.removeLayer(markers[k]); delete markers[k]; }
    if (j.removed || !st.byId[j.id] || j.lat == null) return;
    var m = featureMarker({ id: j.id, geometry: { coordinates: [j.lon, j.lat] }, properties: { kind: "job", number: j.number, title: j.title, status: j.status, queued: !j.assigned_to } });
    jobLayer.addLayer(m);
    markers[k] = m;
  }
  function techPatch(id, p) {
    var t = st.techs[id];
    if (!t) return;
    t.presence = p;
    if (!map) return;
    var k = "technician:" + id;
    if (markers[k]) { techLayer.removeLayer(markers[k]); delete markers[k]; }
    if (p && p.lat != null && p.location_sharing_enabled) {
      var m = featureMarker({ id: id, geometry: { coordinates: [p.lon, p.lat] }, properties: { kind: "technician", name: t.name, fresh: p.fresh } });
      techLayer.addLayer(m);
      markers[k] = m;
    }
  }

  // --- live updates ----------------------------------------------------------------------------
  var pending = {}, timer = null, backoff = 1000, sock = null, everOpen = false;
  function live(state, cls) {
    var b = $("db-live");
    b.textContent = state;
    b.className = "badge " + cls;
  }
  function flush() {
    timer = null;
    var ids = Object.keys(pending);
    pending = {};
    if (ids.length > 25) { load(); return; }
    ids.forEach(refreshJob);
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    sock = new WebSocket(proto + "//" + location.host + BASE + "/ws");
    sock.onopen = function () {
      live("live", "ok");
      if (everOpen) load(); // catch up on what was missed while disconnected
      everOpen = true;
      backoff = 1000;
    };
    sock.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === "work_order" && m.entity_id) {
        pending[m.entity_id] = true;
        if (!timer) timer = setTimeout(flush, 150);
      } else if (m.type === "technician" && m.entity_id) {
        techPatch(m.entity_id, m.payload);
        if (!timer) timer = setTimeout(function () { timer = null; render(); }, 300);
      }
    };
    sock.onclose = function () {
      live("reconnecting…", "off");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  // --- controls --------------------------------------------------------------------------------
  function setDays(n) {
    st.days = n;
    document.querySelectorAll("[data-days]").forEach(function (b) { b.setAttribute("aria-pressed", String(b.dataset.days === String(n))); });
    load();
  }
  document.querySelectorAll("[data-days]").forEach(function (b) { b.onclick = function () { setDays(Number(b.dataset.days)); }; });
  function shift(dir) {
    var d = new Date($("db-date").value + "T12:00:00");
    d.setDate(d.getDate() + dir * st.days);
    $("db-date").value = d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
    st.date = $("db-date").value;
    load();
  }
  $("db-prev").onclick = function () { shift(-1); };
  $("db-next").onclick = function () { shift(1); };
  $("db-filters").addEventListener("change", function (e) {
    var t = e.target;
    if (t.id === "db-date") st.date = t.value || root.dataset.today;
    if (t.id === "db-region") st.region = t.value;
    if (t.id === "db-skill") st.skill = t.value;
    if (t.id === "db-status") st.status = t.value;
    st.fitted = false;
    load();
  });
  $("db-filters").addEventListener("submit", function (e) { e.preventDefault(); });
  if ($("db-auto-all")) $("db-auto-all").onclick = autoAll;
  // The local date is the dispatcher's "today".
  var now = new Date();
  st.date = now.getFullYear() + "-" + String(now.getMonth() + 1).padStart(2, "0") + "-" + String(now.getDate()).padStart(2, "0");
  $("db-date").value = st.date;
  window.addEventListener("load", function () { initMap(); load(); });
  connect();
})();
