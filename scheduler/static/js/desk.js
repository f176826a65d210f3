// The reception desk. Progressive enhancement: the visitors' table refreshes in place from data-table-url every
// data-refresh-ms (without JavaScript, the page reloads itself); the "print" link prints the day list.
(function () {
  var script = document.currentScript;
  var printLink = document.getElementById("print-link");
  if (printLink) {
    printLink.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  }
  var url = script && script.getAttribute("data-table-url");
  var interval = Number(script && script.getAttribute("data-refresh-ms"));
  if (!url || !(interval > 0) || !document.getElementById("desk-table") || !window.fetch) { return; }
  setInterval(function () {
    if (document.hidden) { return; }
    fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var current = document.getElementById("desk-table");
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#desk-table");
        if (current && fresh) { current.replaceWith(fresh); }
      })
      .catch(function () {});
  }, interval);
})();
