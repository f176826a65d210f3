// Reloads the page every data-seconds seconds, like <meta http-equiv="refresh"> (kept inside <noscript> for
// browsers without JavaScript), but never while someone is using the page: not while focus is on a control,
// and not within data-seconds of the last key press, click or touch. Screen-reader and keyboard users keep
// their place; a wall display with nobody at it stays current.
(function () {
  var script = document.currentScript;
  var seconds = Number(script && script.getAttribute("data-seconds"));
  if (!(seconds > 0)) { return; }
  var lastUse = 0;
  ["keydown", "pointerdown", "touchstart"].forEach(function (kind) {
    document.addEventListener(kind, function () { lastUse = Date.now(); }, { passive: true });
  });
  function inUse() {
    var active = document.activeElement;
    return (active && active !== document.body) || Date.now() - lastUse < seconds * 1000;
  }
  setInterval(function () { if (!inUse()) { window.location.reload(); } }, seconds * 1000);
})();
