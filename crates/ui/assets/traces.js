"use strict";
// Traces: the search page (form, scatter plot, result list) and the trace
// view (waterfall of the span tree, span details). Data: the Jaeger JSON API.

SL.pages = SL.pages || {};

(function () {
  const { h } = SL;

  const tagValue = (t) => (t.value === null || t.value === undefined ? "" : String(t.value));
  const isErrorSpan = (sp) => (sp.tags || []).some((t) =>
    (t.key === "error" && (t.value === true || t.value === "true")) || (t.key === "otel.status_code" && t.value === "ERROR"));
  const tagOf = (sp, key) => {
    const t = (sp.tags || []).find((x) => x.key === key);
    return t ? tagValue(t) : "";
  };

  // Spans → tree: nodes in depth-first order with depth, children, self time.
  SL.traceTree = function (trace) {
    const procs = trace.processes || {};
    const nodes = new Map();
    for (const sp of trace.spans || []) {
      const p = procs[sp.processID] || {};
      nodes.set(sp.spanID, {
        span: sp, svc: p.serviceName || "unknown", proc: p, children: [], parent: null,
        error: isErrorSpan(sp), start: sp.startTime, end: sp.startTime + sp.duration, depth: 0,
      });
    }
    for (const n of nodes.values()) {
      const refs = n.span.references || [];
      const ref = refs.find((r) => r.refType === "CHILD_OF" && r.traceID === n.span.traceID && nodes.has(r.spanID) && r.spanID !== n.span.spanID) ||
        refs.find((r) => r.traceID === n.span.traceID && nodes.has(r.spanID) && r.spanID !== n.span.spanID);
      if (ref) {
        n.parent = nodes.get(ref.spanID);
        n.parent.children.push(n);
      }
    }
    // A reference cycle would hide spans: break it at the node found inside it.
    for (const n of nodes.values()) {
      const seen = new Set();
      let p = n.parent;
      while (p && !seen.has(p)) {
        if (p === n) {
          n.parent.children = n.parent.children.filter((c) => c !== n);
          n.parent = null;
          break;
        }
        seen.add(p);
        p = p.parent;
      }
    }
    const byStart = (a, b) => a.start - b.start || a.end - b.end;
    const roots = [...nodes.values()].filter((n) => !n.parent).sort(byStart);
    const order = [];
    const walk = (n, depth) => {
      n.depth = depth;
      order.push(n);
      n.children.sort(byStart);
      for (const c of n.children) walk(c, depth + 1);
    };
    roots.forEach((r) => walk(r, 0));
    let t0 = Infinity, t1 = -Infinity;
    for (const n of order) {
      t0 = Math.min(t0, n.start);
      t1 = Math.max(t1, n.end);
      // Self time: the span's duration not covered by any child.
      const iv = n.children.map((c) => [Math.max(c.start, n.start), Math.min(c.end, n.end)]).filter((x) => x[1] > x[0]).sort((a, b) => a[0] - b[0]);
      let covered = 0, cs = null, ce = null;
      for (const [a, b] of iv) {
        if (ce === null || a > ce) {
          if (ce !== null) covered += ce - cs;
          cs = a;
          ce = b;
        } else ce = Math.max(ce, b);
      }
      if (ce !== null) covered += ce - cs;
      n.self = Math.max(0, n.span.duration - covered);
    }
    if (!order.length) t0 = t1 = 0;
    const root = roots.find((r) => r.children.length || roots.length === 1) || roots[0] || null;
    return { nodes, order, roots, root, t0, t1, total: Math.max(1, t1 - t0) };
  };

  SL.traceSummary = function (trace) {
    const tree = SL.traceTree(trace);
    const services = new Map();
    let errors = 0;
    for (const n of tree.order) {
      services.set(n.svc, (services.get(n.svc) || 0) + 1);
      if (n.error) errors++;
    }
    const r = tree.root;
    return {
      id: trace.traceID, trace, tree, services, errors, spans: tree.order.length,
      rootSvc: r ? r.svc : "?", rootName: r ? r.span.operationName : "(no spans)",
      start: tree.t0, duration: tree.t1 - tree.t0,
    };
  };

  const svcChip = (svc, text) => h("span", { class: "chip svc", style: { background: SL.serviceColor(svc) } }, text || svc);

  // "k=v k2="quoted v"" → {k: v, k2: "quoted v"}
  function parseTags(text) {
    const out = {};
    const re = /([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g;
    let m;
    let any = false;
    while ((m = re.exec(text || ""))) {
      let v = m[2];
      if (v.startsWith("\"")) {
        try {
          v = JSON.parse(v);
        } catch (_) {
          v = v.slice(1, -1);
        }
      }
      out[m[1]] = v;
      any = true;
    }
    return any ? out : null;
  }

  // ms → a Go duration the Jaeger API parses.
  SL.goDur = function (ms) {
    if (!(ms > 0)) return "";
    if (Number.isInteger(ms)) return ms % 1000 === 0 ? ms / 1000 + "s" : ms + "ms";
    return Math.round(ms * 1000) + "us";
  };

  const LOOKBACKS = [["15m", "Last 15 minutes"], ["1h", "Last hour"], ["6h", "Last 6 hours"], ["24h", "Last 24 hours"],
    ["2d", "Last 2 days"], ["7d", "Last 7 days"]];

  // ------------------------------------------------------------ search page
  SL.pages.traces = async function (root, _parts, params) {
    document.title = "Traces · Sightline";
    const p = (k) => params.get(k) || "";
    const custom = p("start") && p("end");
    const form = h("form", { class: "panel", autocomplete: "off" });
    // The current choices are options from the start, so a search submitted
    // before the lists load keeps them.
    const svcSel = h("select", { name: "service" }, h("option", { value: "" }, "(all services)"),
      p("service") ? h("option", { value: p("service"), selected: true }, p("service")) : null);
    const opSel = h("select", { name: "operation" }, h("option", { value: "" }, "(all operations)"),
      p("operation") ? h("option", { value: p("operation"), selected: true }, p("operation")) : null);
    const tagsIn = h("input", { type: "text", name: "tags", value: p("tags"), placeholder: "http.response.status_code=500 error=true", spellcheck: "false" });
    const minIn = h("input", { type: "text", name: "minDuration", value: p("minDuration"), placeholder: "e.g. 100ms, 1.5s" });
    const maxIn = h("input", { type: "text", name: "maxDuration", value: p("maxDuration"), placeholder: "e.g. 10s" });
    const lbSel = h("select", { name: "lookback" }, LOOKBACKS.map(([v, l]) =>
      h("option", { value: v, selected: !custom && (p("lookback") || "1h") === v }, l)));
    if (custom) {
      lbSel.appendChild(h("option", { value: "custom", selected: true },
        SL.fmtDate(Number(p("start")) / 1e6) + " → " + SL.fmtClock(Number(p("end")) / 1e6, true)));
    }
    const limitIn = h("input", { type: "number", name: "limit", min: 1, max: 1500, value: p("limit") || "20" });
    form.appendChild(h("div", { class: "form-grid" },
      h("label", { class: "field" }, "Service", svcSel),
      h("label", { class: "field" }, "Operation", opSel),
      h("label", { class: "field", style: { "grid-column": "span 2" } }, "Tags (key=value, space separated)", tagsIn),
      h("label", { class: "field" }, "Min duration", minIn),
      h("label", { class: "field" }, "Max duration", maxIn),
      h("label", { class: "field" }, "Time range", lbSel),
      h("label", { class: "field" }, "Limit", limitIn),
      h("div", null, h("button", { type: "submit", class: "primary" }, "Find traces"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = {
        service: svcSel.value, operation: opSel.value, tags: tagsIn.value.trim(),
        minDuration: minIn.value.trim(), maxDuration: maxIn.value.trim(), limit: limitIn.value, sort: p("sort"),
      };
      if (lbSel.value === "custom") {
        q.start = p("start");
        q.end = p("end");
      } else q.lookback = lbSel.value;
      q.t = Date.now(); // re-run even when nothing changed
      SL.go("traces", q);
    });

    const loadOps = async (svc, want) => {
      let ops = [];
      if (svc) {
        try {
          ops = (await SL.get("operations", { service: svc })).data || [];
        } catch (_) {
          ops = [];
        }
      }
      if (svcSel.value !== svc) return; // changed again meanwhile
      const names = new Set(ops);
      if (want) names.add(want);
      SL.clear(opSel).appendChild(h("option", { value: "" }, "(all operations)"));
      for (const o of [...names].sort()) opSel.appendChild(h("option", { value: o, selected: o === want }, o));
    };
    svcSel.addEventListener("change", () => loadOps(svcSel.value, ""));

    root.appendChild(h("div", { class: "page-head" }, h("div", null, h("h1", null, "Traces"),
      h("div", { class: "muted" }, "Search stored traces; click one to open its waterfall."))));
    const from = { latency: "the latency chart", box: "the latency chart", rate: "the request-rate chart", errors: "the error-ratio chart" }[p("from")];
    if (from) {
      const parts = ["From " + from + ": traces of ", p("service") || "all services"];
      if (p("operation")) parts.push(" (" + p("operation") + ")");
      if (custom) parts.push(" starting between " + SL.fmtClock(Number(p("start")) / 1e6, true) + " and " + SL.fmtClock(Number(p("end")) / 1e6, true));
      if (p("minDuration")) parts.push(", at least " + p("minDuration"));
      if (p("maxDuration")) parts.push(", at most " + p("maxDuration"));
      if (p("q")) parts.push(" — you picked " + p("q"));
      if (p("tags")) parts.push(", with " + p("tags"));
      parts.push(".");
      if (p("minDuration") && from === "the latency chart") parts.push(" The histogram only knows bucket bounds, so the minimum is the lower bound of the bucket holding that latency.");
      root.appendChild(h("div", { class: "hint" }, parts.join("")));
    }
    root.appendChild(form);
    const results = h("div", null, h("p", { class: "muted" }, "Searching…"));
    root.appendChild(results);

    SL.get("services").then((r) => {
      const cur = svcSel.value;
      SL.clear(svcSel).appendChild(h("option", { value: "" }, "(all services)"));
      const names = new Set(r.data || []);
      if (cur) names.add(cur);
      for (const svc of [...names].sort()) svcSel.appendChild(h("option", { value: svc, selected: svc === cur }, svc));
      if (cur === p("service")) loadOps(cur, opSel.value);
    }).catch((e) => form.appendChild(SL.errorBox(e)));

    // Search parameters for the Jaeger API.
    let start, end;
    if (custom) {
      start = Number(p("start"));
      end = Number(p("end"));
    } else {
      end = Math.floor(Date.now() * 1000);
      start = end - (SL.parseSpan(p("lookback") || "1h") || 3600) * 1e6;
    }
    const q = {
      service: p("service"), operation: p("operation"), minDuration: p("minDuration"), maxDuration: p("maxDuration"),
      start: Math.floor(start), end: Math.ceil(end), limit: p("limit") || "20",
    };
    const tags = parseTags(p("tags"));
    if (p("tags") && !tags) {
      SL.clear(results).appendChild(SL.errorBox("tags: expected key=value pairs separated by spaces"));
      return;
    }
    if (tags) q.tags = JSON.stringify(tags);
    let data;
    try {
      data = (await SL.get("traces", null, q)).data || [];
    } catch (e) {
      SL.clear(results).appendChild(SL.errorBox(e));
      return;
    }
    renderResults(results, data.map(SL.traceSummary), start / 1e6, end / 1e6, p("sort") || "recent", params);
  };

  const SORTS = [["recent", "Most recent"], ["longest", "Longest first"], ["shortest", "Shortest first"],
    ["spans", "Most spans"], ["errors", "Most errors"]];

  function renderResults(el, list, start, end, sort, params) {
    SL.clear(el);
    if (!list.length) {
      el.appendChild(h("div", { class: "panel empty" }, "No traces found in this time range. Widen the range, lower the minimum duration or remove filters."));
      return;
    }
    const cmp = {
      recent: (a, b) => b.start - a.start,
      longest: (a, b) => b.duration - a.duration,
      shortest: (a, b) => a.duration - b.duration,
      spans: (a, b) => b.spans - a.spans,
      errors: (a, b) => b.errors - a.errors || b.start - a.start,
    }[sort] || ((a, b) => b.start - a.start);
    list.sort(cmp);
    const maxDur = Math.max(...list.map((t) => t.duration), 1);
    const sortSel = h("select", null, SORTS.map(([v, l]) => h("option", { value: v, selected: v === sort }, l)));
    sortSel.addEventListener("change", () => {
      const q = Object.fromEntries(params.entries());
      q.sort = sortSel.value;
      SL.go("traces", q);
    });
    const panel = h("div", { class: "panel" });
    panel.appendChild(h("div", { class: "row" }, h("h2", { style: { margin: 0 } }, list.length + (list.length === 1 ? " trace" : " traces")),
      h("span", { class: "spacer" }), h("span", { class: "muted small" }, "Sort"), sortSel));
    // Scatter: when each trace started vs how long it took.
    const ts = list.map((t) => t.start / 1e6);
    let x0 = Math.min(start, ...ts), x1 = Math.max(end, ...ts);
    if (list.length) {
      const pad = (Math.max(...ts) - Math.min(...ts)) * 0.05 || 30;
      x0 = Math.max(x0, Math.min(...ts) - pad);
      x1 = Math.min(x1, Math.max(...ts) + pad);
    }
    panel.appendChild(SL.chart({
      series: [], start: x0, end: x1, height: 150, yFmt: SL.fmtMs,
      markers: list.map((t) => ({
        t: t.start / 1e6, v: t.duration / 1000, shape: "circle", r: Math.min(8, 3 + Math.log2(t.spans + 1) / 1.5),
        color: t.errors ? "#c62828" : SL.serviceColor(t.rootSvc),
        title: t.rootSvc + ": " + t.rootName + " — " + SL.fmtUs(t.duration) + ", " + t.spans + " spans" + (t.errors ? ", " + t.errors + " errors" : ""),
        onClick: () => SL.go(["trace", t.id]),
      })),
    }));
    el.appendChild(panel);
    const ul = h("div", { class: "trace-list" });
    for (const t of list) {
      const item = h("div", { class: "trace-item" + (t.errors ? " has-error" : ""), tabindex: 0 },
        h("div", { class: "head" },
          svcChip(t.rootSvc),
          h("span", { class: "name" }, t.rootName),
          h("span", { class: "mono muted small" }, t.id.slice(0, 12)),
          h("span", { class: "dur" }, SL.fmtUs(t.duration))),
        h("div", { class: "bar" }, h("div", { style: { width: Math.max(0.5, (t.duration / maxDur) * 100) + "%" } })),
        h("div", { class: "meta" },
          h("span", null, t.spans + (t.spans === 1 ? " span" : " spans")),
          t.errors ? h("span", { class: "badge error" }, t.errors + (t.errors === 1 ? " error" : " errors")) : null,
          h("span", null, [...t.services.entries()].sort((a, b) => b[1] - a[1]).map(([svc, n]) => svcChip(svc, svc + " " + n))),
          h("span", { class: "spacer" }),
          h("span", { title: SL.fmtDate(t.start / 1e6) }, SL.fmtDate(t.start / 1e6) + " (" + SL.fmtAgo(t.start / 1e6) + ")")));
      const open = () => SL.go(["trace", t.id]);
      item.addEventListener("click", open);
      item.addEventListener("keydown", (ev) => ev.key === "Enter" && open());
      ul.appendChild(item);
    }
    el.appendChild(ul);
  }

  // ------------------------------------------------------------ trace view
  SL.pages.trace = async function (root, parts) {
    const id = (parts[0] || "").trim();
    document.title = "Trace " + id.slice(0, 12) + " · Sightline";
    if (!id) {
      SL.go("traces");
      return;
    }
    root.appendChild(h("p", { class: "muted" }, "Loading trace " + id + "…"));
    let trace;
    try {
      const r = await SL.get("trace", { id });
      trace = (r.data || [])[0];
    } catch (e) {
      SL.clear(root).appendChild(h("div", { class: "panel" }, h("h1", null, "Trace " + id),
        e.status === 404 ? h("p", null, "No trace with this ID is stored (it may be older than the trace retention).") : SL.errorBox(e)));
      return;
    }
    SL.clear(root);
    if (!trace || !(trace.spans || []).length) {
      root.appendChild(h("div", { class: "panel empty" }, "Trace " + id + " has no spans."));
      return;
    }
    const sum = SL.traceSummary(trace);
    const tree = sum.tree;
    const depth = Math.max(...tree.order.map((n) => n.depth)) + 1;
    root.appendChild(h("div", { class: "page-head" },
      h("div", null,
        h("h1", null, svcChip(sum.rootSvc), " ", sum.rootName),
        h("div", { class: "kv-summary small" },
          h("div", null, h("span", null, "Trace ID"), h("span", { class: "mono" }, trace.traceID)),
          h("div", null, h("span", null, "Started"), h("span", null, SL.fmtDate(sum.start / 1e6))),
          h("div", null, h("span", null, "Duration"), h("b", null, SL.fmtUs(sum.duration))),
          h("div", null, h("span", null, "Spans"), h("span", null, String(sum.spans))),
          h("div", null, h("span", null, "Depth"), h("span", null, String(depth))),
          h("div", null, h("span", null, "Services"), h("span", null, String(sum.services.size))),
          sum.errors ? h("div", null, h("span", { class: "badge error" }, sum.errors + (sum.errors === 1 ? " error" : " errors"))) : null)),
      h("div", { class: "row" },
        h("a", { class: "btn", href: SL.href(["service", sum.rootSvc]) }, "Dashboard: " + sum.rootSvc),
        h("a", { class: "btn", href: SL.href("traces", { service: sum.rootSvc, operation: sum.rootName }) }, "Similar traces"))));
    root.appendChild(h("div", { class: "svc-legend" }, [...sum.services.entries()].map(([svc, n]) =>
      h("span", null, h("span", { class: "dot", style: { background: SL.serviceColor(svc) } }), svc + " (" + n + ")"))));
    root.appendChild(SL.waterfall(trace, tree));
  };

  /** The span tree as rows of bars positioned by start and duration. */
  SL.waterfall = function (trace, tree) {
    tree = tree || SL.traceTree(trace);
    const { order, t0, total } = tree;
    const collapsed = new Set();
    const open = new Set();
    // The span that spends the most time itself (not waiting on children): the usual bottleneck.
    let hot = null;
    for (const n of order) if (!hot || n.self > hot.self) hot = n;
    if (hot && hot.self < total * 0.2) hot = null;

    const wrap = h("div", { class: "wf" });
    const controls = h("div", { class: "row", style: { margin: "0 0 8px" } },
      h("button", { type: "button", onclick: () => { collapsed.clear(); draw(); } }, "Expand all"),
      h("button", { type: "button", onclick: () => { order.forEach((n) => n.depth >= 1 && n.children.length && collapsed.add(n)); draw(); } }, "Collapse below root"),
      h("span", { class: "muted small" }, "Click a span for its attributes and events. Red outline: error."),
      hot ? h("span", { class: "small" }, "Most self time: ", h("b", null, hot.svc + " " + hot.span.operationName), " (" + SL.fmtUs(hot.self) + ")") : null);

    const pct = (us) => (us / total) * 100;
    function ruler() {
      const tl = h("div", { class: "wf-timeline" });
      for (let i = 0; i <= 4; i++) {
        tl.appendChild(h("div", { class: "wf-tick" + (i === 4 ? " last" : ""), style: { left: i * 25 + "%" } },
          h("span", null, SL.fmtUs((total * i) / 4))));
      }
      return h("div", { class: "wf-row wf-head" }, h("div", { class: "wf-name" }, "Service · operation"), tl);
    }

    function row(n) {
      const sp = n.span;
      const left = pct(n.start - t0);
      const width = Math.max(pct(sp.duration), 0.15);
      const color = SL.serviceColor(n.svc);
      const tl = h("div", { class: "wf-timeline" });
      tl.appendChild(h("div", {
        class: "wf-bar" + (n.error ? " error" : ""),
        style: { left: left + "%", width: width + "%", background: color },
        title: n.svc + " " + sp.operationName + ": " + SL.fmtUs(sp.duration),
      }));
      const label = SL.fmtUs(sp.duration) + (n === hot ? " · most self time" : "");
      tl.appendChild(left + width < 78
        ? h("div", { class: "wf-label", style: { left: left + width + 0.6 + "%" } }, label)
        : h("div", { class: "wf-label", style: { right: 100 - left + 0.6 + "%" } }, label));
      const toggle = h("span", { class: "toggle" }, n.children.length ? (collapsed.has(n) ? "▸" : "▾") : "");
      if (n.children.length) {
        toggle.title = n.children.length + " child spans";
        toggle.addEventListener("click", (ev) => {
          ev.stopPropagation();
          if (collapsed.has(n)) collapsed.delete(n);
          else collapsed.add(n);
          draw();
        });
      }
      const name = h("div", { class: "wf-name", style: { "padding-left": 8 + n.depth * 14 + "px" }, title: n.svc + " " + sp.operationName },
        toggle,
        n.error ? h("span", { class: "err-mark", title: "error" }, "!") : null,
        h("span", { class: "dot", style: { background: color } }),
        h("span", { class: "svc" }, n.svc),
        h("span", { class: "op" }, sp.operationName),
        collapsed.has(n) ? h("span", { class: "muted small" }, " (+" + countBelow(n) + ")") : null);
      const r = h("div", { class: "wf-row span" + (open.has(n) ? " selected" : "") }, name, tl);
      r.addEventListener("click", () => {
        if (open.has(n)) open.delete(n);
        else open.add(n);
        draw();
      });
      return r;
    }

    const countBelow = (n) => n.children.reduce((a, c) => a + 1 + countBelow(c), 0);

    function draw() {
      SL.clear(wrap);
      wrap.appendChild(ruler());
      for (const n of order) {
        let p = n.parent, skip = false;
        while (p) {
          if (collapsed.has(p)) {
            skip = true;
            break;
          }
          p = p.parent;
        }
        if (skip) continue;
        wrap.appendChild(row(n));
        if (open.has(n)) wrap.appendChild(detail(n));
      }
    }

    function kvTable(rows) {
      if (!rows.length) return h("div", { class: "muted small" }, "none");
      return h("table", null, h("tbody", null, rows.map(([k, v, cls, href]) => h("tr", null, h("td", null, k), h("td", { class: cls || "" }, v),
        href ? h("td", null, h("a", { href, title: "traces with " + k + "=" + v }, "find")) : null))));
    }

    function detail(n) {
      const sp = n.span;
      const parent = n.parent ? n.parent.span.spanID : ((sp.references || []).find((r) => r.refType === "CHILD_OF") || {}).spanID;
      const find = (k, v) => SL.href("traces", { service: n.svc, tags: k + "=" + JSON.stringify(v) });
      const tags = (sp.tags || []).map((t) => [t.key, tagValue(t),
        (t.key === "error" || t.key === "otel.status_code" || t.key === "otel.status_description") && n.error ? "bad" : "",
        find(t.key, tagValue(t))]);
      const res = [["service.name", n.svc]].concat((n.proc.tags || []).map((t) => [t.key, tagValue(t)]));
      const logs = (sp.logs || []).map((l) => {
        const ev = (l.fields || []).find((f) => f.key === "event");
        const rest = (l.fields || []).filter((f) => f !== ev);
        return h("div", { style: { margin: "4px 0" } },
          h("span", { class: "chip" }, "+" + SL.fmtUs(l.timestamp - sp.startTime)),
          h("b", null, ev ? tagValue(ev) : "log"),
          rest.length ? kvTable(rest.map((f) => [f.key, tagValue(f)])) : null);
      });
      const links = (sp.references || []).filter((r) => r.refType !== "CHILD_OF" || r.traceID !== sp.traceID);
      const d = h("div", { class: "wf-detail" },
        h("div", { class: "kv-summary" },
          h("div", null, h("span", null, "Service"), h("b", null, n.svc)),
          h("div", null, h("span", null, "Operation"), h("b", null, sp.operationName)),
          h("div", null, h("span", null, "Kind"), h("span", null, tagOf(sp, "span.kind") || "–")),
          h("div", null, h("span", null, "Duration"), h("b", null, SL.fmtUs(sp.duration))),
          h("div", null, h("span", null, "Self time"), h("span", null, SL.fmtUs(n.self))),
          h("div", null, h("span", null, "Start"), h("span", null, "+" + SL.fmtUs(n.start - t0))),
          h("div", null, h("span", null, "Span ID"), h("span", { class: "mono" }, sp.spanID)),
          parent ? h("div", null, h("span", null, "Parent"), h("span", { class: "mono" }, parent)) : null,
          n.error ? h("span", { class: "badge error" }, "error" + (tagOf(sp, "otel.status_description") ? ": " + tagOf(sp, "otel.status_description") : "")) : null),
        h("div", { class: "cols" },
          h("div", null, h("h3", null, "Span attributes"), kvTable(tags)),
          h("div", null, h("h3", null, "Resource"), kvTable(res))),
        logs.length ? h("div", null, h("h3", null, "Events (" + logs.length + ")"), logs) : null,
        links.length ? h("div", null, h("h3", null, "Links"), links.map((l) =>
          h("div", null, h("span", { class: "chip" }, l.refType), " ", h("a", { href: SL.href(["trace", l.traceID]), class: "mono" }, l.traceID), " span ", h("span", { class: "mono" }, l.spanID)))) : null,
        (sp.warnings || []).length ? h("div", { class: "warning" }, sp.warnings.join("; ")) : null);
      d.addEventListener("click", (ev) => ev.stopPropagation());
      return d;
    }

    draw();
    return h("div", null, controls, wrap);
  };
})();
