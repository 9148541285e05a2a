/* Draw report charts with ECharts (vendored) from the JSON the page embeds. The same
   numbers are always in an HTML table next to the chart, and a server-rendered SVG is
   used when printing.

   Team, dimension, survey and level names are user text. ECharts writes a tooltip
   formatter's return value into the page as HTML, so every formatter here builds its HTML
   with escapeHtml(). ECharts' own default tooltips escape names (5.x tooltip markup), and
   axis names, legends and labels are drawn as SVG text (renderer "svg"), never parsed as
   HTML; tests/browser/test_reports.py checks both with hostile names. Scores arrive already truncated by the server's display
   rule (reports/display.py); toFixed(1) only pads 80 to "80.0" and never rounds. */
(function () {
  "use strict";
  var LEVEL_COLOURS = ["#d7301f", "#fc8d59", "#fdcc8a", "#91cf60", "#1a9850"];
  var HTML_ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  /* Return any value as HTML text: the five characters HTML treats specially escaped. */
  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (character) {
      return HTML_ESCAPES[character];
    });
  }

  function scoreText(value) {
    return typeof value === "number" ? value.toFixed(1) : "—";
  }

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function draw(element, option) {
    var chart = echarts.init(element, null, { renderer: "svg" });
    chart.setOption(option);
    element.classList.add("rendered");
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function radarTooltip(data) {
    return function (p) {
      var rows = data.dimensions.map(function (name, index) {
        return escapeHtml(name) + ": " + escapeHtml(scoreText(data.series[p.dataIndex].values[index]));
      });
      return "<strong>" + escapeHtml(p.name) + "</strong><br>" + rows.join("<br>");
    };
  }

  function radar() {
    var element = document.getElementById("radar");
    var data = readJson("radar-data");
    if (!element || !data || !data.dimensions.length) { return; }
    draw(element, {
      animation: false,
      color: ["#1f5fbf", "#7b8794", "#e07b00"],
      legend: { bottom: 0, data: data.series.map(function (s) { return s.name; }) },
      tooltip: { trigger: "item", confine: true, formatter: radarTooltip(data) },
      radar: {
        radius: "60%",
        splitNumber: data.levels.length,
        indicator: data.dimensions.map(function (name) { return { name: name, max: 100 }; }),
        axisName: { color: "#1b2430", fontSize: 11 },
        splitArea: { areaStyle: { color: LEVEL_COLOURS.map(function (c) { return c + "14"; }) } }
      },
      series: [{
        type: "radar",
        data: data.series.map(function (series, index) {
          return {
            name: series.name,
            value: series.values.map(function (v) { return v === null ? "-" : v; }),
            areaStyle: index === 0 ? { opacity: 0.18 } : undefined,
            lineStyle: index === 0 ? { width: 2 } : { type: "dashed" }
          };
        })
      }]
    });
  }

  function heatmapTooltip(data) {
    return function (p) {
      var level = data.levels[p.value[3]];
      return escapeHtml(data.teams[p.value[1]]) + "<br>" +
        escapeHtml(data.dimensions[p.value[0]]) + ": " + escapeHtml(scoreText(p.value[2])) +
        (level ? " (" + escapeHtml(level.name) + ")" : "");
    };
  }

  /* Rows the heatmap shows at once; more scroll with a slider (1,000 teams fit). */
  var HEATMAP_ROWS = 40;

  function drawHeatmap(element, data) {
    var many = data.teams.length > HEATMAP_ROWS;
    var rows = many ? HEATMAP_ROWS : data.teams.length;
    element.style.height = Math.max(300, 230 + 34 * rows) + "px";
    draw(element, {
      animation: false,
      tooltip: { confine: true, formatter: heatmapTooltip(data) },
      grid: { left: 150, right: many ? 40 : 20, top: 10, bottom: 200 },
      xAxis: { type: "category", data: data.dimensions, axisLabel: { rotate: 40, fontSize: 11 } },
      yAxis: { type: "category", data: data.teams, inverse: true },
      dataZoom: many ? [
        { type: "slider", yAxisIndex: 0, right: 5, width: 18, startValue: 0, endValue: rows - 1,
          zoomLock: true, showDetail: false, brushSelect: false },
        { type: "inside", yAxisIndex: 0, zoomOnMouseWheel: false, moveOnMouseWheel: true }
      ] : [],
      visualMap: {
        type: "piecewise", dimension: 3, orient: "horizontal", left: "center", bottom: 0,
        pieces: data.levels.map(function (level) {
          return { value: level.number, label: level.number + " " + level.name,
                   color: LEVEL_COLOURS[level.number % LEVEL_COLOURS.length] };
        })
      },
      series: [{
        type: "heatmap", data: data.cells.filter(function (c) { return c[2] !== null; }),
        label: { show: true, fontSize: 11, formatter: function (p) { return scoreText(p.value[2]); } }
      }]
    });
  }

  /* The organisation heatmap loads its data (every matching team) from the URL in
     data-src, so the page itself stays small at 1,000 teams. */
  function heatmap() {
    var element = document.getElementById("heatmap");
    if (!element) { return; }
    var source = element.getAttribute("data-src");
    if (!source || !window.fetch) { return; }
    fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.teams.length) {
          drawHeatmap(element, data);
          element.setAttribute("data-drawn", String(data.teams.length));
        }
      })
      .catch(function () { /* the table below holds the same numbers */ });
  }

  if (window.echarts) { radar(); heatmap(); }
})();
