// Track my visit: local times, and a refresh of the live part every 20 seconds.
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  document.querySelectorAll("time.tv-time[datetime]").forEach(function (t) {
    if (t.getAttribute("datetime")) t.textContent = fmt.format(new Date(t.getAttribute("datetime")));
  });
  var box = document.getElementById("tv");
  if (!box) return;
  var tok = box.dataset.token, live = document.getElementById("tv-live");
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); }
  function tick() {
    fetch("/api/v1/track/" + encodeURIComponent(tok), { headers: { Accept: "application/json" } }).then(function (r) { return r.ok ? r.json() : null; }).then(function (v) {
      if (!v) return;
      var st = document.getElementById("tv-status");
      if (st) { st.textContent = v.status.replace(/_/g, " "); st.className = "badge " + v.status; }
      var name = v.technician_name || "Your technician";
      if (v.technician_location) {
        live.innerHTML = '<p class="tv-onway"><b>' + esc(name) + " is on the way.</b> Last position " + v.technician_location.lat.toFixed(4) + ", " + v.technician_location.lon.toFixed(4) + ".</p>";
      } else if (v.en_route) {
        live.innerHTML = '<p class="tv-onway"><b>' + esc(name) + " is on the way.</b></p>";
      } else {
        live.innerHTML = "";
      }
    }).catch(function () { });
  }
  setInterval(tick, 20000);
})();
