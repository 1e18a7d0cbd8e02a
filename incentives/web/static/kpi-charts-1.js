// Draws the KPI dashboard's week-by-week charts (Chart.js) from each canvas's data-chart JSON, on load and
// after every HTMX swap. Each chart has a table with the same figures next to it for screen readers.
(function () {
  "use strict";
  function draw(root) {
    if (typeof window.Chart === "undefined") return;
    root.querySelectorAll("canvas[data-chart]:not([data-drawn])").forEach(function (canvas) {
      var data = JSON.parse(canvas.getAttribute("data-chart"));
      canvas.setAttribute("data-drawn", "1");
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: data.labels,
          datasets: [{ label: data.label, data: data.values, spanGaps: true, borderColor: "#0b5cad",
                       backgroundColor: "#0b5cad", pointRadius: 2, tension: 0.2 }]
        },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false } },
          scales: { x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } }, y: { beginAtZero: true } }
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
