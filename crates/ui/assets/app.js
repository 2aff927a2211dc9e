"use strict";
// The router: "#/<page>/<args>?<params>" → SL.pages[page](root, args, params, ctx).
// Each navigation renders into a fresh element, so late answers from a page
// the user already left land in a detached node and change nothing.

(function () {
  const main = document.getElementById("main");
  const ALIASES = { "": "services", graph: "query" };
  let gen = 0;
  let timers = [];

  // `quiet` (a refresh of the same page) keeps the old content until the new is ready.
  async function render(quiet) {
    const { parts, params } = SL.parseHash();
    const name = ALIASES[parts[0] || ""] || parts[0];
    const my = ++gen;
    timers.forEach(clearInterval);
    timers = [];
    for (const a of document.querySelectorAll("#nav a")) {
      const page = a.getAttribute("data-page");
      a.classList.toggle("active", page === name || (page === "services" && name === "service") || (page === "traces" && name === "trace"));
    }
    const root = SL.h("div");
    if (quiet !== true) main.replaceChildren(root);
    const page = SL.pages[name];
    if (!page) {
      root.appendChild(SL.h("div", { class: "panel empty" }, "No page " + JSON.stringify(parts[0]) + ". ", SL.h("a", { href: "#/services" }, "Go to services")));
      return;
    }
    const ctx = {
      alive: () => my === gen,
      rerender: () => {
        if (my === gen) render(true);
      },
      // Re-render every `sec` seconds while this page is shown (and the tab visible).
      every: (sec, fn) => {
        if (my !== gen) return;
        timers.push(setInterval(() => {
          if (my === gen && document.visibilityState === "visible") fn();
        }, sec * 1000));
      },
    };
    try {
      await page(root, parts.slice(1), params, ctx);
    } catch (e) {
      if (my === gen) root.appendChild(SL.errorBox(e));
    }
    if (my === gen && root.parentNode !== main) main.replaceChildren(root);
  }

  document.getElementById("trace-lookup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("trace-lookup-id");
    const id = input.value.trim();
    if (!id) return;
    input.value = "";
    SL.go(["trace", id]);
  });
  window.addEventListener("hashchange", () => render());
  render();
})();
