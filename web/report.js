// k2sim report: draws one uPlot chart per output from the JSON data embedded in the page (arms
// overlaid, 5-95% bands shaded when the run had an ensemble), then checks that each chart's
// canvas shows its series and records the result in the DOM (data-series-pixels per chart,
// data-charts and data-report on <body>), which the browser test reads.
(function () {
  "use strict";
  const body = document.body;
  try {
    const data = JSON.parse(document.getElementById("k2sim-data").textContent);
    const palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                     "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
    const colour = (i) => palette[i % palette.length];
    const years = data.duration_d > 730;
    const xLabel = years ? "time (y)" : "time (d)";
    const xOf = (t) => (years ? t / 365.25 : t);
    const root = document.getElementById("charts");
    const charts = [];

    // One colour key for every chart.
    const key = document.getElementById("key");
    data.arms.forEach((arm, i) => {
      const item = document.createElement("span");
      item.className = "key";
      item.style.borderColor = colour(i);
      item.textContent = arm.name;
      key.appendChild(item);
    });

    for (const out of data.outputs) {
      const box = document.createElement("figure");
      box.className = "chart";
      box.dataset.output = out.name;
      const cap = document.createElement("figcaption");
      const name = document.createElement("code");
      name.textContent = out.name;
      cap.appendChild(name);
      cap.appendChild(document.createTextNode(" (" + out.unit + ")" +
                                              (out.meaning ? ": " + out.meaning : "")));
      box.appendChild(cap);
      root.appendChild(box);

      // One table per arm ([x, y, p05, p95]), aligned on the union of their times.
      const tables = [];
      const series = [{ label: xLabel }];
      const bands = [];
      const colours = [];
      data.arms.forEach((arm, i) => {
        const k = arm.columns[out.name];
        if (k === undefined) return;
        const t = [arm.time_d.map(xOf), arm.values[k]];
        series.push({ label: arm.name, stroke: colour(i), width: 1.5, spanGaps: true });
        colours.push(colour(i));
        const b = arm.bands && arm.bands[out.name];
        if (b) {
          t.push(b.p05, b.p95);
          const lo = series.length;
          series.push({ label: arm.name + " p05", stroke: colour(i), width: 0.5, dash: [4, 4] });
          series.push({ label: arm.name + " p95", stroke: colour(i), width: 0.5, dash: [4, 4] });
          bands.push({ series: [lo + 1, lo], fill: colour(i) + "22" });
        }
        tables.push(t);
      });
      const aligned = tables.length === 1 ? tables[0] : uPlot.join(tables);
      const opts = {
        width: 540,
        height: 260,
        scales: { x: { time: false } },
        axes: [{ label: xLabel }, { label: out.unit === "1" ? "(dimensionless)" : out.unit, size: 70 }],
        series: series,
        bands: bands,
        legend: { show: false },
      };
      charts.push({ box: box, colours: colours, plot: new uPlot(opts, aligned, box) });
    }
    body.dataset.charts = String(charts.length);

    // Count the canvas pixels drawn in each arm's colour: proof that the lines were painted
    // (axes and grid are grey or black).
    const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    const check = () => {
      try {
        let painted = 0;
        for (const c of charts) {
          const cv = c.plot.ctx.canvas;
          const px = c.plot.ctx.getImageData(0, 0, cv.width, cv.height).data;
          const targets = c.colours.map(rgb);
          const counts = targets.map(() => 0);
          for (let p = 0; p < px.length; p += 4) {
            if (px[p + 3] < 200) continue;
            targets.forEach((t, j) => {
              const d = Math.abs(px[p] - t[0]) + Math.abs(px[p + 1] - t[1]) + Math.abs(px[p + 2] - t[2]);
              if (d < 60) ++counts[j];
            });
          }
          c.box.dataset.seriesPixels = counts.join(" ");
          if (counts.some((n) => n > 0)) ++painted;
        }
        body.dataset.painted = String(painted);
        body.dataset.report = "rendered";
      } catch (e) {
        body.dataset.report = "error: " + e;
      }
    };
    setTimeout(check, 50);
  } catch (e) {
    body.dataset.report = "error: " + e;
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = "The charts could not be drawn: " + e;
    document.getElementById("charts").appendChild(p);
  }
})();
