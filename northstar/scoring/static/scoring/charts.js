// Draws plotly charts from JSON data blocks: <div data-plotly-figure="ID"> reads
// <script type="application/json" id="ID">{"data": [...], "layout": {...}, "config": {...}}</script>.
// A static file: the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function draw(root) {
    if (!window.Plotly) {
      return;
    }
    root.querySelectorAll("[data-plotly-figure]").forEach(function (element) {
      if (element.dataset.drawn) {
        return;
      }
      const source = document.getElementById(element.dataset.plotlyFigure);
      if (!source) {
        return;
      }
      const figure = JSON.parse(source.textContent);
      element.dataset.drawn = "true";
      element.textContent = "";
      window.Plotly.newPlot(element, figure.data, figure.layout, figure.config || {});
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw(document);
  });
  // Content swapped in by htmx.
  document.addEventListener("htmx:load", function (event) {
    draw(event.target);
  });
})();
