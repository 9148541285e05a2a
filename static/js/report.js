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

  /* Draw ``makeOption(width)`` into ``element``. On a resize the chart is resized, and its
     option set again only when ``layoutOf(width)`` changes (the radar's label room, the
     heatmap's cell labels): a phone fires resize whenever its address bar hides, and
     setting the option again would reset what the reader scrolled to. */
  function draw(element, makeOption, layoutOf) {
    var chart = echarts.init(element, null, { renderer: "svg" });
    var layout = layoutOf(element.clientWidth);
    chart.setOption(makeOption(element.clientWidth));
    element.classList.add("rendered");
    window.addEventListener("resize", function () {
      var width = element.clientWidth;
      if (layoutOf(width) !== layout) {
        layout = layoutOf(width);
        chart.setOption(makeOption(width));
      }
      chart.resize();
    });
  }

  function radarTooltip(data) {
    return function (p) {
      var rows = data.dimensions.map(function (name, index) {
        return escapeHtml(name) + ": " + escapeHtml(scoreText(data.series[p.dataIndex].values[index]));
      });
      return "<strong>" + escapeHtml(p.name) + "</strong><br>" + rows.join("<br>");
    };
  }

  /* Return ``text`` broken at spaces into lines no wider than ``width`` px in ``font``
     (measured on a canvas, as the browser will draw it); a single longer word keeps a line. */
  var measure = document.createElement("canvas").getContext("2d");
  function wrapText(text, width, font) {
    measure.font = font;
    var lines = [];
    var line = "";
    String(text).split(" ").forEach(function (word) {
      var candidate = line ? line + " " + word : word;
      if (line && measure.measureText(candidate).width > width) {
        lines.push(line);
        line = word;
      } else {
        line = candidate;
      }
    });
    lines.push(line);
    return lines.join("\n");
  }

  /* Room for the dimension names around a radar ``width`` px wide: the ring leaves
     ``labelWidth`` px beside it and the names wrap onto more lines, so that no name is
     clipped at the chart's edge (tests/browser/test_phone.py measures it). Below
     NUMBERED_BELOW px there is no room for 13-16 names: the axes are numbered and the
     page's key (.radar-key, shown with .numbered) gives the names. */
  var NUMBERED_BELOW = 520;
  function radarLayout(width) {
    if (width < NUMBERED_BELOW) {
      return { numbered: true, fontSize: 11, labelWidth: 24, gap: 6,
               radius: Math.max(60, Math.min(width / 2 - 30, 150)) };
    }
    var labelWidth = Math.round(Math.min(170, width * 0.24));
    return { numbered: false, fontSize: 11, labelWidth: labelWidth, gap: 8,
             radius: Math.max(60, Math.min(width / 2 - labelWidth - 12, 150)) };
  }

  function radar() {
    var element = document.getElementById("radar");
    var data = readJson("radar-data");
    if (!element || !data || !data.dimensions.length) { return; }
    draw(element, function (width) {
      var layout = radarLayout(width);
      element.classList.toggle("numbered", layout.numbered);
      return {
        animation: false,
        color: ["#1f5fbf", "#7b8794", "#e07b00"],
        legend: { bottom: 0, left: "center", width: "90%",
                  data: data.series.map(function (s) { return s.name; }) },
        tooltip: { trigger: "item", confine: true, formatter: radarTooltip(data) },
        radar: {
          radius: layout.radius,
          center: ["50%", "46%"],
          nameGap: layout.gap,
          splitNumber: data.levels.length,
          indicator: data.dimensions.map(function (name, index) {
            return { name: name, max: 100, number: index + 1 };
          }),
          axisName: {
            color: "#1b2430", fontSize: layout.fontSize, lineHeight: layout.fontSize + 3,
            formatter: function (name, indicator) {
              if (layout.numbered) { return String(indicator.number); }
              return wrapText(name, layout.labelWidth, layout.fontSize + "px sans-serif");
            }
          },
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
      };
    }, function (width) { return JSON.stringify(radarLayout(width)); });
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
    // A score is written in its cell only when the cell is wide enough to hold it.
    function cellWidthOf(width) {
      return (width - 170 - (many ? 20 : 0)) / Math.max(1, data.dimensions.length);
    }
    draw(element, function (width) {
      var cellWidth = cellWidthOf(width);
      return {
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
          label: { show: cellWidth >= 30, fontSize: 11,
                   formatter: function (p) { return scoreText(p.value[2]); } }
        }]
      };
    }, function (width) { return String(cellWidthOf(width) >= 30); });
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

  /* Roadmap steps get a "Track as action" button when the reader may track actions (the
     page then has the new-action form): it picks the step in the form and opens it. The
     form works without this: its first select lists the roadmap. */
  function trackButtons() {
    var form = document.getElementById("new-action");
    var select = form && form.querySelector("select[name=question]");
    if (!select) { return; }
    document.querySelectorAll(".roadmap li[data-question]").forEach(function (item) {
      var key = item.getAttribute("data-question");
      if (!select.querySelector("option[value='" + CSS.escape(key) + "']")) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "track-action screen-only";
      button.textContent = "Track as action";
      button.addEventListener("click", function () {
        select.value = key;
        form.open = true;
        form.scrollIntoView({ block: "start" });
        select.focus();
      });
      item.appendChild(button);
    });
  }


  function burnupTooltip(data) {
    return function (params) {
      var index = params[0].dataIndex;
      return "<strong>" + escapeHtml(data.rounds[index]) + "</strong> (" +
        escapeHtml(data.dates[index]) + ")<br>" +
        escapeHtml(data.meeting[index]) + " of " + escapeHtml(data.total[index]) +
        " teams meet the goal";
    };
  }

  /* A campaign's burn-up: teams meeting the goal after each round, beside the teams
     counted; round titles are user text (SVG text on the axis, escaped in the tooltip). */
  function burnup() {
    var element = document.getElementById("burnup");
    var data = readJson("burnup-data");
    if (!element || !data || !data.rounds.length) { return; }
    draw(element, function () {
      return {
        animation: false,
        color: ["#1a9850", "#7b8794"],
        tooltip: { trigger: "axis", confine: true, formatter: burnupTooltip(data) },
        legend: { bottom: 0, left: "center", data: ["Teams meeting the goal", "Teams in the campaign"] },
        grid: { left: 40, right: 20, top: 20, bottom: 70 },
        xAxis: { type: "category", data: data.rounds, axisLabel: { fontSize: 11, hideOverlap: true } },
        yAxis: { type: "value", minInterval: 1, min: 0 },
        series: [
          { name: "Teams meeting the goal", type: "line", data: data.meeting, areaStyle: { opacity: 0.2 },
            symbolSize: 7 },
          { name: "Teams in the campaign", type: "line", data: data.total, lineStyle: { type: "dashed" },
            symbol: "none" }
        ]
      };
    }, function () { return "fixed"; });
  }

  trackButtons();
  if (window.echarts) { radar(); heatmap(); burnup(); }
})();
