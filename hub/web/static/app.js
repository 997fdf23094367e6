// Theme: "auto" follows the system; the toggle stores an explicit choice.
(function () {
  var t = localStorage.getItem("dmf-theme");
  if (t) document.documentElement.setAttribute("data-theme", t);
})();
function dmfToggleTheme() {
  var el = document.documentElement;
  var cur = el.getAttribute("data-theme");
  var dark = cur === "dark" || (cur === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  var next = dark ? "light" : "dark";
  el.setAttribute("data-theme", next);
  localStorage.setItem("dmf-theme", next);
}

// dmfPick fills a typeahead's form from a chosen option (data-id, data-name; data-address,
// data-lat and data-lon fill the site fields when the form has them and they are empty).
function dmfPick(btn) {
  var box = btn.closest("[data-picker]");
  var form = btn.closest("form");
  if (!box || !form) return;
  box.querySelector('input[type="hidden"]').value = btn.dataset.id;
  box.querySelector('input[type="search"]').value = btn.dataset.name;
  var fill = function (name, v) {
    if (v && form.elements[name] && !form.elements[name].value) form.elements[name].value = v;
  };
  fill("address", btn.dataset.address);
  fill("lat", btn.dataset.lat);
  fill("lon", btn.dataset.lon);
  box.querySelector(".picker-results").innerHTML = "";
}
