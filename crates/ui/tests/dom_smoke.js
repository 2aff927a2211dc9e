// Runs the UI's scripts in node against a live Sightline with a tiny DOM
// stand-in (no browser on CI machines): every page renders without a script
// error or an error box, and clicking the latency chart leads to a trace
// search that finds traces, whose first result opens as a waterfall.
//
// usage: node dom_smoke.js http://127.0.0.1:PORT/ <service-with-traffic> [<its caller>]
//        node dom_smoke.js http://127.0.0.1:PORT/ -     (a server without data)
"use strict";
const vm = require("vm");

const base = process.argv[2];
const service = process.argv[3];
const problems = [];

class Node {
  constructor() {
    this.childNodes = [];
    this.parentNode = null;
    this.listeners = {};
  }
  appendChild(c) {
    if (c.parentNode) c.parentNode.removeChild(c);
    c.parentNode = this;
    this.childNodes.push(c);
    return c;
  }
  removeChild(c) {
    const i = this.childNodes.indexOf(c);
    if (i >= 0) this.childNodes.splice(i, 1);
    c.parentNode = null;
    return c;
  }
  get firstChild() {
    return this.childNodes[0] || null;
  }
  addEventListener(t, f) {
    (this.listeners[t] = this.listeners[t] || []).push(f);
  }
  fire(t, ev) {
    ev = Object.assign({ type: t, target: this, preventDefault() {}, stopPropagation() {} }, ev || {});
    for (const f of this.listeners[t] || []) f(ev);
  }
  get textContent() {
    return this.childNodes.map((c) => c.textContent).join("");
  }
}
class Text extends Node {
  constructor(t) {
    super();
    this.data = t;
  }
  get textContent() {
    return this.data;
  }
}
class Element extends Node {
  constructor(tag, ns) {
    super();
    this.tagName = tag.toUpperCase();
    this.ns = ns;
    this.attributes = {};
    this.style = { setProperty(k, v) { this[k] = v; } };
    if (["INPUT", "TEXTAREA"].includes(this.tagName)) this.value = "";
    if (this.tagName === "SELECT") {
      // value follows the selected option, as in a browser
      Object.defineProperty(this, "value", {
        get: () => {
          const opts = this.all((e) => e.tagName === "OPTION");
          const sel = opts.filter((o) => o.selected);
          const o = sel.length ? sel[sel.length - 1] : opts[0];
          return o ? o.getAttribute("value") || "" : "";
        },
        set: (v) => this.all((e) => e.tagName === "OPTION").forEach((o) => (o.selected = o.getAttribute("value") === v)),
      });
    }
    const el = this;
    this.classList = {
      toggle(c, on) {
        const s = new Set((el.attributes.class || "").split(/\s+/).filter(Boolean));
        if (on) s.add(c);
        else s.delete(c);
        el.attributes.class = [...s].join(" ");
      },
      contains: (c) => (el.attributes.class || "").split(/\s+/).includes(c),
    };
  }
  setAttribute(k, v) {
    if (/^on/i.test(k)) problems.push("inline handler attribute " + k);
    this.attributes[k] = String(v);
  }
  getAttribute(k) {
    return k in this.attributes ? this.attributes[k] : null;
  }
  set innerHTML(_) {
    problems.push("innerHTML used");
  }
  replaceChildren(...c) {
    while (this.childNodes.length) this.removeChild(this.childNodes[0]);
    c.forEach((x) => this.appendChild(x));
  }
  append(...c) {
    c.forEach((x) => this.appendChild(typeof x === "string" ? new Text(x) : x));
  }
  closest(sel) {
    const tags = sel.split(",").map((s) => s.trim().toUpperCase());
    for (let e = this; e instanceof Element; e = e.parentNode) if (tags.includes(e.tagName)) return e;
    return null;
  }
  focus() {}
  scrollIntoView() {}
  setPointerCapture() {}
  getBoundingClientRect() {
    return { left: 0, top: 0, width: 900, height: 240 };
  }
  get clientWidth() {
    return 900;
  }
  get offsetWidth() {
    return 120;
  }
  all(pred, out) {
    out = out || [];
    for (const c of this.childNodes) {
      if (c instanceof Element) {
        if (pred(c)) out.push(c);
        c.all(pred, out);
      }
    }
    return out;
  }
}

const byId = {};
for (const id of ["main", "trace-lookup", "trace-lookup-id"]) {
  byId[id] = new Element(id === "trace-lookup-id" ? "input" : id === "main" ? "main" : "form");
}
let hash = "";
const winListeners = {};
const g = globalThis;
g.document = {
  createElement: (t) => new Element(t),
  createElementNS: (ns, t) => new Element(t, ns),
  createTextNode: (t) => new Text(t),
  getElementById: (id) => byId[id],
  querySelectorAll: () => [],
  visibilityState: "visible",
  title: "",
};
g.Node = Node;
g.location = {
  get hash() {
    return hash;
  },
  set hash(v) {
    hash = v.startsWith("#") ? v : "#" + v;
    setTimeout(() => (winListeners.hashchange || []).forEach((f) => f()), 0);
  },
};
g.window = { addEventListener: (t, f) => (winListeners[t] = winListeners[t] || []).push(f) };
g.localStorage = { getItem: () => null, setItem() {} };
g.ResizeObserver = class {
  constructor(cb) {
    this.cb = cb;
  }
  observe() {
    setTimeout(() => this.cb([]), 0);
  }
};
g.performance = g.performance || { now: () => Date.now() };
g.confirm = () => true;
const realFetch = g.fetch;
let inflight = 0;
// Counts a request as in flight until its body has been read (SL.call always reads it).
g.fetch = async (url, init) => {
  if (/^[a-z]+:|^\//i.test(url)) problems.push("non-relative URL fetched: " + url);
  inflight++;
  let res;
  try {
    res = await realFetch(new URL(url, base), init);
  } catch (e) {
    inflight--;
    throw e;
  }
  const text = res.text.bind(res);
  res.text = async () => {
    try {
      return await text();
    } finally {
      inflight--;
    }
  };
  return res;
};
process.on("unhandledRejection", (e) => problems.push("unhandled rejection: " + (e && e.stack || e)));
process.on("uncaughtException", (e) => problems.push("uncaught: " + (e && e.stack || e)));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Waits until no request has been in flight for 150ms (chained requests start
// within that), at most a minute on a busy machine.
async function settle() {
  await sleep(30);
  let idle = 0;
  for (let i = 0; i < 2000 && idle < 5; i++) {
    await sleep(30);
    idle = inflight > 0 ? 0 : idle + 1;
  }
}
const main = byId.main;
const errorsShown = () => main.all((e) => e.tagName === "DIV" && e.classList.contains("error")).map((e) => e.textContent);

// Readable text of a subtree (SMOKE_TEXT=1 prints each page while developing).
function pretty(n) {
  if (n instanceof Text) return n.data;
  if (n.tagName === "SVG") return "[chart]";
  const inner = n.childNodes.map(pretty).join("");
  if (["DIV", "P", "H1", "H2", "H3", "TR", "DETAILS", "SUMMARY", "FORM", "PRE"].includes(n.tagName)) return "\n" + inner;
  if (n.tagName === "TD" || n.tagName === "TH") return " | " + inner;
  return inner;
}

async function visit(h, expect) {
  location.hash = h;
  await settle();
  const text = main.textContent;
  if (process.env.SMOKE_TEXT) console.log("===== " + h + pretty(main).replace(/\n\s*\n+/g, "\n"));
  for (const e of errorsShown()) problems.push(h + ": error shown: " + e);
  for (const want of expect || []) if (!text.includes(want)) problems.push(h + ": missing text " + JSON.stringify(want) + " in " + JSON.stringify(text.slice(0, 400)));
  return text;
}

// Writes each chart as an .svg file (to look at while developing).
function dump(svgs, dir) {
  const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
  const ser = (n) => n instanceof Text ? esc(n.data)
    : "<" + n.tagName.toLowerCase() + Object.entries(n.attributes).map(([k, v]) => " " + k + '="' + esc(v) + '"').join("") +
      (n.tagName === "SVG" ? ' xmlns="http://www.w3.org/2000/svg" font-family="sans-serif"' : "") + ">" +
      n.childNodes.map(ser).join("") + "</" + n.tagName.toLowerCase() + ">";
  svgs.forEach((s, i) => require("fs").writeFileSync(dir + "/chart" + i + ".svg", ser(s)));
}

(async () => {
  const res = await realFetch(base);
  const html = await res.text();
  const scripts = [...html.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]);
  for (const src of scripts) {
    const r = await realFetch(new URL(src, base));
    vm.runInThisContext(await r.text(), { filename: src.split("?")[0] });
  }
  await settle();
  if (service === "-") {
    // A fresh server: every page renders its empty state without errors.
    await visit("#/services", ["No services yet"]);
    await visit("#/service/checkout", ["Latency", "No spans of checkout"]);
    await visit("#/traces", ["No traces found"]);
    await visit("#/alerts", ["Nothing firing or pending", "No active or pending silences"]);
    await visit("#/query", ["Enter an expression"]);
    await visit("#/nope", ["No page"]);
    finish();
    return;
  }
  await visit("#/services", ["Services", service]);
  // Sort by a column, switch span kinds.
  const th = main.all((e) => e.tagName === "TH" && e.textContent.startsWith("Requests"))[0];
  th.fire("click");
  if (!main.all((e) => e.tagName === "TH" && e.textContent.startsWith("Requests ▾")).length) problems.push("sorting by requests did nothing");
  main.all((e) => e.tagName === "BUTTON" && e.textContent === "All spans")[0].fire("click");
  await settle();
  if (!main.textContent.includes(service)) problems.push("all-spans view lost the service");
  const svcText = await visit("#/service/" + encodeURIComponent(service) + "?range=15m", ["Latency", "Operations", "p99", "Called by"]);
  // A row of the operations table narrows the charts to that operation.
  const opRow = main.all((e) => e.tagName === "TR" && e.classList.contains("clickable"))[0];
  if (!opRow) problems.push("no operation rows");
  else {
    opRow.fire("click", { target: opRow.childNodes[1] });
    await settle();
    if (!hash.includes("op=")) problems.push("operation row click did not filter: " + hash);
    location.hash = "#/service/" + encodeURIComponent(service) + "?range=15m";
    await settle();
  }
  // With a caller given, the service graph must show it under "Called by".
  const callers = (svcText.split("Called by")[1] || "").split("Calls")[0];
  if (process.argv[4] && !callers.includes(process.argv[4])) problems.push("caller " + process.argv[4] + " missing from the dependencies: " + callers);
  // Click the p99 line near the right edge of the latency chart.
  const svgs = main.all((e) => e.tagName === "SVG");
  if (process.env.SMOKE_DUMP) dump(svgs, process.env.SMOKE_DUMP);
  const overlay = svgs.length ? svgs[0].all((e) => e.tagName === "RECT" && e.getAttribute("fill") === "transparent")[0] : null;
  if (!overlay) problems.push("no latency chart overlay");
  else {
    const paths = svgs[0].all((e) => e.tagName === "PATH" && e.getAttribute("stroke") === "#c2410c");
    const d = paths.length ? paths[0].getAttribute("d") : "";
    const pts = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    if (!pts.length) problems.push("latency chart has no p99 line");
    else {
      const [x, y] = pts[pts.length - 1];
      overlay.fire("pointerdown", { clientX: x, clientY: y, pointerId: 1 });
      overlay.fire("pointerup", { clientX: x, clientY: y, pointerId: 1 });
      await settle();
      if (!hash.startsWith("#/traces?") || !hash.includes("from=latency")) problems.push("latency click did not open a trace search: " + hash);
      await settle();
      const items = main.all((e) => e.classList.contains("trace-item"));
      if (!items.length) problems.push("latency click found no traces: " + hash + " " + main.textContent.slice(0, 300));
      else {
        console.log("latency click → " + decodeURIComponent(hash) + " → " + items.length + " traces");
        items[0].fire("click");
        await settle();
        if (!hash.startsWith("#/trace/")) problems.push("clicking a trace did not open it: " + hash);
        if (process.env.SMOKE_TEXT) console.log("===== " + hash + pretty(main).replace(/\n\s*\n+/g, "\n"));
        const rows = main.all((e) => e.classList.contains("wf-row"));
        if (rows.length < 2) problems.push("waterfall has no span rows");
        else {
          rows[1].fire("click");
          await sleep(20);
          const det = main.all((e) => e.classList.contains("wf-detail"));
          if (!det.length) problems.push("clicking a span shows no details");
          else if (process.env.SMOKE_TEXT) console.log("===== span details" + pretty(det[0]).replace(/\n\s*\n+/g, "\n"));
        }
      }
    }
  }
  // Drag a box over the right half of the latency chart, full height.
  await visit("#/service/" + encodeURIComponent(service) + "?range=15m", ["Latency"]);
  const ov = main.all((e) => e.tagName === "RECT" && e.getAttribute("fill") === "transparent")[0];
  if (ov) {
    ov.fire("pointerdown", { clientX: 450, clientY: 10, pointerId: 1 });
    ov.fire("pointermove", { clientX: 890, clientY: 200, pointerId: 1 });
    ov.fire("pointerup", { clientX: 890, clientY: 200, pointerId: 1 });
    await settle();
    if (!hash.includes("from=box") || !hash.includes("minDuration=")) problems.push("a box on the latency chart did not open a bounded search: " + hash);
    await settle();
    if (!main.textContent.includes("From the latency chart")) problems.push("no hint after the box search");
    if (!main.all((e) => e.classList.contains("trace-item")).length) problems.push("the box search found no traces: " + decodeURIComponent(hash));
    else console.log("latency box → " + decodeURIComponent(hash));
  }
  await visit("#/traces", ["Find traces"]);
  // Submit the search form: the chosen values end up in the route and the search runs.
  await visit("#/traces?service=" + encodeURIComponent(service), ["Find traces"]);
  const form = main.all((e) => e.tagName === "FORM")[0];
  const field = (n) => form.all((e) => e.getAttribute("name") === n)[0];
  field("minDuration").value = "1s";
  field("tags").value = "span.kind=server";
  form.fire("submit");
  await settle();
  await settle();
  const hp = new URLSearchParams(hash.split("?")[1] || "");
  if (hp.get("service") !== service || hp.get("minDuration") !== "1s" || hp.get("tags") !== "span.kind=server") problems.push("search form lost a field: " + hash);
  if (!main.all((e) => e.classList.contains("trace-item")).length) problems.push("form search found no traces: " + decodeURIComponent(hash));
  await visit("#/traces?service=" + encodeURIComponent(service) + "&tags=" + encodeURIComponent("bad tags"), []);
  problems.splice(0, problems.length, ...problems.filter((p) => !p.includes("tags: expected key=value")));
  await visit("#/trace/00000000000000000000000000abcdef", ["No trace with this ID"]);
  await visit("#/alerts", ["Firing and pending", "Alertmanager alerts", "Silences", "Rule groups"]);
  // Create a silence through the form, then expire it with its button.
  const sform = main.all((e) => e.tagName === "FORM")[0];
  const inputs = sform.all((e) => e.tagName === "INPUT");
  inputs[0].value = 'service="smoke", alertname=~"Smoke.*"';
  inputs[1].value = "1h";
  inputs[2].value = "smoke test";
  inputs[3].value = "checking the form";
  sform.fire("submit");
  await settle();
  await sleep(900);
  await settle();
  let page = main.textContent;
  if (!page.includes('alertname=~"Smoke.*"') || !page.includes("checking the form")) problems.push("created silence not listed: " + page.slice(0, 600));
  const expire = main.all((e) => e.tagName === "BUTTON" && e.textContent === "Expire")[0];
  if (!expire) problems.push("no Expire button");
  else {
    expire.fire("click", { target: expire });
    await settle();
    await settle();
    page = main.textContent;
    if (!page.includes("No active or pending silences") || !/\d+ expired/.test(page)) problems.push("silence not expired: " + page.slice(0, 800));
  }
  await visit("#/query?expr=" + encodeURIComponent("sum by (service_name) (traces_span_metrics_calls_total)"), ["vector"]);
  await visit("#/query?tab=graph&range=15m&expr=" + encodeURIComponent("rate(traces_span_metrics_calls_total[1m])"), ["matrix"]);
  location.hash = "#/query?expr=" + encodeURIComponent("sum(");
  await settle();
  if (!errorsShown().some((e) => /parse error/.test(e))) problems.push("a PromQL syntax error is not shown: " + main.textContent.slice(0, 300));
  finish();
})();

function finish() {
  if (problems.length) {
    console.log("PROBLEMS\n" + problems.join("\n"));
    process.exit(1);
  }
  console.log("ok");
  process.exit(0);
}
