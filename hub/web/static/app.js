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
