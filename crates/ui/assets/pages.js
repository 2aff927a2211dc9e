"use strict";
// Services (home), service dashboard, alerts and query pages. RED metrics come
// from the span metrics Sightline derives from traces (docs/tracing.md):
// traces_span_metrics_calls_total and
// traces_span_metrics_duration_milliseconds_bucket, labelled service_name,
// span_name, span_kind (SPAN_KIND_*) and status_code (STATUS_CODE_*).

SL.pages = SL.pages || {};

(function () {
  const { h } = SL;
  const CALLS = "traces_span_metrics_calls_total";
  const BUCKET = "traces_span_metrics_duration_milliseconds_bucket";
  const ERR = 'status_code="STATUS_CODE_ERROR"';
  const ERR_COLOR = "#c62828";
  const Q_COLORS = { p50: "#10b981", p95: "#f59e0b", p99: "#c2410c" };

  // Which spans count as a service's requests: entry spans (server and
  // consumer, as Jaeger's Monitor tab does) or every span.
  SL.kinds = () => (SL.store.get("kinds", "entry") === "all" ? "all" : "entry");
  const kindMatcher = (k) => (k === "all" ? "" : 'span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"');
  const sel = (...ms) => "{" + ms.filter(Boolean).join(", ") + "}";
  // $__rate_interval: at least four 15s span-metric flushes, and at least one step.
  const rateWindow = (step) => Math.max(60, step + 15);

  const kindToggle = (onChange) => h("span", {
    title: "Entry spans: SERVER and CONSUMER spans, the requests a service receives (as Jaeger's Monitor tab counts them).\n" +
      "All spans: every span the service records, including CLIENT and INTERNAL ones.",
  }, SL.seg([["entry", "Entry spans"], ["all", "All spans"]], SL.kinds(), (v) => {
    SL.store.set("kinds", v);
    onChange();
  }));

  // instant vector → Map(label value → number)
  const byLabel = (vec, label) => {
    const m = new Map();
    for (const r of vec.result || []) m.set(r.metric[label] || "", Number(r.value[1]));
    return m;
  };
  // matrix → Map(label value → [[t, v]])
  const seriesByLabel = (mat, label) => {
    const m = new Map();
    for (const r of mat.result || []) m.set(r.metric[label] || "", r.values.map(([t, v]) => [Number(t), Number(v)]));
    return m;
  };
  // errors/total per timestamp; a timestamp with no errors series is 0.
  const ratioPoints = (total, errors) => {
    const e = new Map((errors || []).map(([t, v]) => [t, v]));
    return (total || []).map(([t, v]) => [t, v > 0 ? (e.get(t) || 0) / v : NaN]);
  };
  const last = (pts) => {
    for (let i = (pts || []).length - 1; i >= 0; i--) if (Number.isFinite(pts[i][1])) return pts[i][1];
    return NaN;
  };

  // ------------------------------------------------------------ services (home)
  SL.pages.services = async function (root, _parts, _params, ctx) {
    document.title = "Services · Sightline";
    const reload = () => ctx.rerender();
    root.appendChild(h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Services"),
        h("div", { class: "muted" }, "Request rate, error ratio and p99 latency over the last 5 minutes; sparklines show the last hour.")),
      h("div", { class: "row" }, kindToggle(reload), h("button", { type: "button", onclick: reload }, "Refresh"))));
    const body = h("div", { class: "panel" }, h("p", { class: "muted" }, "Loading…"));
    root.appendChild(body);
    ctx.every(60, reload);

    const k = kindMatcher(SL.kinds());
    const end = Math.floor(SL.nowSec());
    const start = end - 3600, step = 60, w = SL.promDur(rateWindow(step));
    const by = "service_name";
    const qRate = (win, extra) => `sum by (${by}) (rate(${CALLS}${sel(k, extra)}[${win}]))`;
    const qP99 = (win) => `histogram_quantile(0.99, sum by (${by}, le) (rate(${BUCKET}${sel(k)}[${win}])))`;
    let res;
    try {
      res = await Promise.all([
        SL.get("services").then((r) => r.data || []).catch(() => []),
        SL.instant(qRate("5m")), SL.instant(qRate("5m", ERR)), SL.instant(qP99("5m")),
        SL.range(qRate(w), start, end, step), SL.range(qRate(w, ERR), start, end, step), SL.range(qP99(w), start, end, step),
      ]);
    } catch (e) {
      SL.clear(body).appendChild(SL.errorBox(e));
      return;
    }
    const [names, rNow, eNow, pNow, rR, eR, pR] = res;
    const rate = byLabel(rNow, by), err = byLabel(eNow, by), p99 = byLabel(pNow, by);
    const rateS = seriesByLabel(rR, by), errS = seriesByLabel(eR, by), p99S = seriesByLabel(pR, by);
    const all = new Set(names);
    for (const m of [rate, rateS]) for (const s of m.keys()) if (s) all.add(s);
    const rows = [...all].map((svc) => ({
      svc,
      rate: rate.has(svc) ? rate.get(svc) : NaN,
      err: rate.get(svc) > 0 ? (err.get(svc) || 0) / rate.get(svc) : NaN,
      p99: p99.has(svc) ? p99.get(svc) : NaN,
      rateS: rateS.get(svc), errS: ratioPoints(rateS.get(svc), errS.get(svc)), p99S: p99S.get(svc),
    }));
    SL.clear(body);
    if (!rows.length) {
      body.appendChild(h("div", { class: "empty" },
        h("p", null, "No services yet."),
        h("p", null, "Send OpenTelemetry traces over OTLP (gRPC on :4317, HTTP on :4318/v1/traces or this port's /v1/traces); " +
          "span metrics appear here within a flush interval (15s).")));
      return;
    }
    const spark = { start, end, step };
    body.appendChild(SL.table([
      { key: "svc", label: "Service", cell: (r) => h("a", { href: SL.href(["service", r.svc]) }, h("span", { class: "dot", style: { background: SL.serviceColor(r.svc) } }), r.svc) },
      { key: "rate", label: "Requests", num: true, cell: (r) => [SL.fmtRate(r.rate), SL.spark(r.rateS, { ...spark, color: "#3b82f6", fmt: SL.fmtRate })] },
      { key: "err", label: "Errors", num: true, cell: (r) => [h("span", { class: r.err > 0 ? "bad" : "" }, SL.fmtPct(r.err)), SL.spark(r.errS, { ...spark, color: ERR_COLOR, fmt: SL.fmtPct })] },
      { key: "p99", label: "p99 latency", num: true, cell: (r) => [SL.fmtMs(r.p99), SL.spark(r.p99S, { ...spark, color: Q_COLORS.p99, fmt: SL.fmtMs })] },
      { key: "links", label: "", nosort: true, cell: (r) => h("a", { href: SL.href("traces", { service: r.svc }) }, "traces") },
    ], rows, { sort: "svc", onRow: (r) => SL.go(["service", r.svc]) }));
  };

  // ------------------------------------------------------------ service dashboard
  const RANGES = [["15m", "15m"], ["1h", "1h"], ["6h", "6h"], ["24h", "24h"]];

  // Histogram bucket bounds (ms) of the span-metric latency histogram, for
  // turning a clicked latency into the trace-search minimum.
  let bucketBounds = null;
  async function bounds(svc) {
    if (bucketBounds) return bucketBounds;
    try {
      const r = await SL.get("labelValues", { name: "le" }, { "match[]": BUCKET + sel("service_name=" + SL.pq(svc)) });
      bucketBounds = (r.data || []).map(Number).filter(Number.isFinite).sort((a, b) => a - b);
    } catch (_) {
      bucketBounds = [];
    }
    return bucketBounds;
  }
  // Largest bucket bound below v: every span in v's bucket lasted at least this.
  const floorBound = (b, v) => {
    let lo = 0;
    for (const x of b) if (x < v) lo = x;
    return b.length ? lo : v * 0.8;
  };
  const ceilBound = (b, v) => {
    for (const x of b) if (x >= v) return x;
    return NaN;
  };

  SL.pages.service = async function (root, parts, params, ctx) {
    const svc = parts[0] || "";
    document.title = svc + " · Sightline";
    const range = params.get("range") || "1h";
    const op = params.get("op") || "";
    const rangeSec = SL.parseSpan(range) || 3600;
    const nav = (q) => SL.go(["service", svc], Object.assign({ range, op }, q));
    const reload = () => ctx.rerender();

    root.appendChild(h("div", { class: "page-head" },
      h("div", null,
        h("div", { class: "small" }, h("a", { href: "#/services" }, "Services"), " /"),
        h("h1", null, h("span", { class: "dot", style: { background: SL.serviceColor(svc) } }), svc),
        op ? h("div", null, "Operation ", h("span", { class: "chip" }, op), " ", h("a", { href: SL.href(["service", svc], { range }) }, "✕ all operations")) : null),
      h("div", { class: "row" },
        kindToggle(reload),
        SL.seg(RANGES, range, (v) => nav({ range: v })),
        h("button", { type: "button", onclick: reload }, "Refresh"),
        h("a", { class: "btn", href: SL.href("traces", { service: svc, operation: op }) }, "Search traces"))));

    const end = Math.floor(SL.nowSec());
    const start = end - rangeSec;
    const step = Math.max(15, SL.stepFor(rangeSec, 200));
    const wSec = rateWindow(step), w = SL.promDur(wSec);
    const f = [kindMatcher(SL.kinds()), "service_name=" + SL.pq(svc), op ? "span_name=" + SL.pq(op) : ""];
    const qRate = (extra) => `sum(rate(${CALLS}${sel(...f, extra)}[${w}]))`;
    const qQ = (q) => `histogram_quantile(${q}, sum by (le) (rate(${BUCKET}${sel(...f)}[${w}])))`;

    const tiles = h("div", { class: "tiles" });
    const charts = h("div", { class: "grid2" });
    const latPanel = h("div", { class: "panel" });
    const opsPanel = h("div", { class: "panel" }, h("h2", null, "Operations"), h("p", { class: "muted" }, "Loading…"));
    const depPanel = h("div", { class: "panel" }, h("h2", null, "Dependencies"), h("p", { class: "muted" }, "Loading…"));
    root.appendChild(tiles);
    root.appendChild(latPanel);
    root.appendChild(charts);
    root.appendChild(opsPanel);
    root.appendChild(depPanel);
    latPanel.appendChild(h("p", { class: "muted" }, "Loading…"));

    let res;
    try {
      res = await Promise.all([
        SL.range(qRate(), start, end, step), SL.range(qRate(ERR), start, end, step),
        SL.range(qQ(0.5), start, end, step), SL.range(qQ(0.95), start, end, step), SL.range(qQ(0.99), start, end, step),
        SL.get("exemplars", null, { query: BUCKET + sel(...f), start, end }).then((r) => r.data || []).catch(() => []),
      ]);
    } catch (e) {
      SL.clear(latPanel).appendChild(SL.errorBox(e));
      return;
    }
    const pts = (m) => ((m.result || [])[0] ? m.result[0].values.map(([t, v]) => [Number(t), Number(v)]) : []);
    const [rateM, errM, p50M, p95M, p99M, exemplars] = res;
    const rate = pts(rateM), errs = pts(errM), ratio = ratioPoints(rate, errs);
    const q = { p50: pts(p50M), p95: pts(p95M), p99: pts(p99M) };

    const tile = (label, value, cls) => h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value " + (cls || "") }, value));
    const lastRatio = last(ratio);
    tiles.appendChild(tile("Requests", SL.fmtRate(last(rate))));
    tiles.appendChild(tile("Errors", SL.fmtPct(lastRatio), lastRatio > 0 ? "bad" : ""));
    tiles.appendChild(tile("p50", SL.fmtMs(last(q.p50))));
    tiles.appendChild(tile("p95", SL.fmtMs(last(q.p95))));
    tiles.appendChild(tile("p99", SL.fmtMs(last(q.p99))));

    // A point at t counts spans flushed into the metrics during (t - w, t]. The
    // search matches span starts, so it reaches back by the longest duration in
    // the picked bucket plus slack for exporter batching and the metrics flush.
    const searchStart = (t, b, v) => {
      const hi = ceilBound(b, v);
      const longest = Number.isFinite(hi) ? hi : v * 2;
      return Math.floor((t - wSec - longest / 1000 - 30) * 1e6);
    };
    // Latency, with exemplars; clicking or boxing opens the traces behind it.
    const toTraces = (extra) => SL.go("traces", Object.assign({ service: svc, operation: op, limit: 20, sort: "longest" }, extra));
    const markers = [];
    for (const s of exemplars) for (const e of s.exemplars || []) {
      const tid = e.labels && (e.labels.trace_id || e.labels.traceID);
      if (!tid) continue;
      markers.push({
        t: Number(e.timestamp), v: Number(e.value), color: "#1f2937",
        title: "exemplar trace " + tid + "\n" + (s.seriesLabels.span_name || "") + " — " + SL.fmtMs(Number(e.value)) + " at " + SL.fmtClock(Number(e.timestamp), true) + "\nclick to open",
        onClick: () => SL.go(["trace", tid]),
      });
    }
    // Too many diamonds hide the lines: keep the slowest few hundred.
    markers.sort((a, b) => b.v - a.v);
    markers.length = Math.min(markers.length, 300);
    SL.clear(latPanel);
    latPanel.appendChild(h("div", { class: "chart-title" }, h("h3", null, "Latency"),
      h("span", { class: "muted small" }, "Click a point or drag a box to see the traces behind it" + (markers.length ? "; ◆ exemplar traces" : ""))));
    latPanel.appendChild(SL.chart({
      series: ["p99", "p95", "p50"].map((k) => ({ name: k, color: Q_COLORS[k], points: q[k], width: k === "p99" ? 2 : 1.6 })),
      start, end, step, height: 240, yFmt: SL.fmtMs, legend: true, markers,
      hint: "click: traces at this latency",
      empty: SL.kinds() === "entry" ? "no entry spans in this range (try All spans)" : "no spans in this range",
      onPick: async ({ t, v, series }) => {
        const b = await bounds(svc);
        toTraces({
          start: searchStart(t, b, v), end: Math.ceil(t * 1e6),
          minDuration: SL.goDur(Math.floor(floorBound(b, v))), from: "latency",
          q: series.name + " ≈ " + SL.fmtMs(v) + " at " + SL.fmtClock(t, true),
        });
      },
      onBox: async ({ t0, t1, v0, v1 }) => {
        const b = await bounds(svc);
        const extra = { start: searchStart(t0, b, v1 !== null ? v1 : Math.max(0, ...q.p99.map((p) => p[1]).filter(Number.isFinite))), end: Math.ceil(t1 * 1e6), from: "box" };
        if (v0 !== null) {
          extra.minDuration = SL.goDur(Math.floor(floorBound(b, Math.max(0, v0))));
          const hi = ceilBound(b, v1);
          if (Number.isFinite(hi)) extra.maxDuration = SL.goDur(hi);
          extra.q = "latency " + SL.fmtMs(Math.max(0, v0)) + " – " + SL.fmtMs(v1);
        }
        toTraces(extra);
      },
    }));

    const ratePanel = h("div", { class: "panel" }, h("h3", null, "Request rate"));
    ratePanel.appendChild(SL.chart({
      series: [{ name: "requests/s", color: "#3b82f6", points: rate }, { name: "errors/s", color: ERR_COLOR, points: errs }],
      start, end, step, height: 180, yFmt: (v) => SL.fmtNum(v) + "/s", legend: true,
      onBox: ({ t0, t1 }) => toTraces({ start: Math.floor((t0 - wSec - 60) * 1e6), end: Math.ceil(t1 * 1e6), from: "rate", sort: "recent" }),
    }));
    const errPanel = h("div", { class: "panel" }, h("h3", null, "Error ratio"));
    errPanel.appendChild(SL.chart({
      series: [{ name: "errors", color: ERR_COLOR, points: ratio }],
      start, end, step, height: 180, yFmt: SL.fmtPct,
      hint: "click: failed traces at this time",
      onPick: ({ t }) => toTraces({ start: Math.floor((t - wSec - 60) * 1e6), end: Math.ceil(t * 1e6), tags: "error=true", from: "errors", sort: "recent" }),
    }));
    charts.appendChild(ratePanel);
    charts.appendChild(errPanel);

    ctx.every(60, reload);
    dependencies(depPanel, svc, rangeSec, end);

    // Per-operation breakdown over the whole range.
    const fo = [kindMatcher(SL.kinds()), "service_name=" + SL.pq(svc)];
    const R = SL.promDur(rangeSec);
    const oq = (extra) => `sum by (span_name) (rate(${CALLS}${sel(...fo, extra)}[${R}]))`;
    const oqq = (x) => `histogram_quantile(${x}, sum by (span_name, le) (rate(${BUCKET}${sel(...fo)}[${R}])))`;
    try {
      const [oR, oE, o50, o95, o99] = await Promise.all([oq(), oq(ERR), oqq(0.5), oqq(0.95), oqq(0.99)].map((x) => SL.instant(x, end)));
      const r = byLabel(oR, "span_name"), e = byLabel(oE, "span_name");
      const a = byLabel(o50, "span_name"), b = byLabel(o95, "span_name"), c = byLabel(o99, "span_name");
      const rows = [...r.keys()].map((name) => ({
        name, rate: r.get(name), err: r.get(name) > 0 ? (e.get(name) || 0) / r.get(name) : NaN,
        p50: a.get(name), p95: b.get(name), p99: c.get(name),
      }));
      SL.clear(opsPanel).appendChild(h("h2", null, "Operations ", h("span", { class: "muted small" }, "averaged over the last " + range + "; click a row to chart only that operation")));
      if (!rows.length) {
        opsPanel.appendChild(h("div", { class: "empty" }, "No spans of " + svc + " in this range."));
        return;
      }
      const t = SL.table([
        { key: "name", label: "Operation", cell: (x) => (x.name === op ? h("b", null, x.name) : x.name) },
        { key: "rate", label: "Requests", num: true, cell: (x) => SL.fmtRate(x.rate) },
        { key: "err", label: "Errors", num: true, cell: (x) => h("span", { class: x.err > 0 ? "bad" : "" }, SL.fmtPct(x.err)) },
        { key: "p50", label: "p50", num: true, cell: (x) => SL.fmtMs(x.p50) },
        { key: "p95", label: "p95", num: true, cell: (x) => SL.fmtMs(x.p95) },
        { key: "p99", label: "p99", num: true, cell: (x) => SL.fmtMs(x.p99) },
        { key: "links", label: "", nosort: true, cell: (x) => h("a", { href: SL.href("traces", { service: svc, operation: x.name }) }, "traces") },
      ], rows, { sort: "rate", desc: true, onRow: (x) => nav({ op: x.name === op ? "" : x.name }) });
      opsPanel.appendChild(t);
    } catch (e) {
      SL.clear(opsPanel).appendChild(h("h2", null, "Operations"));
      opsPanel.appendChild(SL.errorBox(e));
    }
  };

  // Callers and callees from the service graph (CLIENT span → SERVER child pairs).
  async function dependencies(panel, svc, rangeSec, end) {
    const R = SL.promDur(rangeSec);
    const q = (side, other, metric) => `sum by (${other}) (rate(traces_service_graph_${metric}{${side}=${SL.pq(svc)}}[${R}]))`;
    try {
      const [inT, inF, outT, outF] = await Promise.all([
        q("server", "client", "request_total"), q("server", "client", "request_failed_total"),
        q("client", "server", "request_total"), q("client", "server", "request_failed_total"),
      ].map((x) => SL.instant(x, end)));
      SL.clear(panel).appendChild(h("h2", null, "Dependencies ", h("span", { class: "muted small" }, "from the service graph, averaged over the last " + R)));
      const side = (title, tot, fail, label) => {
        const t = byLabel(tot, label), f = byLabel(fail, label);
        const rows = [...t.keys()].filter((k) => k).map((k) => ({ peer: k, rate: t.get(k), err: t.get(k) > 0 ? (f.get(k) || 0) / t.get(k) : NaN }));
        return h("div", null, h("h3", null, title),
          rows.length ? SL.table([
            { key: "peer", label: "Service", cell: (r) => h("a", { href: SL.href(["service", r.peer]) }, h("span", { class: "dot", style: { background: SL.serviceColor(r.peer) } }), r.peer) },
            { key: "rate", label: "Requests", num: true, cell: (r) => SL.fmtRate(r.rate) },
            { key: "err", label: "Failed", num: true, cell: (r) => h("span", { class: r.err > 0 ? "bad" : "" }, SL.fmtPct(r.err)) },
          ], rows, { sort: "rate", desc: true }) : h("div", { class: "muted small" }, "none seen"));
      };
      panel.appendChild(h("div", { class: "grid2" }, side("Called by", inT, inF, "client"), side("Calls", outT, outF, "server")));
    } catch (e) {
      SL.clear(panel).appendChild(h("h2", null, "Dependencies"));
      panel.appendChild(SL.errorBox(e));
    }
  }

  // ------------------------------------------------------------ alerts
  const labelChips = (labels, skip) => Object.keys(labels || {}).filter((k) => k !== skip).sort()
    .map((k) => h("span", { class: "chip" }, k + "=" + labels[k]));

  const matcherText = (m) => m.name + (m.isEqual === false ? (m.isRegex ? "!~" : "!=") : (m.isRegex ? "=~" : "=")) + JSON.stringify(m.value);

  // `a="b", c=~"d.*"` → Alertmanager matchers.
  function parseMatchers(text) {
    const out = [];
    const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,\s]+)\s*(?:,|$)/y;
    const src = text.trim().replace(/^\{/, "").replace(/\}$/, "");
    let pos = 0;
    while (pos < src.length) {
      re.lastIndex = pos;
      const m = re.exec(src);
      if (!m) throw new Error("cannot parse matchers at: " + src.slice(pos));
      let v = m[3];
      if (v.startsWith("\"")) v = JSON.parse(v);
      out.push({ name: m[1], value: v, isRegex: m[2].includes("~"), isEqual: !m[2].startsWith("!") });
      pos = re.lastIndex;
      if (pos === m.index) break;
    }
    if (!out.length) throw new Error("at least one matcher is required");
    return out;
  }

  SL.pages.alerts = async function (root, _parts, _params, ctx) {
    document.title = "Alerts · Sightline";
    const reload = () => ctx.rerender();
    root.appendChild(h("div", { class: "page-head" },
      h("div", null, h("h1", null, "Alerts"), h("div", { class: "muted" }, "Alerting rules, what they fire, and the Alertmanager's view with silences.")),
      h("button", { type: "button", onclick: reload }, "Refresh")));
    const pAlerts = h("div", { class: "panel" }, h("h2", null, "Firing and pending"), h("p", { class: "muted" }, "Loading…"));
    const pAm = h("div", { class: "panel" }, h("h2", null, "Alertmanager"), h("p", { class: "muted" }, "Loading…"));
    const pSil = h("div", { class: "panel" }, h("h2", null, "Silences"), h("p", { class: "muted" }, "Loading…"));
    const pRules = h("div", { class: "panel" }, h("h2", null, "Rule groups"), h("p", { class: "muted" }, "Loading…"));
    root.append(pAlerts, pAm, pSil, pRules);

    // New-silence form, also filled from an Alertmanager alert's "Silence" button.
    const mIn = h("input", { type: "text", placeholder: 'alertname="HighLatency", service=~"pay.*"', spellcheck: "false" });
    const durIn = h("input", { type: "text", value: "2h", size: 6 });
    const byIn = h("input", { type: "text", value: SL.store.get("silence.createdBy", ""), placeholder: "your name" });
    const cIn = h("input", { type: "text", placeholder: "why" });
    const out = h("div");
    const silForm = h("form", { class: "form-grid", autocomplete: "off" },
      h("label", { class: "field", style: { "grid-column": "span 2" } }, "Matchers", mIn),
      h("label", { class: "field" }, "Duration", durIn),
      h("label", { class: "field" }, "Created by", byIn),
      h("label", { class: "field" }, "Comment", cIn),
      h("div", null, h("button", { type: "submit", class: "primary" }, "Create silence")));
    silForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      SL.clear(out);
      try {
        const dur = SL.parseSpan(durIn.value.trim());
        if (!(dur > 0)) throw new Error("duration: use e.g. 30m, 2h, 1d");
        if (!byIn.value.trim()) throw new Error("created by is required");
        if (!cIn.value.trim()) throw new Error("a comment is required");
        SL.store.set("silence.createdBy", byIn.value.trim());
        const now = Date.now();
        const r = await SL.call("POST", "silences", null, null, {
          matchers: parseMatchers(mIn.value), startsAt: new Date(now).toISOString(),
          endsAt: new Date(now + dur * 1000).toISOString(), createdBy: byIn.value.trim(), comment: cIn.value.trim(),
        });
        out.appendChild(h("p", { class: "small" }, "Created silence " + ((r && r.silenceID) || "") + "."));
        setTimeout(reload, 600);
      } catch (e) {
        out.appendChild(SL.errorBox(e));
      }
    });

    const [alerts, rules, amAlerts, silences] = await Promise.allSettled([
      SL.get("alerts"), SL.get("rules"),
      SL.get("amAlerts", null, { active: "true", silenced: "true", inhibited: "true" }), SL.get("silences"),
    ]);

    // Prometheus-side alerts.
    SL.clear(pAlerts).appendChild(h("h2", null, "Firing and pending"));
    if (alerts.status === "rejected") pAlerts.appendChild(SL.errorBox(alerts.reason));
    else {
      const list = (alerts.value.data && alerts.value.data.alerts) || [];
      const rank = { firing: 0, pending: 1 };
      list.sort((a, b) => (rank[a.state] ?? 2) - (rank[b.state] ?? 2) || String(a.labels.alertname).localeCompare(String(b.labels.alertname)));
      if (!list.length) pAlerts.appendChild(h("div", { class: "empty" }, "Nothing firing or pending."));
      for (const a of list) {
        pAlerts.appendChild(h("div", { class: "alert-item" },
          h("div", { class: "head" }, h("span", { class: "badge " + a.state }, a.state), h("span", { class: "name" }, a.labels.alertname || "(unnamed)"),
            labelChips(a.labels, "alertname"), h("span", { class: "spacer" }),
            a.activeAt ? h("span", { class: "muted small", title: a.activeAt }, "active since " + SL.fmtAgo(SL.parseTime(a.activeAt))) : null,
            h("span", { class: "muted small", title: a.value }, "value " + SL.fmtNum(Number(a.value)))),
          a.annotations && (a.annotations.summary || a.annotations.description)
            ? h("div", { class: "ann" }, [a.annotations.summary, a.annotations.description].filter(Boolean).join(" — ")) : null));
      }
    }

    // Alertmanager alerts.
    SL.clear(pAm).appendChild(h("h2", null, "Alertmanager alerts"));
    if (amAlerts.status === "rejected") pAm.appendChild(SL.errorBox(amAlerts.reason));
    else {
      const list = amAlerts.value || [];
      if (!list.length) pAm.appendChild(h("div", { class: "empty" }, "The Alertmanager holds no active alerts."));
      list.sort((a, b) => String(a.labels.alertname).localeCompare(String(b.labels.alertname)));
      for (const a of list) {
        const st = (a.status && a.status.state) || "unprocessed";
        const silencedBy = (a.status && a.status.silencedBy) || [];
        const inhibitedBy = (a.status && a.status.inhibitedBy) || [];
        pAm.appendChild(h("div", { class: "alert-item" },
          h("div", { class: "head" }, h("span", { class: "badge " + (st === "active" ? "active-alert" : "suppressed") }, st),
            h("span", { class: "name" }, a.labels.alertname || "(unnamed)"), labelChips(a.labels, "alertname"), h("span", { class: "spacer" }),
            h("span", { class: "muted small", title: a.startsAt }, "since " + SL.fmtAgo(SL.parseTime(a.startsAt))),
            (a.receivers || []).length ? h("span", { class: "muted small" }, "→ " + a.receivers.map((r) => r.name).join(", ")) : null,
            h("button", {
              type: "button", onclick: () => {
                mIn.value = Object.keys(a.labels).sort().map((k) => k + "=" + JSON.stringify(a.labels[k])).join(", ");
                mIn.scrollIntoView({ block: "center" });
                mIn.focus();
              },
            }, "Silence…")),
          silencedBy.length ? h("div", { class: "ann" }, "silenced by " + silencedBy.join(", ")) : null,
          inhibitedBy.length ? h("div", { class: "ann" }, "inhibited by " + inhibitedBy.join(", ")) : null,
          a.annotations && a.annotations.summary ? h("div", { class: "ann" }, a.annotations.summary) : null));
      }
    }

    // Silences.
    SL.clear(pSil).appendChild(h("h2", null, "Silences"));
    pSil.appendChild(h("details", null, h("summary", null, "New silence"), silForm, out));
    if (silences.status === "rejected") pSil.appendChild(SL.errorBox(silences.reason));
    else {
      const list = silences.value || [];
      const rank = { active: 0, pending: 1, expired: 2 };
      list.sort((a, b) => (rank[a.status.state] ?? 3) - (rank[b.status.state] ?? 3) || SL.parseTime(b.endsAt) - SL.parseTime(a.endsAt));
      const live = list.filter((x) => x.status.state !== "expired");
      const expired = list.filter((x) => x.status.state === "expired");
      const item = (x) => h("div", { class: "alert-item" },
        h("div", { class: "head" }, h("span", { class: "badge " + x.status.state }, x.status.state),
          (x.matchers || []).map((m) => h("span", { class: "chip" }, matcherText(m))), h("span", { class: "spacer" }),
          h("span", { class: "muted small", title: x.startsAt + " → " + x.endsAt },
            x.status.state === "expired" ? "ended " + SL.fmtAgo(SL.parseTime(x.endsAt))
              : x.status.state === "pending" ? "starts " + SL.fmtAgo(SL.parseTime(x.startsAt)) : "ends " + SL.fmtAgo(SL.parseTime(x.endsAt))),
          x.status.state !== "expired" ? h("button", {
            type: "button", class: "danger", onclick: async (ev) => {
              if (!confirm("Expire silence " + x.id + "?")) return;
              ev.target.disabled = true;
              try {
                await SL.call("DELETE", "silence", { id: x.id });
                reload();
              } catch (e) {
                ev.target.disabled = false;
                ev.target.parentNode.parentNode.appendChild(SL.errorBox(e));
              }
            },
          }, "Expire") : null),
        h("div", { class: "ann" }, (x.createdBy || "?") + ": " + (x.comment || ""), h("span", { class: "mono small" }, "  " + x.id)));
      if (!live.length) pSil.appendChild(h("div", { class: "empty" }, "No active or pending silences."));
      live.forEach((x) => pSil.appendChild(item(x)));
      if (expired.length) pSil.appendChild(h("details", null, h("summary", { class: "muted" }, expired.length + " expired"), expired.map(item)));
    }

    // Rule groups.
    SL.clear(pRules).appendChild(h("h2", null, "Rule groups"));
    if (rules.status === "rejected") pRules.appendChild(SL.errorBox(rules.reason));
    else {
      const groups = (rules.value.data && rules.value.data.groups) || [];
      if (!groups.length) pRules.appendChild(h("div", { class: "empty" }, "No rule files loaded (rule_files in the config)."));
      for (const g of groups) {
        const rs = g.rules || [];
        const hot = rs.some((r) => r.state === "firing" || r.state === "pending" || r.health === "err");
        const firing = rs.filter((r) => r.state === "firing").length;
        pRules.appendChild(h("details", { class: "group", open: hot },
          h("summary", null, g.name, " ", h("span", { class: "muted small" },
            (g.file || "") + " · " + rs.length + " rules · every " + g.interval + "s" +
            (g.lastEvaluation ? " · evaluated " + SL.fmtAgo(SL.parseTime(g.lastEvaluation)) : "")),
          firing ? h("span", { class: "badge firing", style: { "margin-left": "8px" } }, firing + " firing") : null),
          SL.table([
            { key: "name", label: "Rule", cell: (r) => h("b", null, r.name) },
            { key: "type", label: "Type", cell: (r) => (r.type === "alerting" ? "alert" : "record") },
            { key: "state", label: "State", cell: (r) => [r.state ? h("span", { class: "badge " + r.state }, r.state) : null, r.health === "err" ? h("span", { class: "badge error" }, "error") : null] },
            { key: "query", label: "Expression", nosort: true, cell: (r) => [h("pre", { class: "expr" }, h("a", { href: SL.href("query", { expr: r.query }), title: "open in Query" }, r.query)),
              r.duration ? h("span", { class: "muted small" }, "for " + SL.promDur(r.duration)) : null,
              r.lastError ? h("div", { class: "error" }, r.lastError) : null] },
            { key: "evaluationTime", label: "Eval time", num: true, cell: (r) => SL.fmtMs((r.evaluationTime || 0) * 1000) },
          ], rs)));
      }
    }
  };

  // ------------------------------------------------------------ query
  const QRANGES = [["5m", "5m"], ["15m", "15m"], ["1h", "1h"], ["6h", "6h"], ["24h", "24h"], ["2d", "2d"], ["7d", "7d"]];
  const MAX_SERIES = 200;

  SL.pages.query = async function (root, _parts, params) {
    document.title = "Query · Sightline";
    const expr = params.get("expr") || "";
    const tab = params.get("tab") === "graph" ? "graph" : "table";
    const range = params.get("range") || "1h";
    const nav = (q) => SL.go("query", Object.assign({ expr: ta.value, tab, range }, q));
    const ta = h("textarea", { rows: 3, spellcheck: "false", placeholder: "PromQL expression, e.g. sum by (service_name) (rate(traces_span_metrics_calls_total[5m]))" });
    ta.value = expr;
    ta.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey || !ev.shiftKey)) {
        ev.preventDefault();
        nav({ t: Date.now() });
      }
    });
    root.appendChild(h("div", { class: "page-head" }, h("div", null, h("h1", null, "Query"),
      h("div", { class: "muted" }, "PromQL over everything Sightline stores. Enter runs, Shift+Enter adds a line."))));
    const panel = h("div", { class: "panel" }, ta, h("div", { class: "row", style: { "margin-top": "8px" } },
      h("button", { type: "button", class: "primary", onclick: () => nav({ t: Date.now() }) }, "Execute"),
      SL.seg([["table", "Table"], ["graph", "Graph"]], tab, (v) => nav({ tab: v })),
      tab === "graph" ? SL.seg(QRANGES, range, (v) => nav({ range: v })) : null,
      h("span", { class: "spacer" }),
      h("a", { class: "small", href: SL.href("query", { expr: "up", tab }) }, "example: up")));
    root.appendChild(panel);
    const out = h("div", { class: "panel" });
    root.appendChild(out);
    ta.focus();
    if (!expr.trim()) {
      out.appendChild(h("div", { class: "empty" }, "Enter an expression and press Execute."));
      return;
    }
    out.appendChild(h("p", { class: "muted" }, "Running…"));
    const t0 = performance.now();
    const end = SL.nowSec();
    try {
      let r;
      if (tab === "graph") {
        const sec = SL.parseSpan(range) || 3600;
        const step = SL.stepFor(sec, 250);
        r = await SL.call("POST", "queryRange", null, { query: expr, start: end - sec, end, step });
        SL.clear(out);
        notes(out, r, performance.now() - t0);
        const d = r.data;
        if (d.resultType !== "matrix") throw new Error("range query returned " + d.resultType);
        let series = SL.matrixSeries(d.result, (m) => SL.labelsText(m));
        if (series.length > MAX_SERIES) {
          out.appendChild(h("div", { class: "warning" }, "Showing " + MAX_SERIES + " of " + series.length + " series."));
          series = series.slice(0, MAX_SERIES);
        }
        out.appendChild(SL.chart({ series, start: end - sec, end, step, height: 320, legend: true, zero: false }));
      } else {
        r = await SL.call("POST", "query", null, { query: expr, time: end });
        SL.clear(out);
        notes(out, r, performance.now() - t0);
        out.appendChild(resultTable(r.data));
      }
    } catch (e) {
      SL.clear(out).appendChild(SL.errorBox(e));
    }
  };

  function notes(out, r, ms) {
    const d = r.data || {};
    const n = Array.isArray(d.result) ? d.result.length : 1;
    out.appendChild(h("div", { class: "muted small", style: { "margin-bottom": "8px" } },
      d.resultType + " · " + n + (n === 1 ? " result" : " results") + " · " + Math.round(ms) + " ms"));
    for (const w of r.warnings || []) out.appendChild(h("div", { class: "warning" }, w));
    for (const w of r.infos || []) out.appendChild(h("div", { class: "hint" }, w));
  }

  function resultTable(d) {
    const MAX = 2000;
    if (d.resultType === "scalar" || d.resultType === "string") {
      return h("table", { class: "result-table" }, h("tbody", null, h("tr", null, h("td", { class: "metric" }, d.resultType), h("td", { class: "value" }, String(d.result[1])))));
    }
    const rows = d.result || [];
    if (!rows.length) return h("div", { class: "empty" }, "Empty result.");
    const tb = h("tbody");
    for (const r of rows.slice(0, MAX)) {
      let val;
      if (d.resultType === "matrix") val = (r.values || []).map(([t, v]) => v + " @" + t).join("\n");
      else val = r.value ? r.value[1] : r.histogram ? JSON.stringify(r.histogram[1]) : "";
      tb.appendChild(h("tr", null, h("td", { class: "metric" }, SL.labelsText(r.metric)), h("td", { class: "value", style: { "white-space": "pre" } }, val)));
    }
    return h("div", null,
      rows.length > MAX ? h("div", { class: "warning" }, "Showing " + MAX + " of " + rows.length + " results.") : null,
      h("table", { class: "result-table" }, h("thead", null, h("tr", null, h("th", null, "Series"), h("th", { class: "num" }, "Value"))), tb));
  }
})();
