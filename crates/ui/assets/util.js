"use strict";
// Shared helpers: DOM building (text only, never HTML strings), the API table
// and fetch wrapper, formatting, hash routes. Everything hangs off `SL`.

const SL = {};

// ---------------------------------------------------------------- DOM
// h("div", {class: "x", onclick: f}, "text", child, [more, children])
// Strings become text nodes, so data is never parsed as HTML.
SL.h = function (tag, attrs, ...children) {
  const el = document.createElement(tag);
  SL.applyAttrs(el, attrs);
  SL.append(el, children);
  return el;
};

SL.SVGNS = "http://www.w3.org/2000/svg";
SL.s = function (tag, attrs, ...children) {
  const el = document.createElementNS(SL.SVGNS, tag);
  SL.applyAttrs(el, attrs);
  SL.append(el, children);
  return el;
};

SL.applyAttrs = function (el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "style" && typeof v === "object") {
      for (const [p, pv] of Object.entries(v)) el.style.setProperty(p, pv);
    } else if (k === "value" && "value" in el) {
      el.value = v;
    } else if (k === "checked" || k === "selected" || k === "disabled") {
      el[k] = !!v;
    } else {
      el.setAttribute(k, v === true ? "" : String(v));
    }
  }
};

SL.append = function (el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) SL.append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
};

SL.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

SL.errorBox = function (e) {
  return SL.h("div", { class: "error" }, e && e.message ? e.message : String(e));
};

// ---------------------------------------------------------------- API
// Every server path the UI calls, relative to the page (so a path prefix in
// front of Sightline works). `{x}` parts are filled from `vars`.
// crates/sightline/tests/ui.rs requests each of these against the real server.
SL.API = {
  query: "api/v1/query",
  queryRange: "api/v1/query_range",
  labelValues: "api/v1/label/{name}/values",
  exemplars: "api/v1/query_exemplars",
  rules: "api/v1/rules",
  alerts: "api/v1/alerts",
  buildinfo: "api/v1/status/buildinfo",
  amAlerts: "api/v2/alerts",
  silences: "api/v2/silences",
  silence: "api/v2/silence/{id}",
  services: "jaeger/api/services",
  operations: "jaeger/api/services/{service}/operations",
  traces: "jaeger/api/traces",
  trace: "jaeger/api/traces/{id}",
};

SL.apiUrl = function (key, vars, params) {
  let path = SL.API[key];
  if (path === undefined) throw new Error("unknown API " + key);
  path = path.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(vars && vars[k] !== undefined ? vars[k] : ""));
  const q = new URLSearchParams();
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
      else q.append(k, v);
    }
  }
  const qs = q.toString();
  return qs ? path + "?" + qs : path;
};

// The message in an error body: Prometheus {error}, Jaeger {errors:[{msg}]},
// Alertmanager a JSON string or {message}.
SL.errorText = function (status, body, text) {
  if (body && typeof body === "object") {
    if (body.error) return (body.errorType ? body.errorType + ": " : "") + body.error;
    if (Array.isArray(body.errors) && body.errors.length) return body.errors.map((e) => e.msg || JSON.stringify(e)).join("; ");
    if (body.message) return body.message;
  }
  if (typeof body === "string" && body) return body;
  if (status === 401) return "401 Unauthorized: reload the page to log in";
  return "HTTP " + status + (text ? ": " + text.slice(0, 300) : "");
};

// fetch + JSON; rejects with the server's error message.
SL.call = async function (method, key, vars, params, body) {
  const url = SL.apiUrl(key, vars, method === "GET" || method === "DELETE" ? params : null);
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  } else if (method === "POST" && params) {
    init.body = new URLSearchParams(params).toString();
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    throw new Error("cannot reach Sightline (" + url + "): " + e.message);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = null;
  }
  if (!res.ok || (json && json.status === "error")) {
    const err = new Error(SL.errorText(res.status, json, text));
    err.status = res.status;
    throw err;
  }
  return json;
};
SL.get = (key, vars, params) => SL.call("GET", key, vars, params);

// Prometheus queries (POST form, so long expressions fit).
SL.instant = async function (query, time) {
  const r = await SL.call("POST", "query", null, time ? { query, time } : { query });
  return r.data;
};
SL.range = async function (query, start, end, step) {
  const r = await SL.call("POST", "queryRange", null, { query, start, end, step });
  return r.data;
};

// PromQL string literal.
SL.pq = (s) => JSON.stringify(String(s));

// ---------------------------------------------------------------- formatting
SL.nowSec = () => Date.now() / 1000;

SL.fmtNum = function (v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  const a = Math.abs(v);
  if (a === 0) return "0";
  const d = digits === undefined ? 3 : digits;
  if (a >= 1e9) return (v / 1e9).toPrecision(d) + "G";
  if (a >= 1e6) return (v / 1e6).toPrecision(d) + "M";
  if (a >= 1e4) return (v / 1e3).toPrecision(d) + "k";
  if (a >= 100) return v.toFixed(0);
  if (a >= 0.001) return String(Number(v.toPrecision(d)));
  return v.toExponential(2);
};

// Milliseconds → "850 µs", "120 ms", "4.2 s", "3m 5s".
SL.fmtMs = function (ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (!Number.isFinite(ms)) return ms > 0 ? "+Inf" : "-Inf";
  const a = Math.abs(ms);
  if (a === 0) return "0";
  if (a < 1) return Number((ms * 1000).toPrecision(3)) + " µs";
  if (a < 1000) return Number(ms.toPrecision(3)) + " ms";
  if (a < 60000) return Number((ms / 1000).toPrecision(3)) + " s";
  const m = Math.floor(a / 60000);
  const s = Math.round((a % 60000) / 1000);
  if (m < 60) return (ms < 0 ? "-" : "") + m + "m " + s + "s";
  return (ms < 0 ? "-" : "") + Math.floor(m / 60) + "h " + (m % 60) + "m";
};
SL.fmtUs = (us) => SL.fmtMs(us / 1000);

SL.fmtRate = (v) => (v === null || v === undefined || Number.isNaN(v) ? "–" : SL.fmtNum(v) + "/s");
SL.fmtPct = function (r) {
  if (r === null || r === undefined || Number.isNaN(r)) return "–";
  const p = r * 100;
  if (p === 0) return "0%";
  if (p < 0.01) return "<0.01%";
  return Number(p.toPrecision(p < 10 ? 2 : 3)) + "%";
};

SL.pad2 = (n) => String(n).padStart(2, "0");
SL.fmtClock = function (sec, withSeconds) {
  const d = new Date(sec * 1000);
  return SL.pad2(d.getHours()) + ":" + SL.pad2(d.getMinutes()) + (withSeconds ? ":" + SL.pad2(d.getSeconds()) : "");
};
SL.fmtDate = function (sec) {
  const d = new Date(sec * 1000);
  return d.getFullYear() + "-" + SL.pad2(d.getMonth() + 1) + "-" + SL.pad2(d.getDate()) + " " + SL.fmtClock(sec, true);
};
SL.fmtAgo = function (sec) {
  const d = SL.nowSec() - sec;
  if (d < 0) return "in " + SL.fmtMs(-d * 1000).replace(/\.\d+/, "");
  if (d < 60) return Math.round(d) + "s ago";
  if (d < 3600) return Math.round(d / 60) + "m ago";
  if (d < 86400) return Math.round(d / 3600) + "h ago";
  return Math.round(d / 86400) + "d ago";
};
SL.parseTime = (s) => (s ? Date.parse(s) / 1000 : NaN);

// "15m", "1h", "2d" → seconds.
SL.parseSpan = function (s) {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(String(s || "").trim());
  if (!m) return NaN;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
};
// seconds → "5m", "90s": a PromQL range duration.
SL.promDur = function (sec) {
  sec = Math.max(1, Math.round(sec));
  if (sec % 3600 === 0) return sec / 3600 + "h";
  if (sec % 60 === 0) return sec / 60 + "m";
  return sec + "s";
};

// A Prometheus step (seconds) giving about `points` points over `range`.
SL.stepFor = function (range, points) {
  const raw = range / (points || 240);
  const nice = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const n of nice) if (n >= raw) return n;
  return Math.ceil(raw / 86400) * 86400;
};

SL.labelsText = function (metric, skipName) {
  const m = metric || {};
  const name = skipName ? "" : m.__name__ || "";
  const parts = Object.keys(m)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => k + "=" + JSON.stringify(m[k]));
  if (!parts.length) return name || "{}";
  return name + "{" + parts.join(", ") + "}";
};

// ---------------------------------------------------------------- colours
SL.PALETTE = ["#3b82f6", "#f59e0b", "#10b981", "#8b5cf6", "#ec4899", "#14b8a6", "#f97316",
  "#6366f1", "#84cc16", "#06b6d4", "#a855f7", "#eab308", "#0ea5e9", "#d946ef", "#22c55e", "#64748b"];
SL.hashStr = function (s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
};
SL.serviceColor = (svc) => SL.PALETTE[SL.hashStr(String(svc)) % SL.PALETTE.length];
SL.seriesColor = (i) => SL.PALETTE[i % SL.PALETTE.length];

// ---------------------------------------------------------------- routes
// Hash routes: "#/path/parts?k=v". The query is a URLSearchParams.
SL.parseHash = function () {
  const raw = location.hash.replace(/^#\/?/, "");
  const qi = raw.indexOf("?");
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : "");
  const parts = path.split("/").filter((p) => p !== "").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (_) {
      return p;
    }
  });
  return { parts, params };
};
SL.href = function (parts, params) {
  const p = (Array.isArray(parts) ? parts : [parts]).map((x) => encodeURIComponent(x)).join("/");
  let qs = "";
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === "") continue;
      q.set(k, v);
    }
    qs = q.toString();
  }
  return "#/" + p + (qs ? "?" + qs : "");
};
SL.go = (parts, params) => {
  location.hash = SL.href(parts, params);
};

SL.store = {
  get(k, d) {
    try {
      const v = localStorage.getItem("sightline." + k);
      return v === null ? d : v;
    } catch (_) {
      return d;
    }
  },
  set(k, v) {
    try {
      localStorage.setItem("sightline." + k, v);
    } catch (_) {
      /* private mode */
    }
  },
};

// A segmented control: opts [[value, label]], calls onPick(value).
SL.seg = function (opts, current, onPick) {
  return SL.h("div", { class: "seg" }, opts.map(([v, label]) =>
    SL.h("button", { type: "button", class: v === current ? "on" : "", onclick: () => onPick(v) }, label)));
};

// A sortable table: cols [{key, label, num, get(row) for sorting, cell(row) → node/text}].
SL.table = function (cols, rows, opts) {
  opts = opts || {};
  let sortKey = opts.sort || null;
  let desc = !!opts.desc;
  const table = SL.h("table", { class: opts.class || "" });
  const draw = () => {
    SL.clear(table);
    const sorted = rows.slice();
    const col = cols.find((c) => c.key === sortKey);
    if (col) {
      const get = col.get || ((r) => r[col.key]);
      sorted.sort((a, b) => {
        let x = get(a), y = get(b);
        const xn = x === null || x === undefined || Number.isNaN(x);
        const yn = y === null || y === undefined || Number.isNaN(y);
        if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
        const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return desc ? -c : c;
      });
    }
    table.appendChild(SL.h("thead", null, SL.h("tr", null, cols.map((c) =>
      SL.h("th", {
        class: (c.num ? "num " : "") + (c.nosort ? "" : "sortable"),
        title: c.title,
        onclick: c.nosort ? null : () => {
          if (sortKey === c.key) desc = !desc;
          else {
            sortKey = c.key;
            desc = !!c.num;
          }
          draw();
        },
      }, c.label, sortKey === c.key ? (desc ? " ▾" : " ▴") : "")))));
    const tb = SL.h("tbody");
    for (const r of sorted) {
      const tr = SL.h("tr", { class: opts.onRow ? "clickable" : "" },
        cols.map((c) => SL.h("td", { class: c.num ? "num" : c.tdClass || "" }, c.cell ? c.cell(r) : r[c.key])));
      if (opts.onRow) tr.addEventListener("click", (ev) => {
        if (ev.target.closest("a,button")) return;
        opts.onRow(r);
      });
      tb.appendChild(tr);
    }
    table.appendChild(tb);
  };
  draw();
  return table;
};
