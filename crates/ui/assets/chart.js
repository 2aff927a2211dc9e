"use strict";
// SVG charts drawn by hand: time-series lines with hover tooltip, click to pick
// a point, drag to select a box, clickable markers (exemplars, traces); and
// sparklines. Redraws itself when its container changes width.

(function () {
  const { h, s } = SL;

  function niceStep(span, n) {
    const raw = span / Math.max(1, n);
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return m * p;
  }

  function yTicks(min, max, n) {
    if (!(max > min)) max = min + 1;
    const st = niceStep(max - min, n);
    const lo = Math.floor(min / st) * st;
    const hi = Math.ceil(max / st - 1e-9) * st;
    const out = [];
    for (let v = lo; v <= hi + st / 2; v += st) out.push(Number(v.toPrecision(12)));
    return out;
  }

  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800];

  function xTicks(start, end, maxCount) {
    const span = end - start;
    let iv = TIME_STEPS[TIME_STEPS.length - 1];
    for (const t of TIME_STEPS) {
      if (span / t <= maxCount) {
        iv = t;
        break;
      }
    }
    const off = -new Date(start * 1000).getTimezoneOffset() * 60;
    const out = [];
    for (let t = Math.ceil((start + off) / iv) * iv - off; t <= end; t += iv) out.push(t);
    return { ticks: out, iv };
  }

  function xLabel(t, iv, span) {
    const d = new Date(t * 1000);
    if (span > 2 * 86400 && iv >= 3600) {
      return SL.pad2(d.getMonth() + 1) + "-" + SL.pad2(d.getDate()) + (iv < 86400 ? " " + SL.fmtClock(t) : "");
    }
    return SL.fmtClock(t, iv < 60);
  }

  // Index of the point in sorted `pts` nearest to t.
  function nearest(pts, t) {
    let lo = 0, hi = pts.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (pts[mid][0] < t) lo = mid;
      else hi = mid;
    }
    return Math.abs(pts[lo][0] - t) <= Math.abs(pts[hi][0] - t) ? lo : hi;
  }

  const finite = (v) => typeof v === "number" && Number.isFinite(v);

  /**
   * opts: series [{name, color, points: [[tSec, value]]}], start, end, step (s),
   * height, yFmt, legend (bool), onPick({t, v, series}), onBox({t0, t1, v0, v1}),
   * markers [{t, v, color, title, onClick}], empty (text when there is no data).
   */
  SL.chart = function (opts) {
    const height = opts.height || 200;
    const yFmt = opts.yFmt || ((v) => SL.fmtNum(v));
    const hidden = new Set();
    const box = h("div", { class: "chart" + (opts.onPick || opts.onBox ? " pickable" : "") });
    const tip = h("div", { class: "tooltip" });
    const outer = h("div", null, box);
    let legend = null;
    if (opts.legend && opts.series.length) {
      legend = h("div", { class: "legend" });
      outer.appendChild(legend);
      const redrawLegend = () => {
        SL.clear(legend);
        opts.series.forEach((se, i) => {
          legend.appendChild(h("span", {
            class: hidden.has(i) ? "off" : "",
            title: "click: show only this series; shift-click: toggle it",
            onclick: (ev) => {
              if (ev.shiftKey) {
                if (hidden.has(i)) hidden.delete(i);
                else hidden.add(i);
              } else if (hidden.size === opts.series.length - 1 && !hidden.has(i)) {
                hidden.clear();
              } else {
                hidden.clear();
                opts.series.forEach((_, j) => j !== i && hidden.add(j));
              }
              redrawLegend();
              draw();
            },
          }, h("span", { class: "dot", style: { background: se.color } }), se.name));
        });
      };
      redrawLegend();
    }

    let width = 0;
    function draw() {
      SL.clear(box);
      if (!width) return;
      const W = width, H = height;
      const m = { l: 58, r: 14, t: 8, b: 22 };
      const pw = Math.max(10, W - m.l - m.r), ph = Math.max(10, H - m.t - m.b);
      const start = opts.start, end = opts.end, step = opts.step || (end - start) / 240;
      const vis = opts.series.map((se, i) => ({ se, i })).filter((x) => !hidden.has(x.i));
      let lo = Infinity, hi = -Infinity;
      for (const { se } of vis) for (const p of se.points) if (finite(p[1])) {
        if (p[1] < lo) lo = p[1];
        if (p[1] > hi) hi = p[1];
      }
      for (const mk of opts.markers || []) if (finite(mk.v)) {
        if (mk.v < lo) lo = mk.v;
        if (mk.v > hi) hi = mk.v;
      }
      const noData = lo === Infinity;
      if (noData) {
        lo = 0;
        hi = 1;
      }
      if (lo > 0 && opts.zero !== false) lo = 0;
      if (hi === lo) hi = lo + (Math.abs(lo) || 1);
      const yt = yTicks(lo, hi, Math.max(2, Math.floor(ph / 40)));
      const y0 = yt[0], y1 = yt[yt.length - 1];
      const X = (t) => m.l + ((t - start) / (end - start || 1)) * pw;
      const Y = (v) => m.t + ph - ((v - y0) / (y1 - y0 || 1)) * ph;
      const invX = (x) => start + ((x - m.l) / pw) * (end - start);
      const invY = (y) => y0 + ((m.t + ph - y) / ph) * (y1 - y0);

      const svg = s("svg", { width: W, height: H, role: "img" });
      const grid = s("g", { class: "grid" });
      const axis = s("g", { class: "axis" });
      for (const v of yt) {
        grid.appendChild(s("line", { x1: m.l, x2: m.l + pw, y1: Y(v), y2: Y(v) }));
        axis.appendChild(s("text", { x: m.l - 6, y: Y(v) + 4, "text-anchor": "end" }, yFmt(v)));
      }
      const xt = xTicks(start, end, Math.max(2, Math.floor(pw / 80)));
      for (const t of xt.ticks) {
        grid.appendChild(s("line", { x1: X(t), x2: X(t), y1: m.t, y2: m.t + ph }));
        axis.appendChild(s("text", { x: X(t), y: H - 6, "text-anchor": "middle" }, xLabel(t, xt.iv, end - start)));
      }
      svg.appendChild(grid);
      svg.appendChild(axis);
      svg.appendChild(s("line", { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph, stroke: "#c9ced6" }));

      for (const { se } of vis) {
        let d = "";
        let prev = null;
        const pts = se.points;
        for (let k = 0; k < pts.length; k++) {
          const [t, v] = pts[k];
          if (!finite(v)) {
            prev = null;
            continue;
          }
          const x = X(t).toFixed(1), y = Y(v).toFixed(1);
          const joined = prev !== null && t - prev <= step * 1.5;
          d += (joined ? "L" : "M") + x + " " + y;
          const next = pts[k + 1];
          if (!joined && !(next && finite(next[1]) && next[0] - t <= step * 1.5)) d += "h0.5";
          prev = t;
        }
        if (d) {
          svg.appendChild(s("path", {
            d, fill: "none", stroke: se.color, "stroke-width": se.width || 1.6,
            "stroke-linejoin": "round", "stroke-linecap": "round",
            "stroke-dasharray": se.dashed ? "4 3" : null,
          }));
        }
      }
      if (noData) {
        svg.appendChild(s("text", { x: m.l + pw / 2, y: m.t + ph / 2, "text-anchor": "middle", fill: "#9aa3ad", "font-size": 13 },
          opts.empty || "no data"));
      }

      const cross = s("line", { y1: m.t, y2: m.t + ph, stroke: "#9aa3ad", "stroke-dasharray": "3 3", visibility: "hidden" });
      const dots = s("g");
      const sel = s("rect", { fill: "rgba(11,107,203,.12)", stroke: "#0b6bcb", "stroke-width": 1, visibility: "hidden" });
      const overlay = s("rect", { x: m.l, y: m.t, width: pw, height: ph, fill: "transparent" });
      svg.appendChild(cross);
      svg.appendChild(dots);
      svg.appendChild(sel);
      svg.appendChild(overlay);

      const mg = s("g");
      for (const mk of opts.markers || []) {
        if (!finite(mk.v) || mk.t < start || mk.t > end) continue;
        const x = X(mk.t), y = Y(mk.v), r = mk.r || 4;
        const shape = mk.shape === "circle"
          ? s("circle", { cx: x, cy: y, r, fill: mk.color || "#111827", "fill-opacity": 0.8, stroke: "#fff", "stroke-width": 1 })
          : s("path", { d: `M${x} ${y - r}L${x + r} ${y}L${x} ${y + r}L${x - r} ${y}Z`, fill: mk.color || "#111827", stroke: "#fff", "stroke-width": 1 });
        if (mk.title) shape.appendChild(s("title", null, mk.title));
        if (mk.onClick) {
          shape.style.cursor = "pointer";
          shape.addEventListener("click", (ev) => {
            ev.stopPropagation();
            mk.onClick(mk);
          });
        }
        mg.appendChild(shape);
      }
      svg.appendChild(mg);

      // The points of each visible series at the step nearest to x.
      const at = (x) => {
        const t = invX(x);
        const found = [];
        let snapT = null;
        for (const { se } of vis) {
          const k = nearest(se.points, t);
          if (k < 0) continue;
          const p = se.points[k];
          if (Math.abs(p[0] - t) > Math.max(step, (end - start) / 100) * 1.5) continue;
          if (snapT === null || Math.abs(p[0] - t) < Math.abs(snapT - t)) snapT = p[0];
          found.push({ se, t: p[0], v: p[1] });
        }
        return { t: snapT, found: found.filter((f) => f.t === snapT) };
      };

      const local = (ev) => {
        const r = svg.getBoundingClientRect();
        return [Math.min(Math.max(ev.clientX - r.left, m.l), m.l + pw), Math.min(Math.max(ev.clientY - r.top, m.t), m.t + ph)];
      };
      const hover = (x, y) => {
        const { t, found } = at(x);
        SL.clear(dots);
        if (t === null) {
          cross.setAttribute("visibility", "hidden");
          tip.style.display = "none";
          return;
        }
        cross.setAttribute("x1", X(t));
        cross.setAttribute("x2", X(t));
        cross.setAttribute("visibility", "visible");
        found.sort((a, b) => (finite(b.v) ? b.v : -Infinity) - (finite(a.v) ? a.v : -Infinity));
        SL.clear(tip);
        tip.appendChild(h("div", { class: "t" }, SL.fmtDate(t)));
        found.slice(0, 12).forEach((f) => {
          if (finite(f.v)) dots.appendChild(s("circle", { cx: X(t), cy: Y(f.v), r: 3, fill: f.se.color }));
          tip.appendChild(h("div", null, h("span", { class: "dot", style: { background: f.se.color } }),
            f.se.name + ": " + yFmt(f.v)));
        });
        if (found.length > 12) tip.appendChild(h("div", { class: "t" }, "+" + (found.length - 12) + " more"));
        if (opts.hint) tip.appendChild(h("div", { class: "t" }, opts.hint));
        tip.style.display = "block";
        const tw = tip.offsetWidth;
        tip.style.left = (x + 14 + tw > W ? Math.max(0, x - 14 - tw) : x + 14) + "px";
        tip.style.top = Math.max(0, y - 10) + "px";
      };

      let drag = null;
      overlay.addEventListener("pointerdown", (ev) => {
        if (!opts.onPick && !opts.onBox) return;
        const [x, y] = local(ev);
        drag = { x, y, x2: x, y2: y };
        overlay.setPointerCapture(ev.pointerId);
      });
      overlay.addEventListener("pointermove", (ev) => {
        const [x, y] = local(ev);
        if (drag) {
          drag.x2 = x;
          drag.y2 = y;
          if (opts.onBox && Math.abs(drag.x2 - drag.x) > 4) {
            sel.setAttribute("x", Math.min(drag.x, x));
            sel.setAttribute("width", Math.abs(x - drag.x));
            const tall = Math.abs(y - drag.y) > 6;
            sel.setAttribute("y", tall ? Math.min(drag.y, y) : m.t);
            sel.setAttribute("height", tall ? Math.abs(y - drag.y) : ph);
            sel.setAttribute("visibility", "visible");
          }
        }
        hover(x, y);
      });
      overlay.addEventListener("pointerleave", () => {
        if (drag) return;
        cross.setAttribute("visibility", "hidden");
        SL.clear(dots);
        tip.style.display = "none";
      });
      overlay.addEventListener("pointerup", (ev) => {
        if (!drag) return;
        const d = drag;
        drag = null;
        sel.setAttribute("visibility", "hidden");
        const [x, y] = local(ev);
        if (opts.onBox && Math.abs(x - d.x) > 4) {
          const tall = Math.abs(y - d.y) > 6;
          opts.onBox({
            t0: invX(Math.min(x, d.x)), t1: invX(Math.max(x, d.x)),
            v0: tall ? invY(Math.max(y, d.y)) : null, v1: tall ? invY(Math.min(y, d.y)) : null,
          });
          return;
        }
        if (!opts.onPick) return;
        const { t, found } = at(x);
        if (t === null || !found.length) return;
        // The series whose line is nearest the cursor vertically.
        let best = null;
        for (const f of found) {
          if (!finite(f.v)) continue;
          if (!best || Math.abs(Y(f.v) - y) < Math.abs(Y(best.v) - y)) best = f;
        }
        if (best) opts.onPick({ t, v: best.v, series: best.se });
      });

      box.appendChild(svg);
      box.appendChild(tip);
    }

    const ro = new ResizeObserver(() => {
      const w = Math.floor(box.clientWidth);
      if (w && w !== width) {
        width = w;
        draw();
      }
    });
    ro.observe(box);
    box.style.minHeight = height + "px";
    return outer;
  };

  // A small inline line: points [[t, v]] → <svg>, or a dash when empty.
  SL.spark = function (points, opts) {
    opts = opts || {};
    const W = opts.width || 110, H = opts.height || 24;
    const pts = (points || []).filter((p) => finite(p[1]));
    if (pts.length < 2) return h("span", { class: "muted spark" }, "");
    let lo = Infinity, hi = -Infinity;
    for (const p of pts) {
      lo = Math.min(lo, p[1]);
      hi = Math.max(hi, p[1]);
    }
    if (lo > 0) lo = 0;
    if (hi === lo) hi = lo + 1;
    const t0 = opts.start !== undefined ? opts.start : pts[0][0];
    const t1 = opts.end !== undefined ? opts.end : pts[pts.length - 1][0];
    const X = (t) => 1 + ((t - t0) / (t1 - t0 || 1)) * (W - 2);
    const Y = (v) => H - 2 - ((v - lo) / (hi - lo)) * (H - 4);
    let d = "";
    let prev = null;
    for (const [t, v] of pts) {
      d += (prev !== null && t - prev <= (opts.step || Infinity) * 1.5 ? "L" : "M") + X(t).toFixed(1) + " " + Y(v).toFixed(1);
      prev = t;
    }
    const color = opts.color || "#3b82f6";
    const svg = s("svg", { class: "spark", width: W, height: H },
      s("path", { d: d + "L" + X(pts[pts.length - 1][0]).toFixed(1) + " " + (H - 1) + "L" + X(pts[0][0]).toFixed(1) + " " + (H - 1) + "Z", fill: color, "fill-opacity": 0.1, stroke: "none" }),
      s("path", { d, fill: "none", stroke: color, "stroke-width": 1.3 }));
    if (opts.fmt) svg.appendChild(s("title", null, "min " + opts.fmt(Math.min(...pts.map((p) => p[1]))) + ", max " + opts.fmt(Math.max(...pts.map((p) => p[1])))));
    return svg;
  };

  // Prometheus matrix → chart series.
  SL.matrixSeries = function (result, nameFn, colorFn) {
    return (result || []).map((r, i) => ({
      name: nameFn ? nameFn(r.metric, i) : SL.labelsText(r.metric),
      color: colorFn ? colorFn(r.metric, i) : SL.seriesColor(i),
      metric: r.metric,
      points: (r.values || []).map(([t, v]) => [Number(t), Number(v)]),
    }));
  };
})();
