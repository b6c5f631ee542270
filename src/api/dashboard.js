/* The dashboard (docs/dashboard.md): every group of this daemon, polled from its own /api/v1.
 * Plain JavaScript, no library, nothing loaded from elsewhere (the page's Content-Security-
 * Policy forbids it). Elements are built with the DOM API only, never from HTML strings, so no
 * value from the API (a reason, a task name) is ever read as markup. */
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "autoscaler-token";
const SVG = "http://www.w3.org/2000/svg";
const panels = new Map(); /* group name -> {el, parts} */

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path, options) {
  const opts = Object.assign({headers: {}}, options || {});
  if (token()) opts.headers.Authorization = "Bearer " + token();
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    const msg = body && body.error ? body.error : r.status + " " + r.statusText;
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return body;
}

/* ---- small DOM helpers ---- */

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return "-";
  if (typeof v !== "number") return String(v);
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s ago";
  return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m ago";
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], {hour12: false});
}

/* ---- charts ---- */

/* The smallest of 1, 2, 2.5, 5 times a power of ten at or above v (v > 0). */
function nice(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/* series: [{cls, label, points: [[t, y|null], ...], step}] into an SVG of 100 x 40 units, scaled
 * by the viewBox. */
function chart(svg, title, series) {
  const W = 320, H = 150, L = 34, R = 6, T = 18, B = 18;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = series.flatMap(s => s.points.filter(p => p[1] !== null && isFinite(p[1])));
  svg.append(svgEl("text", {x: L, y: 11, class: "title"}, title));
  if (all.length === 0) {
    svg.append(svgEl("text", {x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle"},
                     "no data yet"));
    return;
  }
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0]), t0 + 1000);
  let lo = Math.min(0, ...all.map(p => p[1])), hi = Math.max(...all.map(p => p[1]));
  if (hi <= lo) hi = lo + 1;
  hi = nice(lo + (hi - lo) * 1.05);
  const x = t => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = v => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  svg.append(svgEl("line", {x1: L, y1: T, x2: L, y2: H - B, class: "axis"}));
  svg.append(svgEl("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis"}));
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(svgEl("text", {x: L - 4, y: y(v) + 3, class: "tick", "text-anchor": "end"}, fmt(v)));
  }
  svg.append(svgEl("text", {x: L, y: H - 4, class: "tick"}, clock(t0)));
  svg.append(svgEl("text", {x: W - R, y: H - 4, class: "tick", "text-anchor": "end"}, clock(t1)));
  let lx = W - R;
  for (const s of series.slice().reverse()) {
    const pts = [];
    let prev = null;
    for (const [t, v] of s.points) {
      if (v === null || !isFinite(v)) { prev = null; continue; }
      if (s.step && prev !== null) pts.push(`${x(t).toFixed(1)},${y(prev).toFixed(1)}`);
      pts.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      prev = v;
    }
    if (pts.length === 1) pts.push(pts[0]);
    svg.append(svgEl("polyline", {points: pts.join(" "), class: "s-" + s.cls,
                                  "data-series": s.label}));
    const w = s.label.length * 5.8 + 16;
    lx -= w;
    svg.append(svgEl("rect", {x: lx, y: 4, width: 8, height: 8, class: "k-" + s.cls}));
    svg.append(svgEl("text", {x: lx + 11, y: 11, class: "tick"}, s.label));
  }
}

/* ---- a group's panel ---- */

function makePanel(name) {
  const p = {};
  p.title = el("h2", {}, name);
  p.badges = el("span");
  p.title.append(p.badges);
  p.replicas = el("b", {class: "replicas", "data-group": name}, "-");
  p.desired = el("b", {class: "desired"}, "-");
  p.bounds = el("b", {class: "bounds"}, "-");
  p.about = el("span", {class: "about"});
  const facts = el("div", {class: "facts"}, el("span", {}, "replicas ", p.replicas),
                   el("span", {}, "desired ", p.desired), el("span", {}, "min/max ", p.bounds),
                   p.about);
  p.replicaChart = svgEl("svg", {class: "chart replicas-chart"});
  p.metricCharts = el("div", {class: "metric-charts"});
  p.charts = el("div", {class: "charts"}, p.replicaChart, p.metricCharts);
  p.metrics = el("tbody");
  const metrics = el("table", {class: "metrics"},
                     el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", {}, "value"),
                                        el("th", {}, "target"), el("th", {}, "measured"))),
                     p.metrics);
  p.controls = controls(name, p);
  p.decisions = el("ol", {class: "decisions"});
  p.workersHead = el("h3", {hidden: true}, "Workers");
  p.workers = el("table", {class: "workers", hidden: true});
  const section = el("section", {class: "panel", id: "group-" + name, "data-group": name},
                     p.title, facts, p.charts, metrics, p.controls,
                     el("h3", {}, "Latest decisions"), p.decisions, p.workersHead, p.workers);
  return {el: section, p: p, lastDecision: 0};
}

function controls(name, p) {
  p.pause = el("button", {type: "button", class: "pause"}, "Pause");
  p.count = el("input", {type: "number", min: 0, max: 1000000, class: "count",
                         placeholder: "count"});
  p.override = el("button", {type: "button", class: "override"}, "Override");
  p.clear = el("button", {type: "button", class: "clear"}, "Clear override");
  p.msg = el("span", {class: "msg"});
  const base = "/api/v1/groups/" + encodeURIComponent(name);
  const act = async (what, path, options) => {
    p.msg.className = "msg";
    p.msg.textContent = what + "...";
    try {
      await api(base + path, options);
      p.msg.textContent = what + ": done (from the group's next round)";
      refresh();
    } catch (e) {
      p.msg.className = "msg bad";
      p.msg.textContent = what + ": " + e.message;
    }
  };
  p.pause.addEventListener("click", () => {
    const resume = p.pause.dataset.paused === "api";
    act(resume ? "resume" : "pause", resume ? "/resume" : "/pause", {method: "POST"});
  });
  p.override.addEventListener("click", () => {
    const n = Number(p.count.value);
    if (p.count.value === "" || !Number.isInteger(n) || n < 0) {
      p.msg.className = "msg bad";
      p.msg.textContent = "override: a whole number of replicas";
      return;
    }
    act("override " + n, "/override", {method: "POST", headers: {"Content-Type": "application/json"},
                                       body: JSON.stringify({replicas: n})});
  });
  p.clear.addEventListener("click", () => act("clear override", "/override", {method: "DELETE"}));
  return el("div", {class: "controls"}, p.pause, p.count, p.override, p.clear, p.msg);
}

function badge(text, cls) {
  return el("span", {class: "badge " + cls}, text);
}

function updateSummary(panel, g) {
  const p = panel.p;
  p.replicas.textContent = fmt(g.replicas);
  p.desired.textContent = fmt(g.desired);
  p.bounds.textContent = g.min + "/" + g.max;
  p.about.textContent = `policy ${g.policy} · scaler ${g.scaler} · every ${g.interval}`;
  const b = [badge(g.phase, "phase")];
  if (g.paused) b.push(badge("PAUSED (" + g.paused_by + ")", "paused"));
  if (g.override !== null) b.push(badge("OVERRIDE " + g.override + " (" + g.override_by + ")",
                                        "override"));
  if (g.scaling) b.push(badge(`SCALING ${g.scaling.from}→${g.scaling.to}`, "scaling"));
  p.badges.replaceChildren(...b);
  p.pause.textContent = g.paused_by === "api" ? "Resume" : "Pause";
  p.pause.dataset.paused = g.paused_by || "";
  p.clear.disabled = g.override_by !== "api";
  p.metrics.replaceChildren(...g.metrics.map(m => el("tr", {"data-metric": m.name},
    el("td", {}, m.name),
    el("td", {class: "num value" + (m.ok ? "" : " failed")}, m.ok ? fmt(m.value) : "failed"),
    el("td", {class: "num target"}, m.target === null ? "-" :
       fmt(m.target) + (m.target_kind === "average_value" ? " per replica" : "")),
    el("td", {}, m.last_ok ? ago(m.last_ok) : "never"))));
}

function updateCharts(panel, g, doc) {
  const rounds = doc.rounds;
  const pts = key => rounds.map(r => [r.time, r[key]]);
  chart(panel.p.replicaChart, "replicas", [
    {cls: "current", label: "replicas", points: pts("current"), step: true},
    {cls: "desired", label: "desired", points: pts("desired"), step: true},
    {cls: "bound", label: "min/max", points: rounds.map(r => [r.time, r.max]), step: true},
  ]);
  const charts = doc.metrics.map((name, i) => {
    const m = g.metrics.find(x => x.name === name) || {};
    const values = rounds.map(r => [r.time, r.values[i]]);
    const series = [{cls: "value", label: name, points: values}];
    if (m.target !== null && m.target !== undefined) {
      /* a total against what the replicas can take, or a per-replica value against its target */
      const avg = m.target_kind === "average_value";
      series.push({cls: "target", label: avg ? "target × replicas" : "target", step: avg,
                   points: rounds.map(r => [r.time, avg ? (r.current === null ? null :
                                                           m.target * r.current) : m.target])});
    }
    const svg = svgEl("svg", {class: "chart metric-chart", "data-metric": name});
    chart(svg, name, series);
    return svg;
  });
  panel.p.metricCharts.replaceChildren(...charts);
}

function updateDecisions(panel, doc) {
  panel.p.decisions.replaceChildren(...doc.decisions.slice().reverse().map(d =>
    el("li", {class: "decision"}, el("time", {}, clock(d.time)),
       el("b", {class: "outcome-" + d.outcome}, d.outcome), ` ${d.current}→${d.desired} `,
       el("span", {class: "reason"}, d.reason),
       d.rounds > 1 ? el("span", {class: "repeat"}, ` (${d.rounds} rounds since ${clock(d.first)})`) : "")));
}

function updateWorkers(panel, doc) {
  const p = panel.p;
  const rows = doc.workers.map(w => {
    const status = w.pid === 0 ? "RESTARTING" : w.stopping ? "STOPPING" : w.status;
    return el("tr", {"data-worker": w.id}, el("td", {class: "num"}, w.id),
              el("td", {class: "num"}, w.pid || "-"),
              el("td", {class: "status status-" + status}, status),
              el("td", {}, w.task || "-"), el("td", {}, w.since ? ago(w.since) : "-"));
  });
  p.workers.replaceChildren(el("thead", {}, el("tr", {}, el("th", {}, "id"), el("th", {}, "pid"),
                                               el("th", {}, "status"), el("th", {}, "task"),
                                               el("th", {}, "since"))),
                            el("tbody", {}, ...rows));
  p.workers.hidden = p.workersHead.hidden = false;
}

async function refreshGroup(panel, g) {
  const base = "/api/v1/groups/" + encodeURIComponent(g.name);
  updateSummary(panel, g);
  const [rounds, decisions, workers] = await Promise.all([
    api(base + "/rounds"),
    g.last_decision && g.last_decision.time !== panel.lastDecision ?
      api(base + "/decisions?limit=8") : null,
    g.workers ? api(base + "/workers") : null]);
  updateCharts(panel, g, rounds);
  if (decisions) {
    updateDecisions(panel, decisions);
    panel.lastDecision = g.last_decision.time;
  }
  if (workers) updateWorkers(panel, workers);
}

/* ---- the page ---- */

function showError(msg) {
  const e = document.getElementById("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

let refreshing = false;

async function refresh() {
  if (refreshing) return; /* a slow answer: the next tick comes after it */
  refreshing = true;
  try {
    const [status, doc] = await Promise.all([api("/api/v1/status"), api("/api/v1/groups")]);
    document.getElementById("daemon").textContent =
      `v${status.version} · pid ${status.pid} · up ${ago(status.started).replace(" ago", "")} · ` +
      `${status.groups} group(s) · ${status.ready ? "ready" : "not ready"}` +
      (status.dry_run ? " · dry run" : "");
    const main = document.getElementById("groups");
    const names = new Set(doc.groups.map(g => g.name));
    for (const [name, panel] of panels) {
      if (!names.has(name)) { panel.el.remove(); panels.delete(name); }
    }
    for (const g of doc.groups) {
      if (!panels.has(g.name)) {
        const panel = makePanel(g.name);
        panels.set(g.name, panel);
        main.append(panel.el);
      }
    }
    await Promise.all(doc.groups.map(g => refreshGroup(panels.get(g.name), g)));
    document.body.dataset.updated = String(Date.now());
    showError("");
  } catch (e) {
    showError(e.status === 401 ? "This daemon needs its token for every request: enter it above."
                               : "Cannot read the daemon's API: " + e.message);
  } finally {
    refreshing = false;
  }
}

function tokenForm() {
  const input = document.getElementById("token"), state = document.getElementById("token-state");
  const show = () => { state.textContent = token() ? "set for this tab" : "not set: read-only"; };
  document.getElementById("token-form").addEventListener("submit", ev => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    input.value = "";
    show();
    refresh();
  });
  document.getElementById("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    show();
  });
  show();
}

tokenForm();
refresh();
setInterval(refresh, POLL_MS);
