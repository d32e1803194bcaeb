// Central Hub dashboard: signs in with a bearer token kept in sessionStorage (this tab only),
// reads the dashboard API, and follows its Server-Sent Events through fetch, so the token
// travels in the Authorization header and never in a URL.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TOKEN_KEY = "centralhub.token";
const state = {
  token: null, claims: {}, view: "overview", page: 0, lastEventId: "", abort: null,
  services: new Map(), components: new Map(), alerts: new Map(), silences: new Map(), ack: null, detail: "", instance: "",
  desired: null, // the open service's desired config: {key, doc} (doc null when none is stored)
  alertGroup: "open", loading: null, skew: 0,
};
const serviceRank = { unhealthy: 0, degraded: 1, unknown: 2, healthy: 3 };
// An alert is filed under one group of the alerts view, in this order.
const GROUPS = ["firing", "acknowledged", "suppressed", "silenced", "pending", "resolved"];
const severityRank = { critical: 0, warning: 1, info: 2 };

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch (e) {
    return {};
  }
}
const canOperate = () => state.claims.role === "operator" || state.claims.role === "admin";

async function api(path, opts = {}) {
  const res = await fetch(path, { ...opts, cache: "no-store", headers: { ...(opts.headers || {}), Authorization: "Bearer " + state.token } });
  const date = Date.parse(res.headers.get("Date"));
  if (!Number.isNaN(date)) state.skew = date - Date.now(); // the hub's clock, to the second, for silences
  if (res.status === 304) return null; // If-None-Match named what the hub holds
  let body = null;
  try { body = await res.json(); } catch (e) { /* empty or not JSON */ }
  if (!res.ok) {
    const err = new Error((body && body.error) || res.statusText || String(res.status));
    err.status = res.status;
    throw err;
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
const badge = (status) => el("span", { class: "status s-" + status }, status);

function age(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

// ---- sign in and out

// signIn checks the token with the hub, keeps it for this tab and opens the page; on failure
// the sign-in form shows again with the reason, and a token the hub refused is forgotten.
async function signIn(token) {
  state.token = token.trim();
  state.claims = claimsOf(state.token);
  try {
    await api("/api/v1/dashboard/summary");
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = ""; // kept in sessionStorage only
    await start();
  } catch (e) {
    if (state.abort) state.abort.abort();
    state.token = null;
    if (e.status === 401 || e.status === 403) sessionStorage.removeItem(TOKEN_KEY);
    for (const id of ["nav", "who", ...VIEWS]) $(id).hidden = true;
    $("signin").hidden = false;
    $("signin-error").textContent = "Sign-in failed: " + (e.status === 401 ? "the hub refused this token (" + e.message + ")"
      : e.status === 403 ? "this token may not read the dashboard (" + e.message + ")" : e.message);
    $("token").focus();
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.abort) state.abort.abort();
  location.reload();
}

async function start() {
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  const c = state.claims;
  $("whoami").textContent = (c.sub || "?") + " (" + (c.role || "?") + ", tenant " + (c.tenant || "?") + ")";
  for (const f of document.querySelectorAll(".operator")) f.hidden = !canOperate();
  $("sil-tenant-field").hidden = c.tenant !== "*";
  await new Promise((opened) => connect(opened)); // the stream first: nothing changes unseen between the two
  await loadAll();
  show(location.hash.slice(1) || "overview");
}

// ---- state

// loadAll reads the state afresh. Events that arrive meanwhile wait, and are applied over it in
// order once it is in, so none is lost under an older snapshot.
async function loadAll() {
  state.loading = [];
  let health, alerts, silences;
  try {
    [health, alerts, silences] = await Promise.all([api("/api/v1/dashboard/health"), api("/api/v1/dashboard/alerts"),
      api("/api/v1/dashboard/silences")]);
  } finally {
    if (!health) state.loading = null;
  }
  state.services = new Map(health.services.map((s) => [s.tenant + "/" + s.name, s]));
  state.components = new Map(health.components.map((c) => [c.tenant + "/" + c.name, c]));
  state.alerts = new Map(alerts.alerts.map((a) => [a.id, a]));
  state.silences = new Map(silences.silences.map((x) => [x.id, x]));
  const queued = state.loading;
  state.loading = null;
  for (const [name, data] of queued) apply(name, data);
  performance.mark("centralhub-data"); // the data has arrived: the overview's render is timed from here
  render();
}

function apply(name, data) {
  switch (name) {
    case "service": {
      const key = data.tenant + "/" + data.name;
      if (data.removed) state.services.delete(key);
      else state.services.set(key, data);
      break;
    }
    case "instance": {
      const svc = state.services.get(data.tenant + "/" + data.service);
      if (!svc) break; // its service event follows
      const i = svc.instances.findIndex((x) => x.instance === data.instance);
      if (data.removed) { if (i >= 0) svc.instances.splice(i, 1); }
      else if (i >= 0) svc.instances[i] = data;
      else svc.instances.push(data);
      break;
    }
    case "component":
      if (data.removed) state.components.delete(data.tenant + "/" + data.name);
      else state.components.set(data.tenant + "/" + data.name, data);
      break;
    case "alert":
      if (data.removed) state.alerts.delete(data.id);
      else state.alerts.set(data.id, data);
      break;
  }
}

// overall follows DESIGN.md's status rules over what the token sees.
function overall() {
  const svcs = [...state.services.values()];
  if (svcs.length === 0 && state.components.size === 0) return "unknown";
  const critComp = [...state.components.values()].some((c) => c.critical && c.status === "critical");
  if (critComp || svcs.some((s) => s.status === "unhealthy")) return "unhealthy";
  const compBad = [...state.components.values()].some((c) => c.status !== "passing");
  if (compBad || svcs.some((s) => s.status !== "healthy")) return "degraded";
  return "healthy";
}

// ---- live updates

function live(on, text) {
  $("live").textContent = text || (on ? "live" : "reconnecting…");
}

// connect follows the event stream, calling opened once the hub has started it (or failed to).
async function connect(opened = () => {}) {
  const ctrl = new AbortController();
  state.abort = ctrl;
  let stale = false;
  const headers = { Authorization: "Bearer " + state.token };
  if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
  try {
    const res = await fetch("/api/v1/dashboard/events", { headers, signal: ctrl.signal, cache: "no-store" });
    opened();
    if (res.status === 401) { live(false, "signed out: token no longer valid"); return; }
    if (!res.ok) throw new Error("events: " + res.status);
    live(true);
    if (res.headers.get("Centralhub-Events-Reset") === "true") await loadAll();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      // The hub sends at least a ping every 15 s: 45 s of silence is a dead connection.
      const watchdog = setTimeout(() => { stale = true; ctrl.abort(); }, 45000);
      let chunk;
      try { chunk = await reader.read(); } finally { clearTimeout(watchdog); }
      const { value, done } = chunk;
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        block(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    opened();
    if (ctrl.signal.aborted && !stale) return; // signed out
  }
  live(false);
  setTimeout(connect, 2000); // resumes after the last event read
}

function block(text) {
  let id = "", name = "", raw = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) raw += line.slice(6);
  }
  if (id) state.lastEventId = id; // the stream's first block is an id alone: where it starts
  if (!name) return;
  const data = JSON.parse(raw);
  if (state.loading) { state.loading.push([name, data]); return; }
  apply(name, data);
  scheduleRender();
  if (state.view === "graph" && (name === "service" || name === "component")) scheduleGraph();
  if ((state.view === "service" || state.view === "instance") && name === "instance" && data.tenant + "/" + data.service === state.detail) {
    scheduleHistory();
  }
  if (name === "alert" && state.view === "alerts") scheduleSilences();
}

// The picture, the history and the silences are fetched again at most once a second while
// changes come.
const timers = {};
function once(name, fn) {
  if (!timers[name]) timers[name] = setTimeout(() => { timers[name] = null; fn(); }, 1000);
}
const scheduleGraph = () => once("graph", loadGraph);
const scheduleHistory = () => once("history", loadHistory);
const scheduleSilences = () => once("silences", loadSilences);

let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

// ---- views

const VIEWS = ["overview", "services", "alerts", "graph", "service", "instance"];
const PARTS = { service: 2, instance: 3 };

// show opens a view: "overview", "services", "alerts", "graph", "service/<tenant>/<name>" or
// "instance/<tenant>/<service>/<instance>". A view the user opened takes the keyboard focus on
// its heading, so the next Tab starts in it.
function show(route, focus = true) {
  let [view, ...rest] = route.split("/");
  if (!VIEWS.includes(view) || rest.length !== (PARTS[view] || 0)) { view = "overview"; rest = []; }
  const parts = rest.map(decodeURIComponent);
  state.view = view;
  state.detail = PARTS[view] ? parts[0] + "/" + parts[1] : "";
  state.instance = view === "instance" ? parts[2] : "";
  for (const v of VIEWS) $(v).hidden = v !== view;
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  const hash = "#" + [view, ...rest].join("/");
  if (location.hash !== hash) history.pushState(null, "", hash);
  if (PARTS[view]) { loadHistory(); refreshDetail(); } else { clearTimeout(detailTimer); detailGen++; }
  if (view === "service") {
    if (state.desired && state.desired.key !== state.detail) state.desired = null;
    renderDesired(); // what is known of it until refreshDetail reads it again
  }
  if (view === "graph") loadGraph();
  if (view === "alerts") loadSilences();
  render();
  if (focus) $(view + "-title").focus();
}

function render() {
  if (!state.token) return;
  const keep = focusKey();
  if (state.view === "overview") renderOverview();
  else if (state.view === "services") renderServices();
  else if (state.view === "alerts") renderAlerts();
  else if (state.view === "service") renderService();
  else if (state.view === "instance") renderInstance();
  restoreFocus(keep);
}

// A render replaces rows; the keyboard focus on a link or button in a row (rows carry a
// data-key) moves to the same control of the new row, so live updates never lose the user's
// place.
function focusKey() {
  const a = document.activeElement;
  const row = a && a.closest && a.closest("[data-key]");
  return row && a !== row ? { key: row.dataset.key, tag: a.tagName.toLowerCase(), cls: a.className } : null;
}

function restoreFocus(k) {
  if (!k || (document.activeElement && document.activeElement !== document.body)) return;
  const row = [...document.querySelectorAll("[data-key]")].find((r) => r.dataset.key === k.key);
  if (!row) return;
  const target = [...row.querySelectorAll(k.tag)].find((e) => e.className === k.cls) || row.querySelector("a, button, input, [tabindex]");
  if (target) target.focus();
}

const route = (...parts) => "#" + parts.map(encodeURIComponent).join("/");
const serviceLink = (tenant, name) => el("a", { href: route("service", tenant, name) }, name);

// refreshDetail reads the open service again every 10 s: check outputs and latencies change
// without an event.
let detailTimer = null, detailGen = 0;
async function refreshDetail() {
  clearTimeout(detailTimer);
  const gen = ++detailGen;
  const key = state.detail;
  if (!key) return;
  const [tenant, name] = key.split("/");
  try {
    const h = await api("/api/v1/dashboard/health?service=" + encodeURIComponent(name) + "&tenant=" + encodeURIComponent(tenant));
    const s = h.services.find((x) => x.tenant === tenant);
    if (s && state.detail === key) { state.services.set(key, s); render(); }
  } catch (e) { /* the stream still brings status changes */ }
  if (state.view === "service") await loadDesired(key);
  if (state.detail === key && gen === detailGen) detailTimer = setTimeout(refreshDetail, 10000);
}

function checksTable(i) {
  return el("table", { class: "list", "aria-label": "Checks of " + i.instance },
    el("thead", {}, el("tr", {}, el("th", {}, "Check"), el("th", {}, "Kind"), el("th", {}, "Status"), el("th", {}, "Output"),
      el("th", {}, "Latency"))),
    el("tbody", {}, ...i.checks.map((c) => el("tr", { "data-check": c.name }, el("td", {}, c.name + (c.component ? " (" + c.component + ")" : "")),
      el("td", {}, c.kind), el("td", {}, badge(c.status)), el("td", { class: "output" }, c.output), el("td", {}, c.latency_ms.toFixed(1) + " ms")))));
}

// configState says an instance's config state: its status and the desired version it compared with.
function configState(c) {
  return (c.status || "none").replace("_", " ") + (c.version ? " (desired version " + c.version + ")" : "");
}

function instanceLine(i) {
  return el("p", {}, badge(i.status), " ", i.address || "", " — last report " + age(i.last_seen), " — config " + configState(i.config));
}

function renderService() {
  const s = state.services.get(state.detail);
  const [tenant, name] = state.detail.split("/");
  $("service-title").textContent = "Service " + name + " (tenant " + tenant + ")";
  if (!s) {
    $("service-status").replaceChildren("Not registered now (its history below may still say what happened).");
    $("service-instances").replaceChildren();
    return;
  }
  $("service-status").replaceChildren("Status: ", badge(s.status), s.maintenance ? " (in maintenance)" : "");
  $("service-instances").replaceChildren(...s.instances.map((i) => el("div", { class: "instance", "data-instance": i.instance, "data-key": "i:" + i.instance },
    el("h3", {}, el("a", { href: route("instance", tenant, name, i.instance) }, "Instance " + i.instance)), instanceLine(i), checksTable(i))));
}

function renderInstance() {
  const [tenant, name] = state.detail.split("/");
  const s = state.services.get(state.detail);
  const i = s && s.instances.find((x) => x.instance === state.instance);
  $("instance-title").textContent = "Instance " + state.instance + " of " + name + " (tenant " + tenant + ")";
  $("instance-service").replaceChildren(el("span", { "data-key": "svc-link" }, "Service: ", serviceLink(tenant, name), s ? " " : "", s ? badge(s.status) : ""));
  if (!i) {
    $("instance-status").replaceChildren("Not registered now (its history below may still say what happened).");
    $("instance-config").replaceChildren();
    $("instance-checks").replaceChildren();
    return;
  }
  $("instance-status").replaceChildren(instanceLine(i));
  const problems = i.config.problems || [];
  $("instance-config").replaceChildren(el("p", { "data-config": i.config.status || "none" }, "Config: " + configState(i.config) + "."),
    ...(problems.length ? [el("h3", {}, "Config problems"), el("ul", {}, ...problems.map((p) =>
      el("li", {}, [p.file, p.key].filter(Boolean).join(" ") + ": " + p.reason)))] : []));
  $("instance-checks").replaceChildren(checksTable(i));
}

// loadDesired reads the desired config of the service key ("tenant/name"), asking only for a
// newer version than the one shown.
async function loadDesired(key) {
  const [tenant, name] = key.split("/");
  const had = state.desired && state.desired.key === key ? state.desired : null;
  const headers = had && had.doc ? { "If-None-Match": '"' + had.doc.version + '"' } : {};
  let next;
  try {
    const doc = await api("/api/v1/config/" + encodeURIComponent(name) + "?tenant=" + encodeURIComponent(tenant), { headers });
    next = { key, doc: doc || had.doc };
  } catch (e) {
    next = { key, doc: null, error: e.status === 404 ? "" : e.message };
  }
  if (state.detail !== key) return;
  const changed = !had || had.error !== next.error || (had.doc && had.doc.version) !== (next.doc && next.doc.version);
  state.desired = next;
  if (changed && state.view === "service") renderDesired();
}

// flatten lists a config's keys as the hub and agents compare them: nested objects as dotted
// keys, arrays by index, with each value as text.
function flatten(v, prefix, out) {
  if (v !== null && typeof v === "object") {
    const keys = Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v).sort();
    if (keys.length === 0 && prefix) out.push([prefix, ""]);
    for (const k of keys) flatten(v[k], prefix ? prefix + "." + k : k, out);
  } else if (prefix) {
    out.push([prefix, v === null ? "" : String(v)]);
  }
  return out;
}

const DESIRED_ROWS = 500; // keys shown; the API has them all

function renderDesired() {
  const d = state.desired && state.desired.key === state.detail ? state.desired : null;
  const out = $("service-config");
  if (!d) { out.replaceChildren(el("p", {}, "Reading the desired config…")); return; }
  if (d.error) { out.replaceChildren(el("p", {}, "Desired config unavailable: " + d.error)); return; }
  if (!d.doc) { out.replaceChildren(el("p", {}, "No desired config is stored for this service.")); return; }
  const c = d.doc;
  const rows = flatten(c.config, "", []);
  out.replaceChildren(
    el("p", { "data-version": String(c.version) }, "Version " + c.version + ", written by " + c.updated_by + " at " +
      new Date(c.updated_at).toLocaleString() + " (" + rows.length + (rows.length === 1 ? " key" : " keys") + "; checksum ",
    el("code", {}, c.checksum), ")."),
    el("table", { class: "list", "aria-label": "Desired config of " + c.service },
      el("thead", {}, el("tr", {}, el("th", {}, "Key"), el("th", {}, "Value"))),
      el("tbody", {}, ...rows.slice(0, DESIRED_ROWS).map(([k, v]) => el("tr", { "data-config-key": k }, el("td", {}, k),
        el("td", { class: v === "<redacted>" ? "output redacted" : "output" }, v))))),
    ...(rows.length > DESIRED_ROWS ? [el("p", { class: "hint" }, (rows.length - DESIRED_ROWS) + " more keys not shown.")] : []));
}

let historyGen = 0;
async function loadHistory() {
  const key = state.detail, inst = state.instance, view = state.view, gen = ++historyGen;
  if (!key) return;
  const [tenant, name] = key.split("/");
  const out = view === "instance" ? "instance-" : "service-";
  let path = "/api/v1/dashboard/services/" + encodeURIComponent(name) + "/history?since=24h&tenant=" + encodeURIComponent(tenant);
  if (inst) path += "&instance=" + encodeURIComponent(inst);
  try {
    const h = await api(path);
    if (gen !== historyGen) return; // a newer read is on its way
    const pct = (v) => (v === null || v === undefined ? "no samples" : v + "%");
    $(out + "uptime").textContent = "Uptime: 1 h " + pct(h.uptime["1h"]) + ", 24 h " + pct(h.uptime["24h"]) + ", 7 d " + pct(h.uptime["7d"]) + ".";
    $(out + "transitions").replaceChildren(...h.transitions.slice(-50).reverse().map((t) => el("tr", {},
      el("td", {}, new Date(t.at).toLocaleString()), el("td", {}, t.instance), el("td", {}, t.check || "(instance)"),
      el("td", {}, (t.from || "—") + " → " + (t.to || "gone")), el("td", {}, t.output || ""))));
    if (view === "instance") $("instance-latency").replaceChildren(...h.latency.map(latencyFigure));
  } catch (e) {
    if (gen !== historyGen) return;
    $(out + "uptime").textContent = e.status === 404 ? "No history." : "History unavailable: " + e.message;
    $(out + "transitions").replaceChildren();
  }
}

const SVG = "http://www.w3.org/2000/svg";
// latencyFigure draws one check's average latency over the history's range as a line, with
// the figures written beside it.
function latencyFigure(series) {
  const pts = series.points;
  const top = Math.max(...pts.map((p) => p.avg_ms), 0.001);
  const peak = Math.max(...pts.map((p) => p.max_ms), 0);
  const n = pts.reduce((k, p) => k + p.samples, 0);
  const mean = pts.reduce((k, p) => k + p.avg_ms * p.samples, 0) / Math.max(n, 1);
  const text = series.check + ": average " + mean.toFixed(1) + " ms, highest " + peak.toFixed(1) + " ms (" + n + (n === 1 ? " sample)" : " samples)");
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 300 40");
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", text);
  const t0 = Date.parse(pts.length ? pts[0].at : 0), t1 = Date.parse(pts.length ? pts[pts.length - 1].at : 0);
  const xy = pts.map((p) => [t1 > t0 ? ((Date.parse(p.at) - t0) / (t1 - t0)) * 296 + 2 : 150, 38 - (p.avg_ms / top) * 34]);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", xy.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" "));
  svg.append(line);
  if (xy.length === 1) { // a line needs two points: one is a dot
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", xy[0][0].toFixed(1));
    dot.setAttribute("cy", xy[0][1].toFixed(1));
    dot.setAttribute("r", "2.5");
    svg.append(dot);
  }
  return el("figure", { class: "latency", "data-check": series.check }, svg, el("figcaption", {}, text));
}

// loadGraph draws the hub's own picture of the graph; a service node opens the service.
async function loadGraph() {
  try {
    const res = await fetch("/api/v1/dashboard/dependencies?format=svg", { cache: "no-store", headers: { Authorization: "Bearer " + state.token } });
    if (!res.ok) throw new Error(String(res.status));
    const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
    const svg = document.importNode(doc.documentElement, true);
    for (const g of svg.querySelectorAll("g.node")) {
      if (!state.services.has(g.id)) continue;
      const [tenant, name] = g.id.split("/");
      g.setAttribute("tabindex", "0");
      g.setAttribute("role", "link");
      g.setAttribute("aria-label", "Service " + name + (g.querySelector("title") ? ": " + g.querySelector("title").textContent : ""));
      g.classList.add("clickable");
      const open = () => show(route("service", tenant, name).slice(1));
      g.addEventListener("click", open);
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
    }
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("#graph-picture g.node");
    $("graph-picture").replaceChildren(svg);
    if (focused) { const again = [...svg.querySelectorAll("g.node")].find((g) => g.id === focused.id); if (again) again.focus(); }
  } catch (e) {
    $("graph-picture").textContent = "Graph unavailable: " + e.message;
  }
}

function renderOverview() {
  $("overall").replaceChildren(badge(overall()));
  const svc = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  const inst = { passing: 0, warning: 0, critical: 0, unknown: 0 };
  for (const s of state.services.values()) {
    svc[s.status] = (svc[s.status] || 0) + 1;
    for (const i of s.instances) inst[i.status] = (inst[i.status] || 0) + 1;
  }
  $("svc-counts").replaceChildren(...Object.entries(svc).map(([k, n]) => el("tr", {}, el("td", {}, badge(k)), el("td", {}, n))));
  $("inst-counts").replaceChildren(...Object.entries(inst).map(([k, n]) => el("tr", {}, el("td", {}, badge(k)), el("td", {}, n))));
  const firing = [...state.alerts.values()].filter((a) => a.state === "firing").sort(byAlert);
  $("firing").replaceChildren(...(firing.length ? firing.map((a) => {
    const hand = handling(a);
    return el("li", {}, badge(a.severity), " ", a.component + ": " + a.summary, hand.length ? " — " + hand.join("; ") : "");
  }) : [el("li", {}, "none")]));
  const comps = [...state.components.values()].sort((a, b) => a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
  $("comp-rows").replaceChildren(...(comps.length ? comps.map(componentRow) : [el("tr", {}, el("td", { colspan: "5" }, "none"))]));
  if (performance.getEntriesByName("centralhub-data").length && !performance.getEntriesByName("centralhub-overview").length) {
    performance.measure("centralhub-overview", "centralhub-data"); // read by make bench
  }
}

// componentRow is one component of the overview: its meta shows as "key: value" tags, and a
// stand-in (meta key "stand-in") says so in words beside its name.
function componentRow(c) {
  const key = c.tenant + "/" + c.name;
  const meta = Object.entries(c.meta || {}).sort(([a], [b]) => a.localeCompare(b));
  const standIn = (c.meta || {})["stand-in"];
  const label = standIn === undefined ? "" : el("span", { class: "tag stand-in" }, "stand-in" + (standIn === "true" ? "" : ": " + standIn));
  return el("tr", { "data-comp": key, "data-key": "c:" + key },
    el("td", {}, c.name, label ? " " : "", label),
    el("td", {}, c.tenant), el("td", {}, c.kind), el("td", {}, badge(c.status), c.critical ? " (critical)" : ""),
    el("td", { class: "meta" }, ...meta.filter(([k]) => k !== "stand-in").map(([k, v]) => el("span", { class: "tag" }, k + ": " + v))));
}

// groupOf files an alert under one group: resolved and pending by state; a firing alert under
// suppressed, silenced or acknowledged when it is, in that order, and firing when nobody has
// it in hand.
function groupOf(a) {
  if (a.state !== "firing") return a.state;
  if (a.suppressed_by) return "suppressed";
  if ((a.silenced_by || []).length) return "silenced";
  if (a.acknowledged) return "acknowledged";
  return "firing";
}

function byAlert(a, b) {
  return (GROUPS.indexOf(groupOf(a)) - GROUPS.indexOf(groupOf(b))) || ((severityRank[a.severity] ?? 3) - (severityRank[b.severity] ?? 3))
    || a.component.localeCompare(b.component) || a.id.localeCompare(b.id);
}

// handling says who has the alert in hand and why: the acknowledgement, the cause that
// suppresses it, the silences that mute it.
function handling(a) {
  const out = [];
  if (a.acknowledged && a.ack) {
    out.push("acknowledged by " + a.ack.by + " " + age(a.ack.at) + ": " + (a.ack.comment || "(no comment)") +
      (a.ack.expires_at ? " (until " + new Date(a.ack.expires_at).toLocaleString() + ")" : ""));
  }
  if (a.suppressed_by) out.push("suppressed: caused by " + a.suppressed_by);
  for (const id of a.silenced_by || []) {
    const x = state.silences.get(id);
    out.push(x ? "silenced by " + x.created_by + ": " + x.comment : "silenced (" + id + ")");
  }
  if (a.flapping) out.push("flapping");
  return out;
}

function lastReport(s) {
  let last = "";
  for (const i of s.instances) if (i.last_seen > last) last = i.last_seen;
  return last;
}

function renderServices() {
  const q = $("filter").value.trim().toLowerCase();
  const rows = [...state.services.values()]
    .filter((s) => !q || s.name.toLowerCase().includes(q) || s.tenant.toLowerCase().includes(q) || s.status.includes(q))
    .sort((a, b) => (serviceRank[a.status] - serviceRank[b.status]) || a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const page = rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
  $("svc-rows").replaceChildren(...page.map((s) => el("tr", { "data-service": s.tenant + "/" + s.name, "data-key": "s:" + s.tenant + "/" + s.name },
    el("td", {}, serviceLink(s.tenant, s.name)), el("td", {}, s.tenant), el("td", { class: "svc-status" }, badge(s.status), s.maintenance ? " (maintenance)" : ""),
    el("td", {}, s.instances.length), el("td", {}, age(lastReport(s))))));
  $("page").textContent = "page " + (state.page + 1) + " of " + pages + " (" + rows.length + " services)";
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function renderAlerts() {
  const all = [...state.alerts.values()];
  const counts = Object.fromEntries(GROUPS.map((g) => [g, 0]));
  for (const a of all) counts[groupOf(a)]++;
  counts.open = all.length - counts.resolved;
  counts.all = all.length;
  for (const c of document.querySelectorAll("#alert-groups .count")) c.textContent = "(" + counts[c.dataset.group] + ")";
  const want = state.alertGroup;
  const list = all.filter((a) => want === "all" || (want === "open" ? a.state !== "resolved" : groupOf(a) === want)).sort(byAlert);
  $("alert-rows").replaceChildren(...(list.length ? list.map(alertRow)
    : [el("tr", {}, el("td", { colspan: "6" }, "No alerts in this group."))]));
  renderSilences();
}

function alertRow(a) {
  const actions = el("td", {});
  if (canOperate() && a.state === "firing" && !a.acknowledged) {
    actions.append(el("button", { type: "button", class: "ack", "aria-label": "Acknowledge " + a.component, onclick: () => openAck(a) }, "Acknowledge"));
  }
  if (canOperate() && a.state === "firing" && a.acknowledged) {
    actions.append(el("button", { type: "button", class: "unack", "aria-label": "Unacknowledge " + a.component, onclick: () => unack(a) }, "Unacknowledge"));
  }
  const where = [a.service && a.service !== a.component ? "service " + a.service : "", a.instance ? "instance " + a.instance : "",
    a.check ? "check " + a.check : ""].filter(Boolean).join(", ");
  return el("tr", { "data-alert": a.id, "data-key": "a:" + a.id, "data-component": a.component, "data-group": groupOf(a) },
    el("td", { class: "group" }, badge(groupOf(a))), el("td", {}, badge(a.severity)), el("td", {}, a.component, where ? el("br") : "", where),
    el("td", {}, a.summary, el("br"), el("span", { class: "hint" }, a.rule + ", since " + age(a.fired_at || a.started_at))),
    el("td", { class: "ack-by" }, handling(a).join("; ")), actions);
}

let silencesGen = 0;
async function loadSilences() {
  const gen = ++silencesGen;
  try {
    const body = await api("/api/v1/dashboard/silences");
    if (gen !== silencesGen) return; // a newer read is on its way
    state.silences = new Map(body.silences.map((x) => [x.id, x]));
    if (state.view === "alerts") render();
  } catch (e) {
    $("silence-rows").replaceChildren(el("tr", {}, el("td", { colspan: "6" }, "Silences unavailable: " + e.message)));
  }
}

function matchersText(ms) {
  return ms.map((m) => m.name + (m.is_regex ? "=~" : "=") + JSON.stringify(m.value)).join(", ");
}

function renderSilences() {
  const list = [...state.silences.values()].filter((x) => x.state !== "expired").sort((a, b) => a.id.localeCompare(b.id));
  $("silence-rows").replaceChildren(...(list.length ? list.map((x) => {
    const when = x.schedule ? x.schedule.weekly.map((w) => w.day + " " + w.start + "–" + w.end).join(", ") + " (" + (x.schedule.timezone || "UTC") + ")"
      : new Date(x.starts_at).toLocaleString() + " – " + new Date(x.ends_at).toLocaleString();
    const actions = el("td", {});
    if (canOperate()) actions.append(el("button", { type: "button", class: "expire", "aria-label": "Expire silence " + x.id, onclick: () => expire(x) }, "Expire"));
    return el("tr", { "data-silence": x.id, "data-key": "x:" + x.id }, el("td", {}, x.state), el("td", {}, matchersText(x.matchers)), el("td", {}, when),
      el("td", {}, x.created_by), el("td", {}, x.comment), actions);
  }) : [el("tr", {}, el("td", { colspan: "6" }, "No silences."))]));
}

// ---- actions (the server checks the role again)

function result(text) { $("action-result").textContent = text; }

function openAck(a) {
  state.ack = a;
  $("ack-title").textContent = "Acknowledge " + a.component;
  $("ack-form").hidden = false;
  $("ack-comment").focus();
}

function closeAck() {
  $("ack-form").hidden = true;
  $("alerts-title").focus();
}

const ackPath = (a) => "/api/v1/dashboard/alerts/" + encodeURIComponent(a.component) + "/acknowledge?tenant=" + encodeURIComponent(a.tenant);

async function submitAck(ev) {
  ev.preventDefault();
  const a = state.ack;
  const body = { comment: $("ack-comment").value };
  if ($("ack-hours").value) body.expires_in = $("ack-hours").value + "h";
  try {
    await api(ackPath(a), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    result("Acknowledged " + a.component + ".");
    $("ack-comment").value = "";
    closeAck();
  } catch (e) {
    result("Acknowledge failed: " + e.message);
  }
}

async function unack(a) {
  try {
    await api(ackPath(a), { method: "DELETE" });
    result("Unacknowledged " + a.component + ".");
  } catch (e) {
    result("Unacknowledge failed: " + e.message);
  }
}

async function submitSilence(ev) {
  ev.preventDefault();
  const now = new Date(Date.now() + state.skew); // the hub's clock: a browser's running slow or fast does not matter
  const ends = new Date(now.getTime() + Number($("sil-hours").value) * 3600e3);
  const body = { matchers: [{ name: "service", value: $("sil-service").value }], starts_at: now.toISOString(), ends_at: ends.toISOString(),
    comment: $("sil-comment").value };
  if (state.claims.tenant === "*") body.tenant = $("sil-tenant").value.trim() || "default";
  try {
    await api("/api/v1/dashboard/silences", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    result("Silenced " + $("sil-service").value + ".");
    loadSilences();
  } catch (e) {
    result("Silence failed: " + e.message);
  }
}

async function expire(x) {
  try {
    await api("/api/v1/dashboard/silences/" + encodeURIComponent(x.id), { method: "DELETE" });
    result("Expired the silence of " + matchersText(x.matchers) + ".");
    loadSilences();
  } catch (e) {
    result("Expire failed: " + e.message);
  }
}

// ---- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    await signIn($("token").value);
  });
  $("skip").addEventListener("click", (ev) => { ev.preventDefault(); $(state.token ? state.view + "-title" : "token").focus(); });
  $("signout").addEventListener("click", signOut);
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  window.addEventListener("hashchange", () => { if (state.token) show(location.hash.slice(1)); });
  $("filter").addEventListener("input", () => { state.page = 0; render(); });
  $("prev").addEventListener("click", () => { state.page--; render(); });
  $("next").addEventListener("click", () => { state.page++; render(); });
  for (const r of document.querySelectorAll("#alert-groups input")) {
    r.addEventListener("change", () => { state.alertGroup = r.value; render(); });
  }
  $("ack-form").addEventListener("submit", submitAck);
  $("ack-cancel").addEventListener("click", closeAck);
  $("ack-form").addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeAck(); });
  $("silence-form").addEventListener("submit", submitSilence);
  setInterval(() => { if (state.view === "services" || state.view === "alerts") render(); }, 5000); // ages move on
  setInterval(() => { if (state.view === "alerts") loadSilences(); }, 15000); // silences that match no alert yet
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved);
});
