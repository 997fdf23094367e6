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
})();
