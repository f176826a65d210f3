// The analytics charts. Progressive enhancement: each chart is drawn from the table beneath it, which stays
// the source of truth; without Chart.js (loaded before this file) the tables stand alone.
window.addEventListener("DOMContentLoaded", function () {
  if (!window.Chart) { return; }
  var figures = ["made", "held", "cancelled", "no_show", "online", "in_person", "individuals", "legal_entities"];
  document.querySelectorAll("figure[data-chart-for]").forEach(function (figure) {
    var table = document.getElementById(figure.dataset.chartFor);
    var keys = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.dataset.key; });
    var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) { return th.textContent.trim(); });
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var labels = rows.map(function (tr) { return tr.cells[0].textContent.trim(); });
    var datasets = [];
    keys.forEach(function (key, i) {
      if (i === 0 || figures.indexOf(key) < 0) { return; }
      if (table.id === "table-channels" && ["made", "held", "cancelled", "no_show"].indexOf(key) < 0) { return; }
      if (table.id === "table-months" && ["individuals", "legal_entities", "online", "in_person"].indexOf(key) < 0) { return; }
      if ((table.id === "table-topics" || table.id === "table-days") && ["made", "held"].indexOf(key) < 0) { return; }
      datasets.push({label: headers[i], data: rows.map(function (tr) { return Number(tr.cells[i].dataset.value || 0); })});
    });
    figure.hidden = false;
    new window.Chart(figure.querySelector("canvas"), {
      type: table.dataset.chart, data: {labels: labels, datasets: datasets},
      options: {locale: document.documentElement.lang, animation: false, responsive: true}
    });
  });
});
