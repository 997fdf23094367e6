// Network map: one Leaflet layer per object kind, loaded as GeoJSON for the visible bbox.
(function () {
  "use strict";
  var el = document.getElementById("fiber-map");
  if (!el || !window.L) return;
  var cfg = JSON.parse(el.dataset.config);
  var map = L.map(el, { preferCanvas: true, zoomControl: true, attributionControl: !!cfg.tileURL });
  if (cfg.tileURL) L.tileLayer(cfg.tileURL, { maxZoom: 21 }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  if (cfg.focus) {
    var f = cfg.focus.split(",").map(Number);
    map.setView([f[0], f[1]], 18);
  } else if (cfg.bounds) {
    map.fitBounds(cfg.bounds, { padding: [30, 30] });
  } else {
    map.setView(cfg.center, cfg.zoom);
  }
  var kinds = {};
  cfg.kinds.forEach(function (k) { kinds[k.name] = k; k.layer = L.layerGroup().addTo(map); });
  var boxes = document.querySelectorAll("input[data-kind]");
  function enabled() {
    var out = [];
    boxes.forEach(function (b) { if (b.checked) out.push(b.dataset.kind); });
    return out;
  }
  boxes.forEach(function (b) {
    b.addEventListener("change", function () {
      var k = kinds[b.dataset.kind];
      if (b.checked) { k.layer.addTo(map); load(); } else { map.removeLayer(k.layer); }
    });
  });
  var segmentStyle = {
    feeder: { color: "#d62828", weight: 5 },
    distribution: { color: "#1f5fd1", weight: 3 },
    drop: { color: "#16a34a", weight: 1.5, dashArray: "4 3" }
  };
  var radius = { olt: 9, fdh_cabinet: 8, splice_closure: 6, splitter: 4, building: 5, ont: 3, mast: 7, pole: 3, termination_point: 4 };
  function style(f) {
    var p = f.properties;
    if (p.kind === "segment") return segmentStyle[p.segment_type] || segmentStyle.distribution;
    if (p.kind === "duct") return { color: kinds.duct.color, weight: 6, opacity: 0.5 };
    if (p.kind === "building") return { color: kinds.building.color, weight: 1, fillOpacity: 0.25 };
    return {};
  }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  var details = document.getElementById("fm-details");
  function show(p) {
    var rows = "";
    Object.keys(p).sort().forEach(function (k) {
      if (k === "id" || k === "name" || k === "kind") return;
      var v = p[k];
      if (v === null || v === "" || typeof v === "object") return;
      rows += "<dt>" + esc(k.replace(/_/g, " ")) + "</dt><dd>" + esc(v) + "</dd>";
    });
    details.innerHTML = "<h2>" + esc(p.name || "(unnamed)") + "</h2><p class=\"muted\">" + esc(kinds[p.kind] ? kinds[p.kind].label : p.kind) +
      "</p><dl>" + rows + "</dl><p><a class=\"btn primary\" href=\"/admin/network/objects/" + esc(p.kind) + "/" + esc(p.id) + "\">Open</a></p>";
  }
  var status = document.getElementById("fm-status");
  var seq = 0, timer = null;
  function load() {
    clearTimeout(timer);
    timer = setTimeout(doLoad, 150);
  }
  function doLoad() {
    var on = enabled();
    var mine = ++seq;
    if (!on.length) { status.textContent = "No layers shown."; return; }
    var b = map.getBounds();
    var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
    status.textContent = "Loading…";
    fetch("/api/v1/fiber/features?bbox=" + bbox + "&kind=" + on.join(",") + "&limit=20000", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (fc) {
        if (mine !== seq) return;
        var counts = {};
        cfg.kinds.forEach(function (k) { k.layer.clearLayers(); counts[k.name] = 0; });
        L.geoJSON(fc, {
          style: style,
          pointToLayer: function (f, ll) {
            var k = kinds[f.properties.kind] || { color: "#333" };
            return L.circleMarker(ll, { radius: radius[f.properties.kind] || 5, color: "#fff", weight: 1.5, fillColor: k.color, fillOpacity: 0.95 });
          },
          onEachFeature: function (f, layer) {
            var k = kinds[f.properties.kind];
            if (!k) return;
            counts[f.properties.kind]++;
            layer.bindTooltip(esc(f.properties.name || k.label));
            layer.on("click", function () { show(f.properties); });
            k.layer.addLayer(layer);
          }
        });
        cfg.kinds.forEach(function (k) {
          var c = document.querySelector("[data-count=\"" + k.name + "\"]");
          if (c) c.textContent = counts[k.name] ? "(" + counts[k.name] + ")" : "";
        });
        status.textContent = fc.features.length + " objects in view" + (fc.truncated ? " (zoom in to see all)" : "") + ".";
      })
      .catch(function (e) { if (mine === seq) status.textContent = "Could not load the plant: " + e.message; });
  }
  map.on("moveend", load);
  load();
})();
