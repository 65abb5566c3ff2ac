// gauntlet HTML report: draws the charts from the embedded series data with
// uPlot. Computes nothing: every number comes from the #series-data block,
// which gauntlet computed from the run's timeline.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("series-data").textContent);
  var charts = [];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function color(i) {
    return cssVar("--c" + ((i % 10) + 1));
  }

  function fmt(unit) {
    return function (u, v) {
      if (v == null) {
        return "–";
      }
      var digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
      return v.toFixed(digits) + (unit ? " " + unit : "");
    };
  }

  function axis(label, scale, side) {
    var fg = cssVar("--muted");
    var grid = cssVar("--grid");
    return {
      scale: scale,
      side: side,
      label: label,
      stroke: fg,
      size: 60,
      grid: { show: side !== 1, stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
    };
  }

  // What each chart draws: its lines, the unit of each line and its scale.
  var specs = {
    throughput: function () {
      return {
        lines: data.throughput.map(function (l, i) {
          return { line: l, stroke: color(i === 0 ? 0 : 3), unit: "/s", scale: "y" };
        }),
        axes: [axis("per second", "y", 3)],
      };
    },
    latency: function () {
      var n = 4;
      return {
        lines: data.latency.map(function (l, i) {
          return { line: l, stroke: color(i % n), dash: i >= n ? [6, 4] : null, unit: "ms", scale: "y" };
        }),
        axes: [axis("ms", "y", 3)],
      };
    },
    errors: function () {
      return {
        lines: data.errors.map(function (l, i) {
          return { line: l, stroke: color(i + 3), unit: "", scale: "y" };
        }),
        axes: [axis("errors per interval", "y", 3)],
      };
    },
    load: function () {
      return {
        lines: data.load.map(function (l, i) {
          return { line: l, stroke: color(i), dash: i === 1 ? [6, 4] : null, unit: i < 2 ? "" : "/s", scale: i < 2 ? "vus" : "rate" };
        }),
        axes: [axis("VUs", "vus", 3), axis("iterations per second", "rate", 1)],
      };
    },
    phases: function () {
      return {
        lines: data.phases.map(function (l, i) {
          return { line: l, stroke: color(i), unit: "ms", scale: "y" };
        }),
        axes: [axis("ms", "y", 3)],
      };
    },
  };

  function width(el) {
    return Math.max(320, Math.floor(el.clientWidth || 800));
  }

  function draw() {
    charts.forEach(function (c) {
      c.plot.destroy();
    });
    charts = [];
    document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
      var make = specs[el.getAttribute("data-chart")];
      if (!make) {
        return;
      }
      var spec = make();
      var series = [{ label: "time", value: fmt("s") }];
      var columns = [data.t];
      var scales = { x: { time: false } };
      spec.lines.forEach(function (s) {
        scales[s.scale] = scales[s.scale] || { auto: true };
        series.push({
          label: s.line.label,
          stroke: s.stroke,
          width: 2,
          dash: s.dash || undefined,
          scale: s.scale,
          spanGaps: false,
          value: fmt(s.unit),
        });
        columns.push(s.line.values);
      });
      var opts = {
        width: width(el),
        height: 260,
        scales: scales,
        series: series,
        axes: [axis("seconds since start", "x", 2)].concat(spec.axes),
        legend: { show: true, live: true },
        cursor: { drag: { x: true, y: false } },
      };
      charts.push({ el: el, plot: new uPlot(opts, columns, el) });
    });
  }

  function resize(fixed) {
    charts.forEach(function (c) {
      c.plot.setSize({ width: fixed || width(c.el), height: 260 });
    });
  }

  draw();
  var pending = false;
  window.addEventListener("resize", function () {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        resize();
      });
    }
  });
  // Colours come from CSS variables: redraw when the colour scheme changes.
  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  if (dark.addEventListener) {
    dark.addEventListener("change", draw);
  }
  // Print: open collapsed sections and fit charts to the page width.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) {
      d.open = true;
    });
    draw();
    resize(680);
  });
  window.addEventListener("afterprint", function () {
    draw();
  });
})();
