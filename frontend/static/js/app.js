// Edgeway dashboard behaviour that HTML alone cannot express. Loaded as a file (the CSP forbids
// inline script): relative times that keep ticking, and the live-stream indicator.
(function () {
  "use strict";

  var units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  var fmt = typeof Intl !== "undefined" && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat("en", { numeric: "auto" }) : null;

  function relative(date) {
    var secs = Math.round((date.getTime() - Date.now()) / 1000);
    for (var i = 0; i < units.length; i++) {
      var size = units[i][1];
      if (Math.abs(secs) >= size || size === 1) {
        var n = Math.round(secs / size);
        return fmt ? fmt.format(n, units[i][0]) : Math.abs(n) + " " + units[i][0] + "s ago";
      }
    }
    return "";
  }

  function tick() {
    var els = document.querySelectorAll("time[data-relative]");
    for (var i = 0; i < els.length; i++) {
      var d = new Date(els[i].getAttribute("datetime"));
      if (!isNaN(d)) els[i].textContent = relative(d);
    }
  }

  function setLive(state, label) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.setAttribute("data-state", state);
    var l = el.querySelector(".live-label");
    if (l) l.textContent = label;
  }

  document.addEventListener("htmx:wsOpen", function () { setLive("open", "Live"); });
  document.addEventListener("htmx:wsClose", function () { setLive("closed", "Reconnecting…"); });
  document.addEventListener("htmx:wsError", function () { setLive("closed", "Reconnecting…"); });
  document.addEventListener("htmx:wsAfterMessage", tick);
  document.addEventListener("htmx:afterSwap", tick);
  document.addEventListener("DOMContentLoaded", tick);
  setInterval(tick, 1000);
})();
