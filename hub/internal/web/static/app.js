// Central Hub dashboard: signs in with a bearer token kept in sessionStorage (this tab only),
// reads the dashboard API, and follows its Server-Sent Events through fetch, so the token
// travels in the Authorization header and never in a URL.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TOKEN_KEY = "centralhub.token";
const state = {
  token: null, claims: {}, view: "overview", page: 0, lastEventId: "", abort: null,
  services: new Map(), components: new Map(), alerts: new Map(), ack: null, detail: "",
};
const serviceRank = { unhealthy: 0, degraded: 1, unknown: 2, healthy: 3 };
const alertRank = { firing: 0, pending: 1, resolved: 2 };

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

async function signIn(token) {
  state.token = token.trim();
  state.claims = claimsOf(state.token);
  try {
    await api("/api/v1/dashboard/summary");
  } catch (e) {
    state.token = null;
    throw e;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("token").value = ""; // kept in sessionStorage only
  await start();
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
  connect(); // before the state is read: nothing changes unseen between the two
  await loadAll();
  show(location.hash.slice(1) || "overview");
}

// ---- state

async function loadAll() {
  const [health, alerts] = await Promise.all([api("/api/v1/dashboard/health"), api("/api/v1/dashboard/alerts")]);
  state.services = new Map(health.services.map((s) => [s.tenant + "/" + s.name, s]));
  state.components = new Map(health.components.map((c) => [c.tenant + "/" + c.name, c]));
  state.alerts = new Map(alerts.alerts.map((a) => [a.id, a]));
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
      state.components.set(data.tenant + "/" + data.name, data);
      break;
    case "alert":
      state.alerts.set(data.id, data);
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

async function connect() {
  const ctrl = new AbortController();
  state.abort = ctrl;
  const headers = { Authorization: "Bearer " + state.token };
  if (state.lastEventId) headers["Last-Event-ID"] = state.lastEventId;
  try {
    const res = await fetch("/api/v1/dashboard/events", { headers, signal: ctrl.signal, cache: "no-store" });
    if (res.status === 401) { live(false, "signed out: token no longer valid"); return; }
    if (!res.ok) throw new Error("events: " + res.status);
    live(true);
    if (res.headers.get("Centralhub-Events-Reset") === "true") await loadAll();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        block(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
  }
  live(false);
  setTimeout(connect, 2000); // resumes after the last event read
}

function block(text) {
  let id = "", name = "", data = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("id: ")) id = line.slice(4);
    else if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) data += line.slice(6);
  }
  if (!name) return;
  if (id) state.lastEventId = id;
  apply(name, JSON.parse(data));
  scheduleRender();
  if (state.view === "graph" && (name === "service" || name === "component")) scheduleGraph();
  if (state.view === "service" && name === "instance" && data.tenant + "/" + data.service === state.detail) scheduleHistory();
}

// The picture and the history are fetched again at most once a second while changes come.
let graphTimer = null, historyTimer = null;
function scheduleGraph() { if (!graphTimer) graphTimer = setTimeout(() => { graphTimer = null; loadGraph(); }, 1000); }
function scheduleHistory() { if (!historyTimer) historyTimer = setTimeout(() => { historyTimer = null; loadHistory(); }, 1000); }

let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

// ---- views

const VIEWS = ["overview", "services", "alerts", "graph", "service"];

// show opens a view: "overview", "services", "alerts", "graph", or "service/<tenant>/<name>".
function show(route) {
  let [view, ...rest] = route.split("/");
  if (!VIEWS.includes(view) || (view === "service" && rest.length !== 2)) view = "overview";
  state.view = view;
  state.detail = view === "service" ? rest.map(decodeURIComponent).join("/") : "";
  for (const v of VIEWS) $(v).hidden = v !== view;
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  const hash = "#" + (view === "service" ? "service/" + rest.join("/") : view);
  if (location.hash !== hash) history.pushState(null, "", hash);
  if (view === "service") loadHistory();
  if (view === "graph") loadGraph();
  render();
}

function render() {
  if (!state.token) return;
  if (state.view === "overview") renderOverview();
  else if (state.view === "services") renderServices();
  else if (state.view === "alerts") renderAlerts();
  else if (state.view === "service") renderService();
}

function serviceLink(tenant, name) {
  return el("a", { href: "#service/" + encodeURIComponent(tenant) + "/" + encodeURIComponent(name) }, name);
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
  $("service-instances").replaceChildren(...s.instances.map((i) => el("div", { class: "instance", "data-instance": i.instance },
    el("h3", {}, "Instance " + i.instance + " "), el("p", {}, badge(i.status), " ", i.address || "", " — last report " + age(i.last_seen),
      " — config " + i.config.status),
    el("table", { class: "list", "aria-label": "Checks of " + i.instance },
      el("thead", {}, el("tr", {}, el("th", {}, "Check"), el("th", {}, "Status"), el("th", {}, "Output"), el("th", {}, "Latency"))),
      el("tbody", {}, ...i.checks.map((c) => el("tr", {}, el("td", {}, c.name), el("td", {}, badge(c.status)), el("td", {}, c.output),
        el("td", {}, c.latency_ms.toFixed(1) + " ms"))))))));
}

async function loadHistory() {
  const key = state.detail;
  const [tenant, name] = key.split("/");
  try {
    const h = await api("/api/v1/dashboard/services/" + encodeURIComponent(name) + "/history?since=24h&tenant=" + encodeURIComponent(tenant));
    if (state.detail !== key) return;
    const pct = (v) => (v === null || v === undefined ? "no samples" : v + "%");
    $("service-uptime").textContent = "Uptime: 1 h " + pct(h.uptime["1h"]) + ", 24 h " + pct(h.uptime["24h"]) + ", 7 d " + pct(h.uptime["7d"]) + ".";
    $("service-transitions").replaceChildren(...h.transitions.slice(-50).reverse().map((t) => el("tr", {},
      el("td", {}, new Date(t.at).toLocaleString()), el("td", {}, t.instance), el("td", {}, t.check || "(instance)"),
      el("td", {}, (t.from || "—") + " → " + (t.to || "gone")), el("td", {}, t.output || ""))));
  } catch (e) {
    $("service-uptime").textContent = e.status === 404 ? "No history." : "History unavailable: " + e.message;
    $("service-transitions").replaceChildren();
  }
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
      g.classList.add("clickable");
      const open = () => show("service/" + encodeURIComponent(tenant) + "/" + encodeURIComponent(name));
      g.addEventListener("click", open);
      g.addEventListener("keydown", (ev) => { if (ev.key === "Enter") open(); });
    }
    $("graph-picture").replaceChildren(svg);
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
  $("firing").replaceChildren(...(firing.length ? firing.map((a) => el("li", {}, badge(a.severity === "critical" ? "critical" : "warning"), " ",
    a.component + ": " + a.summary, a.acknowledged && a.ack ? " — acknowledged by " + a.ack.by + ": " + a.ack.comment : "")) : [el("li", {}, "none")]));
  if (performance.getEntriesByName("centralhub-data").length && !performance.getEntriesByName("centralhub-overview").length) {
    performance.measure("centralhub-overview", "centralhub-data"); // read by make bench
  }
}

function byAlert(a, b) {
  return (alertRank[a.state] - alertRank[b.state]) || (a.acknowledged - b.acknowledged) || a.component.localeCompare(b.component);
}

function lastReport(s) {
  let last = "";
  for (const i of s.instances) if (i.last_seen > last) last = i.last_seen;
  return last;
}

function renderServices() {
  const q = $("filter").value.trim().toLowerCase();
  const rows = [...state.services.values()]
    .filter((s) => !q || s.name.includes(q) || s.tenant.includes(q) || s.status.includes(q))
    .sort((a, b) => (serviceRank[a.status] - serviceRank[b.status]) || a.tenant.localeCompare(b.tenant) || a.name.localeCompare(b.name));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const page = rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
  $("svc-rows").replaceChildren(...page.map((s) => el("tr", { "data-service": s.tenant + "/" + s.name },
    el("td", {}, serviceLink(s.tenant, s.name)), el("td", {}, s.tenant), el("td", { class: "svc-status" }, badge(s.status), s.maintenance ? " (maintenance)" : ""),
    el("td", {}, s.instances.length), el("td", {}, age(lastReport(s))))));
  $("page").textContent = "page " + (state.page + 1) + " of " + pages + " (" + rows.length + " services)";
  $("prev").disabled = state.page === 0;
  $("next").disabled = state.page >= pages - 1;
}

function renderAlerts() {
  const list = [...state.alerts.values()].sort(byAlert);
  $("alert-rows").replaceChildren(...list.map((a) => {
    const ack = a.acknowledged && a.ack ? "by " + a.ack.by + ": " + a.ack.comment : a.suppressed_by ? "suppressed by " + a.suppressed_by
      : (a.silenced_by || []).length ? "silenced" : "";
    const actions = el("td", {});
    if (canOperate() && a.state === "firing" && !a.acknowledged) {
      actions.append(el("button", { type: "button", class: "ack", "aria-label": "Acknowledge " + a.component,
        onclick: () => openAck(a) }, "Acknowledge"));
    }
    return el("tr", { "data-alert": a.id, "data-component": a.component }, el("td", {}, a.state), el("td", {}, a.severity),
      el("td", {}, a.component), el("td", {}, a.summary), el("td", { class: "ack-by" }, ack), actions);
  }));
}

// ---- actions (the server checks the role again)

function openAck(a) {
  state.ack = a;
  $("ack-title").textContent = "Acknowledge " + a.component;
  $("ack-form").hidden = false;
  $("ack-comment").focus();
}

async function submitAck(ev) {
  ev.preventDefault();
  const a = state.ack;
  try {
    await api("/api/v1/dashboard/alerts/" + encodeURIComponent(a.component) + "/acknowledge?tenant=" + encodeURIComponent(a.tenant), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ comment: $("ack-comment").value }),
    });
    $("action-result").textContent = "Acknowledged " + a.component + ".";
    $("ack-form").hidden = true;
    $("ack-comment").value = "";
  } catch (e) {
    $("action-result").textContent = "Acknowledge failed: " + e.message;
  }
}

async function submitSilence(ev) {
  ev.preventDefault();
  const now = new Date();
  const ends = new Date(now.getTime() + Number($("sil-hours").value) * 3600e3);
  try {
    await api("/api/v1/dashboard/silences", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ matchers: [{ name: "service", value: $("sil-service").value }], starts_at: now.toISOString(), ends_at: ends.toISOString(), comment: $("sil-comment").value }),
    });
    $("action-result").textContent = "Silenced " + $("sil-service").value + ".";
  } catch (e) {
    $("action-result").textContent = "Silence failed: " + e.message;
  }
}

// ---- wiring

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    try {
      await signIn($("token").value);
    } catch (e) {
      $("signin-error").textContent = "Sign-in failed: " + (e.status === 401 ? "the hub refused this token (" + e.message + ")" : e.message);
    }
  });
  $("signout").addEventListener("click", signOut);
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  window.addEventListener("hashchange", () => { if (state.token) show(location.hash.slice(1)); });
  $("filter").addEventListener("input", () => { state.page = 0; render(); });
  $("prev").addEventListener("click", () => { state.page--; render(); });
  $("next").addEventListener("click", () => { state.page++; render(); });
  $("ack-form").addEventListener("submit", submitAck);
  $("ack-cancel").addEventListener("click", () => { $("ack-form").hidden = true; });
  $("silence-form").addEventListener("submit", submitSilence);
  setInterval(() => { if (state.view === "services") render(); }, 5000); // report ages move on
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved).catch(() => sessionStorage.removeItem(TOKEN_KEY));
});
