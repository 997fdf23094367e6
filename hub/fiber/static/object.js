// A small map of one object (data-feature) or of a change's before/after geometries (data-geoms).
(function () {
  "use strict";
  var el = document.getElementById("fo-map");
  if (!el || !window.L) return;
  var map = L.map(el, { preferCanvas: true, attributionControl: false });
  L.control.scale({ imperial: false }).addTo(map);
  var group = L.featureGroup().addTo(map);
  function add(g, color, dash) {
    if (!g) return;
    L.geoJSON(g, {
      style: { color: color, weight: 4, dashArray: dash },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 9, color: "#fff", weight: 2, fillColor: color, fillOpacity: 1 }); }
    }).addTo(group);
  }
  if (el.dataset.feature) {
    add(JSON.parse(el.dataset.feature), el.dataset.color || "#1f5fd1");
  } else if (el.dataset.geoms) {
    var g = JSON.parse(el.dataset.geoms);
    add(g.before, "#9ca3af", "6 4");
    add(g.after, "#1f5fd1");
  }
  if (group.getLayers().length) {
    map.fitBounds(group.getBounds(), { padding: [40, 40], maxZoom: 18 });
  } else {
    map.setView([45.677, -111.043], 13);
  }
  // the plant around it, in grey, for context
  var b = map.getBounds().pad(0.5);
  var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
  fetch("/api/v1/fiber/features?bbox=" + bbox + "&limit=3000", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (fc) {
      if (!fc) return;
      var ctx = L.geoJSON(fc, {
        style: { color: "#94a3b8", weight: 2 },
        pointToLayer: function (f, ll) { return L.circleMarker(ll, { radius: 4, color: "#fff", weight: 1, fillColor: "#94a3b8", fillOpacity: 0.9 }); },
        onEachFeature: function (f, l) { l.bindTooltip((f.properties.name || f.properties.kind) + ""); }
      }).addTo(map);
      ctx.bringToBack();
      group.eachLayer(function (l) { if (l.bringToFront) l.bringToFront(); });
    })
    .catch(function () {});
})();
