// Cordon operations panel: live throughput and latency, audit records, escape attempts,
// quarantined jobs, the tool catalog (with blocking, for operators) and API tokens (for
// admins), over the HTTP API of `cordon serve`.
//
// No framework and no build step: this file is served as-is at /panel/panel.js. Every
// value that came from the server reaches the DOM through text nodes (`h`, `textContent`),
// never through HTML parsing, so a tool name or an audit reason cannot inject markup.

/** The server's root: this file is `<root>/panel/panel.js`, so a proxy prefix still works. */
const ROOT = new URL("../", import.meta.url);
const TOKEN_KEY = "cordon.panel.token";
const VIEWS = ["live", "calls", "escapes", "quarantine", "catalog", "tokens"];
/** Audit pages never ask for more than this: first paint stays fast on a large log. */
const PAGE = 100;
const WINDOW_MS = 120_000;
const HOSTS_EVERY_MS = 5_000;

const REFUSED = new Set([
  "policy_denied", "path_escape", "network_denied", "read_only", "command_not_allowed",
  "tool_changed", "digest_mismatch", "signature_invalid", "forbidden", "unauthenticated",
]);
const LIMITS = new Set([
  "fuel_exhausted", "deadline_exceeded", "memory_limit", "stack_overflow", "output_limit",
  "too_large", "rate_limited", "quota_exceeded", "queue_full",
]);
const PRIORITY_ORDER = { high: 0, normal: 1, low: 2 };
// d3's category10: distinct on white, and the order keeps neighbours apart.
const PALETTE = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];

// ---------------------------------------------------------------------------------------
// DOM helpers

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Makes an element; strings among `children` become text nodes, never markup. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Replaces `el`'s children, with `h`'s rules: nulls skipped, arrays flattened, strings as text. */
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false)
    .map((c) => (c instanceof Node ? c : String(c))));
  return el;
}

const absent = () => h("span", { class: "absent", title: "not present" }, "—");
const p2 = (n) => String(n).padStart(2, "0");

/** Local time with milliseconds: `2026-05-14 09:03:07.412`. */
function fmtTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.` +
    String(d.getMilliseconds()).padStart(3, "0");
}
function timeEl(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return absent();
  return h("time", { datetime: new Date(ms).toISOString(), title: `${new Date(ms).toISOString()} (${ms})` }, fmtTime(ms));
}
const fmtNum = (n) => (typeof n === "number" ? n.toLocaleString() : n == null ? "—" : String(n));
const fmtMsFromUs = (us) =>
  typeof us === "number" ? (us / 1000).toLocaleString(undefined, { minimumFractionDigits: 3, maximumFractionDigits: 3 }) : "—";
function fmtAge(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
function fmtBytes(n) {
  if (typeof n !== "number") return "—";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = n, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n.toLocaleString()} B` : `${v.toFixed(2)} ${units[i]} (${n.toLocaleString()} B)`;
}

function outcomeClass(o) {
  if (o === "ok") return "ok";
  if (REFUSED.has(o)) return "refused";
  if (LIMITS.has(o)) return "limit";
  return "failed";
}
const badge = (o) => h("span", { class: `badge ${outcomeClass(o)}` }, o ?? "—");

/** A JSON value as DOM: objects as key/value tables, arrays as lists, absent as "—". */
function renderValue(v) {
  if (v === undefined || v === null) return absent();
  if (Array.isArray(v)) {
    if (v.length === 0) return h("span", { class: "absent" }, "none");
    return h("ul", {}, v.map((x) => h("li", {}, renderValue(x))));
  }
  if (typeof v === "object") {
    const entries = Object.entries(v);
    if (entries.length === 0) return h("span", { class: "absent" }, "none");
    return h("table", { class: "kv" },
      h("tbody", {}, entries.map(([k, x]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, renderValue(x))))));
  }
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  return String(v);
}

function setRows(table, rows, emptyText, cols) {
  const body = table.tBodies[0];
  fill(body, ...(rows.length ? rows : [h("tr", { class: "empty" }, h("td", { colspan: cols }, emptyText))]));
}

// ---------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId ?? null;
  }
}
/** A response that arrived after the user logged out (or a newer load replaced it). */
class Stale extends Error {}
const ignorable = (e) => e instanceof Stale || e?.name === "AbortError";

const state = {
  token: null,
  who: null,
  /** Bumped at logout: answers to requests made before it are dropped. */
  epoch: 0,
  view: null,
  stream: null,
  hostsTimer: null,
  hostsForbidden: false,
  /** Stats samples of the last 120 s, oldest first. */
  samples: [],
  pointsDrawn: 0,
  colours: new Map(),
  calls: { cursor: null, stack: [], filters: null, loaded: false },
  /** Records on screen (calls and escapes), by seq, for the detail panel. */
  records: new Map(),
  gen: { calls: 0, escapes: 0, quarantine: 0, tools: 0, tool: 0, verdict: 0, hosts: 0, tokens: 0 },
  tool: null,
};

async function errorOf(res) {
  const text = await res.text().catch(() => "");
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's page */ }
  const err = body?.error;
  return new ApiError(
    res.status,
    err?.code ?? `http_${res.status}`,
    err?.message ?? (res.statusText || text.slice(0, 200) || "request failed"),
    err?.request_id ?? res.headers.get("x-request-id"),
  );
}

/**
 * Calls the API with the session's token. Throws ApiError (the server's `error` object),
 * or Stale when the session ended meanwhile. A 401 ends the session, except while logging in.
 */
async function api(path, { method = "GET", query, body, signal, login = false } = {}) {
  const url = new URL(path, ROOT);
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const epoch = state.epoch;
  const headers = { Authorization: `Bearer ${state.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(url, {
      method, headers, signal, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (ignorable(e)) throw e;
    throw new ApiError(0, "network", `cannot reach the server (${e.message})`);
  }
  if (epoch !== state.epoch) throw new Stale();
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401 && !login) expire(e);
    throw e;
  }
  const text = await res.text();
  if (epoch !== state.epoch) throw new Stale();
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, "bad_response", "the server answered something that is not JSON");
  }
}

/** Shows an API error (code, message, request id) in `el`, a `.error` element. */
function showError(el, e) {
  // A 401 that ended the session is shown on the login form instead.
  if (ignorable(e) || e?.expired) return;
  if (!(e instanceof ApiError)) console.error(e);
  const code = e instanceof ApiError ? e.code : "panel_error";
  fill(el,
    h("span", { class: "code" }, code),
    " ",
    e?.message ?? String(e),
    e?.requestId ? [" ", h("span", { class: "rid" }, `(request ${e.requestId})`)] : null,
  );
  el.hidden = false;
}
function clearError(el) {
  el.hidden = true;
  fill(el);
}
const errorBox = (e) => {
  const el = h("p", { class: "error", role: "alert" });
  showError(el, e);
  return el;
};

/** An action's outcome in a status line (`#tokens-status`, `#catalog-status`, …). */
function setStatus(el, text) {
  delete el.dataset.state;
  el.textContent = text;
}
/** A failed action in its status line: what failed, the error's code, message and request id. */
function setStatusError(el, what, e) {
  if (ignorable(e) || e?.expired) return;
  if (!(e instanceof ApiError)) console.error(e);
  el.dataset.state = "error";
  fill(el,
    `${what} failed: `,
    h("span", { class: "code" }, e instanceof ApiError ? e.code : "panel_error"),
    " ",
    e?.message ?? String(e),
    e?.requestId ? ` (request ${e.requestId})` : null,
  );
}
const isOperator = () => state.who?.operator === true;
const escapeCols = () => (isOperator() ? 6 : 5);

// ---------------------------------------------------------------------------------------
// Session

async function login(token) {
  state.token = token;
  const who = await api("v1/whoami", { login: true });
  if (!who || typeof who.tenant !== "string") throw new ApiError(0, "bad_response", "whoami answered without a tenant");
  sessionStorage.setItem(TOKEN_KEY, token);
  enter(who);
}

function enter(who) {
  state.who = who;
  const roles = Array.isArray(who.roles) ? [...who.roles] : [];
  if (who.admin && !roles.includes("admin")) roles.push("admin");
  $("#who").textContent = `${who.subject ?? "?"} @ ${who.tenant} (${roles.length ? roles.join(", ") : "no roles"})`;
  $("#session").hidden = false;
  $("#view-login").hidden = true;
  clearError($("#login-error"));
  $("#app").hidden = false;
  $("#filter-tenant-field").hidden = !who.admin;
  // What the server would refuse anyway is not offered: tokens to admins, blocking to operators.
  $('nav [data-view="tokens"]').hidden = !who.admin;
  for (const el of $$(".operator-only")) el.hidden = who.operator !== true;
  $("#verdict-tenant").placeholder = who.tenant;
  $("#verdict-subject").placeholder = who.subject ?? "";
  $("#verdict-roles").placeholder = roles.join(",");
  startStream();
  show(viewFromHash() ?? "live");
}

/** Ends the session: forgets the token, stops the stream and timers, clears every view. */
function logout(message) {
  state.epoch++;
  state.token = null;
  state.who = null;
  sessionStorage.removeItem(TOKEN_KEY);
  stopStream();
  stopHosts();
  state.hostsForbidden = false;
  state.view = null;
  resetViews();
  $("#app").hidden = true;
  $("#session").hidden = true;
  $("#who").textContent = "";
  $("#view-login").hidden = false;
  $("#token").value = "";
  const err = $("#login-error");
  if (message) {
    err.textContent = message;
    err.hidden = false;
  } else {
    clearError(err);
  }
  $("#token").focus();
}

function expire(e) {
  e.expired = true;
  if (!state.token) return;
  logout(`${e.code}: ${e.message}`);
}

function resetViews() {
  state.samples = [];
  state.pointsDrawn = 0;
  state.colours.clear();
  state.records.clear();
  state.calls = { cursor: null, stack: [], filters: null, loaded: false };
  state.tool = null;
  for (const id of ["chart-throughput", "chart-latency"]) {
    const c = document.getElementById(id);
    c.dataset.points = "0";
    if (id === "chart-throughput") c.dataset.lastCalls = "0";
  }
  drawCharts();
  fill($("#live-summary"));
  $("#live-status").textContent = "not connected";
  setRows($("#queue-table"), [], "No data yet.", 5);
  setRows($("#hosts-table"), [], "Not loaded yet.", 8);
  setRows($("#calls-table"), [], "Not loaded yet.", 9);
  setRows($("#escapes-table"), [], "Not loaded yet.", 5);
  setRows($("#quarantine-table"), [], "Not loaded yet.", 8);
  setRows($("#tokens-table"), [], "Not loaded yet.", 8);
  $('nav [data-view="tokens"]').hidden = true;
  for (const el of $$(".operator-only")) el.hidden = true;
  $("#unblock-name").value = "";
  fill($("#tool-list"), h("li", { class: "empty" }, "Not loaded yet."));
  fill($("#tool-detail"), h("p", { class: "hint" }, "Pick a tool."));
  fill($("#tool-functions"));
  $("#verdict-form").hidden = true;
  fill($("#verdict"));
  for (const id of ["calls-status", "escapes-status", "quarantine-status", "tokens-status", "catalog-status"]) {
    setStatus($(`#${id}`), "");
  }
  for (const el of $$("#app .error")) clearError(el);
  $("#calls-filter").reset();
  $("#calls-newer").disabled = true;
  $("#calls-older").disabled = true;
  hideDetail();
}

// ---------------------------------------------------------------------------------------
// Navigation

function viewFromHash() {
  const v = location.hash.replace(/^#/, "");
  return VIEWS.includes(v) ? v : null;
}

function show(view) {
  if (!state.token) return;
  if (!VIEWS.includes(view)) view = "live";
  if (view === "tokens" && !state.who?.admin) view = "live";
  const before = state.view;
  state.view = view;
  for (const v of VIEWS) $(`#view-${v}`).hidden = v !== view;
  for (const b of $$("nav [data-view]")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  if (before !== view) hideDetail();
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  if (view === "live") {
    drawCharts();
    startHosts();
  } else {
    stopHosts();
  }
  if (view === "calls") loadCalls();
  if (view === "escapes") loadEscapes();
  if (view === "quarantine") loadQuarantine();
  if (view === "catalog") loadTools();
  if (view === "tokens") loadTokens();
}

// ---------------------------------------------------------------------------------------
// Live: the event stream

function startStream() {
  stopStream();
  const ctl = new AbortController();
  state.stream = ctl;
  runStream(ctl.signal).catch((e) => {
    if (!ignorable(e)) console.error(e);
  });
}
function stopStream() {
  state.stream?.abort();
  state.stream = null;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/**
 * Reads `GET /v1/events` with fetch (EventSource cannot send a bearer token) and reconnects
 * with exponential backoff (1 s doubling to 30 s, with jitter; reset once an event arrives).
 */
async function runStream(signal) {
  let delay = 1000;
  let retryMs = 0;
  const status = $("#live-status");
  const errEl = $("#live-error");
  while (!signal.aborted) {
    try {
      status.textContent = "connecting…";
      const res = await fetch(new URL("v1/events", ROOT), {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        cache: "no-store",
        signal,
      });
      if (!res.ok) {
        const e = await errorOf(res);
        if (res.status === 401) { expire(e); return; }
        throw e;
      }
      if (!res.body) throw new ApiError(0, "unsupported", "this browser cannot read a streamed response");
      status.textContent = "connected, waiting for the first sample…";
      clearError(errEl);
      for await (const ev of sseEvents(res.body)) {
        if (signal.aborted) return;
        if (ev.retry !== undefined) retryMs = ev.retry;
        if (ev.event !== "stats" || !ev.data) continue;
        let sample;
        try {
          sample = JSON.parse(ev.data);
        } catch {
          console.warn("stats event with data that is not JSON", ev.data.slice(0, 200));
          continue;
        }
        delay = 1000;
        onStats(sample);
        status.textContent = `live · last sample ${fmtTime(sample.time_ms ?? Date.now())}`;
      }
      if (signal.aborted) return;
      throw new ApiError(0, "stream_closed", "the server closed the event stream");
    } catch (e) {
      if (signal.aborted || ignorable(e)) return;
      if (e instanceof ApiError) showError(errEl, e);
      else showError(errEl, new ApiError(0, "stream_error", e?.message ?? String(e)));
    }
    const wait = Math.max(delay, retryMs) * (0.8 + Math.random() * 0.4);
    status.textContent = `disconnected · retrying in ${(wait / 1000).toFixed(1)} s`;
    await sleep(wait, signal);
    delay = Math.min(delay * 2, 30_000);
  }
}

/**
 * Parses a text/event-stream body into `{event, data, id, retry}` events, per the
 * HTML Living Standard: lines end in CRLF, LF or CR; a blank line dispatches; lines
 * starting with ":" are comments (keep-alives); `data` lines join with "\n".
 */
async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let start = true;
  let lastWasCR = false;
  let event = "";
  let data = [];
  let id;
  let retry;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let chunk = value;
      if (start) {
        chunk = chunk.replace(/^\uFEFF/, "");
        start = false;
      }
      // A CRLF split across two chunks is one line end, not two.
      if (lastWasCR && chunk.startsWith("\n")) chunk = chunk.slice(1);
      lastWasCR = chunk.endsWith("\r");
      buf += chunk;
      const lines = buf.split(/\r\n|\r|\n/);
      buf = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (data.length) yield { event: event || "message", data: data.join("\n"), id, retry };
          event = "";
          data = [];
          retry = undefined;
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? "" : line.slice(colon + 1);
        if (v.startsWith(" ")) v = v.slice(1);
        if (field === "event") event = v;
        else if (field === "data") data.push(v);
        else if (field === "id" && !v.includes("\0")) id = v;
        else if (field === "retry" && /^\d+$/.test(v)) retry = Number(v);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

const seriesKey = (c) => `${c.tool ?? "?"}/${c.backend ?? "?"}`;
function colourOf(key) {
  if (!state.colours.has(key)) state.colours.set(key, PALETTE[state.colours.size % PALETTE.length]);
  return state.colours.get(key);
}

function onStats(s) {
  const calls = Array.isArray(s.calls) ? s.calls : [];
  const t = typeof s.time_ms === "number" ? s.time_ms : Date.now();
  state.samples.push({ t, calls });
  while (state.samples.length && state.samples[0].t < t - WINDOW_MS) state.samples.shift();
  for (const c of calls) colourOf(seriesKey(c));
  state.pointsDrawn++;
  drawCharts();
  const total = calls.reduce((n, c) => n + (Number(c.calls) || 0), 0);
  const tp = $("#chart-throughput");
  const lat = $("#chart-latency");
  tp.dataset.points = String(state.pointsDrawn);
  lat.dataset.points = String(state.pointsDrawn);
  tp.dataset.lastCalls = String(total);
  tp.setAttribute("aria-label", calls.length
    ? `Calls per second in the latest sample: ${calls.map((c) => `${seriesKey(c)} ${fmtNum(c.calls)}`).join(", ")}`
    : "Calls per second: no calls in the latest sample");
  lat.setAttribute("aria-label", calls.length
    ? `Latency in the latest sample: ${calls.map((c) => `${seriesKey(c)} p50 ${fmtNum(c.p50_ms)} ms, p99 ${fmtNum(c.p99_ms)} ms`).join("; ")}`
    : "Latency: no calls in the latest sample");
  renderQueue(Array.isArray(s.queue) ? s.queue : []);
  renderSummary(s, calls, total);
}

function renderQueue(queue) {
  const rows = [...queue]
    .sort((a, b) => (PRIORITY_ORDER[a.priority] ?? 9) - (PRIORITY_ORDER[b.priority] ?? 9) ||
      String(a.tenant).localeCompare(String(b.tenant)))
    .map((q) => h("tr", {},
      h("td", {}, q.priority ?? "—"),
      h("td", {}, q.tenant ?? "—"),
      h("td", { class: "num" }, fmtNum(q.depth)),
      h("td", { class: "num" }, fmtNum(q.started ?? 0)),
      h("td", { class: "num" }, fmtAge(q.max_wait_ms))));
  setRows($("#queue-table"), rows, "No jobs waiting.", 5);
}

function renderSummary(s, calls, total) {
  const errors = calls.reduce((n, c) => n + (Number(c.errors) || 0), 0);
  const escapes = s.escapes && typeof s.escapes === "object" ? Object.entries(s.escapes) : [];
  const escTotal = escapes.reduce((n, [, v]) => n + (Number(v) || 0), 0);
  const stat = (k, v, field) => h("div", { class: "stat", dataset: { field } }, h("span", { class: "v" }, v), h("span", { class: "k" }, k));
  fill($("#live-summary"),
    stat("instances running", fmtNum(s.instances ?? 0), "instances"),
    stat("calls, last second", fmtNum(total), "calls"),
    stat("errors, last second", fmtNum(errors), "errors"),
    stat("escape attempts", fmtNum(escTotal), "escapes"),
    // Only the kinds that happened: there are some twenty, most of them at zero.
    ...escapes.filter(([, n]) => Number(n) > 0).map(([kind, n]) => stat(kind, fmtNum(n), `escapes.${kind}`)),
  );
}

// ---------------------------------------------------------------------------------------
// Live: charts (hand-drawn on canvas)

function drawCharts() {
  const samples = state.samples;
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  const keys = [];
  for (const s of samples) for (const c of s.calls) {
    const k = seriesKey(c);
    if (!keys.includes(k)) keys.push(k);
  }
  keys.sort((a, b) => [...state.colours.keys()].indexOf(a) - [...state.colours.keys()].indexOf(b));

  // Throughput: a series missing from a sample had no calls in that second.
  const tpLines = keys.map((k) => ({
    colour: colourOf(k),
    dash: [],
    points: samples.map((s) => {
      const c = s.calls.find((x) => seriesKey(x) === k);
      return [s.t, c ? Number(c.calls) || 0 : 0];
    }),
  }));
  drawChart($("#chart-throughput"), {
    now, lines: tpLines, unit: "calls/s",
    legend: keys.map((k) => ({ label: k, colour: colourOf(k), dash: [] })),
    empty: samples.length ? "No calls in the last 120 s" : "Waiting for data…",
  });

  // Latency: a series missing from a sample has no latency then (a gap, not a zero).
  const latLines = [];
  for (const k of keys) {
    for (const [field, dash] of [["p50_ms", []], ["p99_ms", [5, 4]]]) {
      latLines.push({
        colour: colourOf(k),
        dash,
        points: samples.map((s) => {
          const c = s.calls.find((x) => seriesKey(x) === k);
          const v = c ? Number(c[field]) : NaN;
          return [s.t, Number.isFinite(v) ? v : null];
        }),
      });
    }
  }
  drawChart($("#chart-latency"), {
    now, lines: latLines, unit: "ms",
    legend: [
      ...keys.map((k) => ({ label: k, colour: colourOf(k), dash: [] })),
      ...(keys.length ? [{ label: "p50", colour: "#555", dash: [] }, { label: "p99", colour: "#555", dash: [5, 4] }] : []),
    ],
    empty: samples.length ? "No calls in the last 120 s" : "Waiting for data…",
  });
}

function niceStep(max, ticks) {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function drawChart(canvas, { now, lines, legend, unit, empty }) {
  const w = canvas.clientWidth;
  const hgt = canvas.clientHeight;
  if (!w || !hgt) return; // hidden: drawn again when its view is shown
  const dpr = window.devicePixelRatio || 1;
  const W = Math.round(w * dpr);
  const H = Math.round(hgt * dpr);
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  ctx.textBaseline = "middle";

  // Legend, wrapped onto as many rows as it needs.
  const left = 52;
  const right = w - 14;
  let lx = left;
  let ly = 9;
  for (const item of legend) {
    const width = 22 + ctx.measureText(item.label).width + 16;
    if (lx + width > right && lx > left) { lx = left; ly += 17; }
    ctx.strokeStyle = item.colour;
    ctx.lineWidth = 2.5;
    ctx.setLineDash(item.dash);
    ctx.beginPath();
    ctx.moveTo(lx, ly);
    ctx.lineTo(lx + 18, ly);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#1d232b";
    ctx.textAlign = "left";
    ctx.fillText(item.label, lx + 22, ly);
    lx += width;
  }
  const top = (legend.length ? ly + 16 : 10);
  const bottom = hgt - 24;
  if (bottom - top < 30) return;

  let max = 0;
  for (const l of lines) for (const [, v] of l.points) if (v != null && v > max) max = v;
  const step = niceStep(max > 0 ? max : 1, 4);
  const yMax = Math.max(step, Math.ceil((max > 0 ? max : 1) / step) * step);
  const t0 = now - WINDOW_MS;
  const x = (t) => left + ((t - t0) / WINDOW_MS) * (right - left);
  const y = (v) => bottom - (v / yMax) * (bottom - top);

  // Grid and y labels.
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  const decimals = step < 1 ? Math.min(3, Math.ceil(-Math.log10(step))) : 0;
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.strokeStyle = v === 0 ? "#8a94a0" : "#e6e9ee";
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(right, yy);
    ctx.stroke();
    ctx.fillStyle = "#5c6673";
    ctx.fillText(v.toFixed(decimals), left - 6, yy);
  }
  // Y axis and its unit.
  ctx.strokeStyle = "#8a94a0";
  ctx.beginPath();
  ctx.moveTo(left + 0.5, top);
  ctx.lineTo(left + 0.5, bottom);
  ctx.stroke();
  ctx.save();
  ctx.translate(12, (top + bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillStyle = "#5c6673";
  ctx.fillText(unit, 0, 0);
  ctx.restore();
  // X ticks every 30 s, relative to the latest sample.
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let s = -120; s <= 0; s += 30) {
    const xx = Math.round(x(now + s * 1000)) + 0.5;
    ctx.strokeStyle = "#8a94a0";
    ctx.beginPath();
    ctx.moveTo(xx, bottom);
    ctx.lineTo(xx, bottom + 4);
    ctx.stroke();
    ctx.fillStyle = "#5c6673";
    ctx.fillText(s === 0 ? "now" : `${s} s`, Math.min(Math.max(xx, left + 14), right - 12), bottom + 6);
  }

  const any = lines.some((l) => l.points.some(([, v]) => v != null && v > 0));
  if (!any) {
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#5c6673";
    ctx.fillText(empty, (left + right) / 2, (top + bottom) / 2);
  }

  // Series; a gap of more than 2.5 s between samples (a reconnect) breaks the line.
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top - 2, right - left + 2, bottom - top + 4);
  ctx.clip();
  for (const l of lines) {
    ctx.strokeStyle = l.colour;
    ctx.fillStyle = l.colour;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = "round";
    ctx.setLineDash(l.dash);
    ctx.beginPath();
    let prev = null;
    for (const [t, v] of l.points) {
      if (v == null) { prev = null; continue; }
      if (prev !== null && t - prev <= 2500) ctx.lineTo(x(t), y(v));
      else ctx.moveTo(x(t), y(v));
      prev = t;
    }
    ctx.stroke();
    // Points with no neighbour would be invisible as lines: mark them.
    l.points.forEach(([t, v], i) => {
      if (v == null) return;
      const before = l.points[i - 1];
      const after = l.points[i + 1];
      const joined = (o) => o && o[1] != null && Math.abs(o[0] - t) <= 2500;
      if (!joined(before) && !joined(after)) {
        ctx.setLineDash([]);
        ctx.beginPath();
        ctx.arc(x(t), y(v), 2.5, 0, Math.PI * 2);
        ctx.fill();
      }
    });
  }
  ctx.restore();
  ctx.setLineDash([]);
}

let redrawQueued = false;
const redraw = () => {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => { redrawQueued = false; drawCharts(); });
};

// Hosts, refreshed while Live is on screen.
function startHosts() {
  stopHosts();
  loadHosts();
  state.hostsTimer = setInterval(loadHosts, HOSTS_EVERY_MS);
}
function stopHosts() {
  clearInterval(state.hostsTimer);
  state.hostsTimer = null;
}
async function loadHosts() {
  if (state.hostsForbidden) return;
  const gen = ++state.gen.hosts;
  const errEl = $("#hosts-error");
  try {
    const { hosts = [] } = (await api("v1/hosts")) ?? {};
    if (gen !== state.gen.hosts) return;
    clearError(errEl);
    const now = Date.now();
    setRows($("#hosts-table"), hosts.map((x) => h("tr", { dataset: { hostId: x.id ?? "" } },
      h("td", {}, h("code", {}, x.id ?? "—")),
      h("td", {}, x.address ?? "—"),
      h("td", {}, x.version ?? "—"),
      h("td", { class: "num" }, fmtNum(x.running)),
      h("td", { class: "num" }, fmtNum(x.capacity)),
      h("td", {}, Array.isArray(x.tools) ? x.tools.join(", ") : "—"),
      h("td", { class: "time" }, timeEl(x.started_ms)),
      h("td", { class: "num" }, typeof x.heartbeat_ms === "number" ? fmtAge(now - x.heartbeat_ms) : "—"),
    )), "No hosts.", 8);
  } catch (e) {
    if (gen !== state.gen.hosts) return;
    if (e?.status === 403) {
      state.hostsForbidden = true;
      stopHosts();
    }
    showError(errEl, e);
  }
}

// ---------------------------------------------------------------------------------------
// Calls

function callFilters() {
  const since = $("#filter-since").value;
  return {
    tool: $("#filter-tool").value.trim(),
    tenant: state.who?.admin ? $("#filter-tenant").value.trim() : "",
    outcome: $("#filter-outcome").value,
    since: since ? Number(since) : null,
  };
}

/** Loads one page of at most 100 records: the newest, or the newest before `cursor`. */
async function loadCalls() {
  const gen = ++state.gen.calls;
  const table = $("#calls-table");
  const errEl = $("#calls-error");
  const { cursor, stack } = state.calls;
  const f = state.calls.filters ?? (state.calls.filters = callFilters());
  table.setAttribute("aria-busy", "true");
  $("#calls-status").textContent = "loading…";
  try {
    const page = await api("v1/audit", {
      query: {
        limit: PAGE,
        tool: f.tool,
        tenant: f.tenant,
        outcome: f.outcome,
        since_ms: f.since ? Date.now() - f.since : undefined,
        before_seq: cursor ?? undefined,
      },
    });
    if (gen !== state.gen.calls) return;
    const records = Array.isArray(page?.records) ? page.records : [];
    clearError(errEl);
    const newestFirst = [...records].reverse();
    setRows(table, newestFirst.map(callRow), "No matching calls.", 9);
    const seqs = records.map((r) => r.seq).filter((s) => typeof s === "number");
    const lo = Math.min(...seqs);
    const hi = Math.max(...seqs);
    $("#calls-status").textContent = records.length
      ? `${records.length} record${records.length === 1 ? "" : "s"}, newest first (seq ${lo}–${hi})${cursor != null ? `, page ${stack.length + 1}` : ""}`
      : "no records";
    state.calls.oldest = seqs.length ? lo : null;
    $("#calls-older").disabled = records.length < PAGE || !seqs.length;
    $("#calls-newer").disabled = stack.length === 0 && cursor == null;
    state.calls.loaded = true;
  } catch (e) {
    if (gen !== state.gen.calls) return;
    $("#calls-status").textContent = "";
    showError(errEl, e);
  } finally {
    if (gen === state.gen.calls) table.setAttribute("aria-busy", "false");
  }
}

/** Opens the record's detail on a click or Enter/Space on the row, but not on a control inside it. */
function rowOpener(record) {
  return {
    tabindex: "0",
    "aria-describedby": "row-hint",
    onclick: (ev) => {
      if (ev.target instanceof Element && ev.target.closest("button, a, input, select")) return;
      openDetail(record, ev.currentTarget);
    },
    onkeydown: (ev) => {
      if (ev.target !== ev.currentTarget) return;
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        openDetail(record, ev.currentTarget);
      }
    },
  };
}

function callRow(r) {
  if (typeof r.seq === "number") state.records.set(r.seq, r);
  return h("tr", {
    dataset: { requestId: r.request_id ?? "", seq: r.seq ?? "" },
    ...rowOpener(r),
  },
  h("td", { class: "time", dataset: { col: "time" } }, timeEl(r.time_ms)),
  h("td", { dataset: { col: "tenant" } }, r.tenant ?? "—"),
  h("td", { dataset: { col: "subject" } }, r.subject ?? "—"),
  h("td", { dataset: { col: "tool" } }, r.tool ?? "—"),
  h("td", { dataset: { col: "function" } }, r.function ?? "—"),
  h("td", { dataset: { col: "outcome" } }, badge(r.outcome)),
  h("td", { dataset: { col: "backend" } }, r.backend ?? "—"),
  h("td", { class: "num", dataset: { col: "wall_ms" } }, fmtMsFromUs(r.wall_time_us)),
  h("td", { class: "num", dataset: { col: "fuel" } }, fmtNum(r.fuel_used)));
}

// ---------------------------------------------------------------------------------------
// Call detail

const DETAIL_GROUPS = [
  ["Decision", ["outcome", "allowed", "reasons", "violations", "backend", "grants", "limits"]],
  ["Call", ["time_ms", "tenant", "subject", "tool", "function", "request_id", "trace_id"]],
  ["Consumption", ["wall_time_us", "fuel_used", "peak_memory_bytes", "output_bytes"]],
  ["Integrity", ["policy_hash", "args_digest", "seq", "prev_hash", "hash"]],
];
const LABELS = {
  outcome: "Outcome", allowed: "Allowed by policy", reasons: "Reasons", violations: "Violations",
  backend: "Backend", grants: "Grants", limits: "Limits", time_ms: "Time", tenant: "Tenant",
  subject: "Subject", tool: "Tool", function: "Function", request_id: "Request id", trace_id: "Trace id",
  wall_time_us: "Wall time", fuel_used: "Fuel", peak_memory_bytes: "Peak memory", output_bytes: "Output",
  policy_hash: "Policy hash", args_digest: "Arguments digest", seq: "Chain position (seq)",
  prev_hash: "Previous hash", hash: "Record hash",
};

function detailValue(key, v) {
  if (v === undefined || v === null) return absent();
  switch (key) {
    case "outcome": return badge(v);
    case "allowed": return v === true ? "yes" : v === false ? "no" : String(v);
    case "reasons":
      return Array.isArray(v) && v.length ? h("ul", {}, v.map((x) => h("li", {}, typeof x === "string" ? x : JSON.stringify(x)))) : absent();
    case "violations": {
      if (!Array.isArray(v) || !v.length) return absent();
      const cols = [...new Set(v.flatMap((x) => (x && typeof x === "object" ? Object.keys(x) : [])))];
      return h("table", { class: "kv" },
        h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, v.map((x) => h("tr", {}, cols.map((c) => h("td", {}, renderValue(x?.[c])))))));
    }
    case "grants":
    case "limits": return renderValue(v);
    case "time_ms": return h("span", {}, timeEl(v), ` (${v} ms since the epoch)`);
    case "wall_time_us": return `${fmtMsFromUs(v)} ms (${fmtNum(v)} µs)`;
    case "peak_memory_bytes":
    case "output_bytes": return fmtBytes(v);
    case "request_id":
    case "trace_id":
    case "policy_hash":
    case "args_digest":
    case "prev_hash":
    case "hash": return h("code", {}, String(v));
    default: return renderValue(v);
  }
}

function openDetail(record, row) {
  for (const r of $$("tr.selected")) r.classList.remove("selected");
  row?.classList.add("selected");
  const known = new Set(DETAIL_GROUPS.flatMap(([, keys]) => keys));
  const groups = DETAIL_GROUPS.map(([title, keys]) => [title, keys]);
  const extra = Object.keys(record).filter((k) => !known.has(k));
  if (extra.length) groups.push(["Other fields", extra]);
  const body = groups.map(([title, keys]) => [
    h("h3", {}, title),
    h("dl", {}, keys.flatMap((k) => [
      h("dt", {}, LABELS[k] ?? k),
      h("dd", { dataset: { field: k } }, detailValue(k, record[k])),
    ])),
  ]);
  $("#detail-title").textContent = `Call ${record.request_id ?? `seq ${record.seq}`}`;
  fill($("#detail-body"), ...body.flat());
  const aside = $("#call-detail");
  aside.hidden = false;
  aside.scrollIntoView({ block: "nearest" });
}

function hideDetail() {
  $("#call-detail").hidden = true;
  fill($("#detail-body"));
  for (const r of $$("tr.selected")) r.classList.remove("selected");
}

// ---------------------------------------------------------------------------------------
// Escapes

async function loadEscapes() {
  const gen = ++state.gen.escapes;
  const table = $("#escapes-table");
  const errEl = $("#escapes-error");
  table.setAttribute("aria-busy", "true");
  setStatus($("#escapes-status"), "loading…");
  try {
    const page = await api("v1/audit", { query: { escapes: "true", limit: PAGE } });
    if (gen !== state.gen.escapes) return;
    const records = Array.isArray(page?.records) ? [...page.records].reverse() : [];
    clearError(errEl);
    setRows(table, records.map(escapeRow), "No escape attempts recorded.", escapeCols());
    setStatus($("#escapes-status"), `${records.length} record${records.length === 1 ? "" : "s"}, newest first`);
  } catch (e) {
    if (gen !== state.gen.escapes) return;
    setStatus($("#escapes-status"), "");
    showError(errEl, e);
  } finally {
    if (gen === state.gen.escapes) table.setAttribute("aria-busy", "false");
  }
}

function escapeRow(r) {
  if (typeof r.seq === "number") state.records.set(r.seq, r);
  const vs = Array.isArray(r.violations) ? r.violations : [];
  const kinds = [...new Set(vs.map((v) => v?.kind).filter(Boolean))];
  return h("tr", {
    dataset: { requestId: r.request_id ?? "", seq: r.seq ?? "" },
    ...rowOpener(r),
  },
  h("td", { class: "time", dataset: { col: "time" } }, timeEl(r.time_ms)),
  h("td", { dataset: { col: "tenant" } }, r.tenant ?? "—"),
  h("td", { dataset: { col: "tool" } }, r.tool ?? "—"),
  h("td", { dataset: { col: "kind" } }, kinds.length ? kinds.map((k) => h("span", { class: "badge refused" }, k)) : "—"),
  h("td", { dataset: { col: "target" } }, vs.length
    ? h("ul", {}, vs.map((v) => h("li", {},
      v?.operation ? `${v.operation}: ` : "",
      h("code", {}, v?.path ?? v?.host ?? v?.target ?? "")))) : "—"),
  isOperator() ? h("td", { dataset: { col: "actions" } }, r.tool ? h("button", {
    type: "button",
    class: "block danger",
    dataset: { tool: r.tool },
    "aria-label": `Take ${r.tool} out of service`,
    onclick: () => setBlocked(r.tool, true, $("#escapes-status")),
  }, "Block tool") : null) : null);
}

// ---------------------------------------------------------------------------------------
// Quarantine

async function loadQuarantine() {
  const gen = ++state.gen.quarantine;
  const table = $("#quarantine-table");
  const errEl = $("#quarantine-error");
  table.setAttribute("aria-busy", "true");
  try {
    const { jobs = [] } = (await api("v1/quarantine")) ?? {};
    if (gen !== state.gen.quarantine) return;
    clearError(errEl);
    setRows(table, jobs.map(jobRow), "No quarantined jobs.", 8);
  } catch (e) {
    if (gen !== state.gen.quarantine) return;
    showError(errEl, e);
  } finally {
    if (gen === state.gen.quarantine) table.setAttribute("aria-busy", "false");
  }
}

function jobRow(j) {
  const err = j.error ?? {};
  const vs = Array.isArray(err.violations) ? err.violations : [];
  return h("tr", { dataset: { jobId: j.id ?? "" } },
    h("td", {}, h("code", {}, j.id ?? "—"), h("div", { class: "absent" }, `${j.priority ?? ""} · submitted `, timeEl(j.submitted_ms))),
    h("td", {}, j.tool ?? "—"),
    h("td", {}, j.function ?? "—"),
    h("td", {}, j.tenant ?? "—"),
    h("td", {},
      err.code ? badge(err.code) : "—", " ", err.message ?? "",
      vs.length ? h("ul", {}, vs.map((v) => h("li", {}, `${v?.kind ?? "?"}: ${v?.path ?? v?.host ?? v?.operation ?? ""}`))) : null,
      err.request_id ? h("div", { class: "absent" }, `request ${err.request_id}`) : null),
    h("td", { class: "num" }, fmtNum(j.attempts)),
    h("td", { class: "time" }, timeEl(j.finished_ms)),
    h("td", {},
      h("button", { type: "button", class: "release", "aria-label": `Release job ${j.id}`, onclick: () => actOnJob(j.id, "release") }, "Release"),
      " ",
      h("button", { type: "button", class: "discard danger", "aria-label": `Discard job ${j.id}`, onclick: () => actOnJob(j.id, "discard") }, "Discard")));
}

async function actOnJob(id, action) {
  const statusEl = $("#quarantine-status");
  const errEl = $("#quarantine-error");
  if (action === "discard" && !confirm(`Discard quarantined job ${id}? It will not run again and cannot be recovered.`)) return;
  const row = $$("#quarantine-table tr[data-job-id]").find((r) => r.dataset.jobId === id);
  for (const b of row ? $$("button", row) : []) b.disabled = true;
  clearError(errEl);
  let failure = null;
  statusEl.textContent = action === "release" ? `Releasing ${id}…` : `Discarding ${id}…`;
  try {
    const path = `v1/quarantine/${encodeURIComponent(id)}`;
    const res = action === "release"
      ? await api(`${path}/release`, { method: "POST" })
      : await api(path, { method: "DELETE" });
    const done = res?.action ?? (action === "release" ? "released" : "discarded");
    statusEl.textContent = done === "released"
      ? `Job ${res?.id ?? id} released: it runs once more, and that outcome stands.`
      : `Job ${res?.id ?? id} ${done}.`;
  } catch (e) {
    if (ignorable(e)) return;
    statusEl.textContent = `${action === "release" ? "Release" : "Discard"} of ${id} failed.`;
    failure = e;
  }
  await loadQuarantine();
  // The reload clears the error box when it succeeds: the action's error goes back in after it.
  if (failure) showError(errEl, failure);
}

// ---------------------------------------------------------------------------------------
// Catalog

/** Loads the catalog list; answers the names listed, or null when it failed or was superseded. */
async function loadTools() {
  const gen = ++state.gen.tools;
  const errEl = $("#catalog-error");
  const list = $("#tool-list");
  list.setAttribute("aria-busy", "true");
  try {
    const { tools = [] } = (await api("v1/tools")) ?? {};
    if (gen !== state.gen.tools) return null;
    clearError(errEl);
    fill(list, ...(tools.length ? tools.map((t) => h("li", {},
      h("button", {
        type: "button",
        "aria-pressed": t.name === state.tool ? "true" : "false",
        dataset: { tool: t.name },
        onclick: () => loadTool(t.name),
      }, t.name, " ", h("span", { class: "absent" }, t.version ?? ""), h("span", { class: "desc" }, t.description ?? "")))) :
      [h("li", { class: "empty" }, "No tools you may call.")]));
    return tools.map((t) => t.name);
  } catch (e) {
    if (gen !== state.gen.tools) return null;
    showError(errEl, e);
    return null;
  } finally {
    if (gen === state.gen.tools) list.setAttribute("aria-busy", "false");
  }
}

async function loadTool(name) {
  const gen = ++state.gen.tool;
  state.tool = name;
  for (const b of $$("#tool-list button")) b.setAttribute("aria-pressed", b.dataset.tool === name ? "true" : "false");
  const detail = $("#tool-detail");
  detail.setAttribute("aria-busy", "true");
  fill($("#verdict"));
  try {
    const t = await api(`v1/tools/${encodeURIComponent(name)}`);
    if (gen !== state.gen.tool) return;
    const facts = Object.entries(t ?? {}).filter(([k]) => !["name", "version", "description", "functions"].includes(k));
    const fns = Array.isArray(t?.functions) ? t.functions : [];
    fill(detail,
      h("h3", {}, t?.name ?? name, " ", h("span", { class: "absent" }, t?.version ?? "")),
      t?.description ? h("p", {}, t.description) : null,
      isOperator() ? h("p", {}, h("button", {
        type: "button",
        id: "block-tool",
        class: "danger",
        onclick: () => setBlocked(t?.name ?? name, true, $("#catalog-status")),
      }, "Take out of service")) : null,
      facts.length ? renderValue(Object.fromEntries(facts)) : null,
      h("p", { class: "absent" }, `${fns.length} function${fns.length === 1 ? "" : "s"}`),
    );
    fill($("#tool-functions"),
      fns.map((f) => {
        const rest = Object.entries(f).filter(([k]) => !["name", "description", "input_schema", "output_schema"].includes(k));
        return h("div", { class: "fn", dataset: { function: f.name ?? "" } },
          h("h4", {}, f.name ?? "?"),
          f.description ? h("p", { class: "pre-wrap" }, f.description) : null,
          rest.length ? renderValue(Object.fromEntries(rest)) : null,
          h("div", { class: "schemas" },
            h("div", {}, h("strong", {}, "Input schema"), h("pre", { dataset: { schema: "input" } }, JSON.stringify(f.input_schema ?? null, null, 2))),
            h("div", {}, h("strong", {}, "Output schema"), h("pre", { dataset: { schema: "output" } }, JSON.stringify(f.output_schema ?? null, null, 2)))));
      }),
    );
    $("#verdict-form").hidden = false;
  } catch (e) {
    if (gen !== state.gen.tool) return;
    fill(detail, errorBox(e));
    fill($("#tool-functions"));
    $("#verdict-form").hidden = true;
  } finally {
    if (gen === state.gen.tool) detail.setAttribute("aria-busy", "false");
  }
}

async function checkVerdict() {
  const name = state.tool;
  const out = $("#verdict");
  if (!name) return;
  const gen = ++state.gen.verdict;
  const roles = $("#verdict-roles").value.split(",").map((s) => s.trim()).filter(Boolean).join(",");
  fill(out, h("p", { class: "absent" }, "checking…"));
  try {
    const v = await api(`v1/tools/${encodeURIComponent(name)}/verdict`, {
      query: {
        tenant: $("#verdict-tenant").value.trim(),
        subject: $("#verdict-subject").value.trim(),
        roles,
      },
    });
    if (gen !== state.gen.verdict) return;
    const fns = Array.isArray(v?.functions) ? v.functions : [];
    fill(out, h("table", { id: "verdict-table" },
      h("thead", {}, h("tr", {}, ["Function", "Verdict", "Reasons", "Backend", "Grants", "Limits"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, fns.length ? fns.map((f) => h("tr", { dataset: { function: f.name ?? "" } },
        h("td", {}, h("code", {}, f.name ?? "?")),
        h("td", {}, h("span", { class: `badge ${f.allow ? "ok" : "refused"}` }, f.allow ? "allow" : "deny")),
        h("td", {}, detailValue("reasons", f.reasons)),
        h("td", {}, f.backend ?? "—"),
        h("td", {}, renderValue(f.grants)),
        h("td", {}, renderValue(f.limits)))) :
        h("tr", { class: "empty" }, h("td", { colspan: 6 }, "No functions.")))));
  } catch (e) {
    if (gen !== state.gen.verdict) return;
    if (e instanceof ApiError && e.status === 404 && e.code === "not_found" && /route/i.test(e.message)) {
      fill(out, h("p", { class: "absent", dataset: { unavailable: "true" } }, "Verdicts are not available on this server."));
    } else {
      fill(out, errorBox(e));
    }
  }
}

/**
 * Takes a tool out of service on this host (`blocked`), or back, reporting in `statusEl`,
 * then reloads the catalog list until it shows the change (the server applies it within a
 * fraction of a second).
 */
async function setBlocked(name, blocked, statusEl) {
  if (!name) return;
  if (blocked && !confirm(`Take ${name} out of service on this host?\n\n` +
    `It leaves the catalog and every call to it is refused with tool_blocked until it is unblocked (Catalog, Unblock).`)) return;
  const what = `${blocked ? "Blocking" : "Unblocking"} ${name}`;
  setStatus(statusEl, `${what}…`);
  try {
    const res = await api(`v1/tools/${encodeURIComponent(name)}/block`, { method: blocked ? "POST" : "DELETE" });
    const done = res?.status ?? (blocked ? "blocked" : "unblocked");
    setStatus(statusEl, blocked
      ? `Tool ${res?.name ?? name} ${done}: out of service on this host, its calls are refused with tool_blocked.`
      : `Tool ${res?.name ?? name} ${done}: back in service.`);
  } catch (e) {
    if (ignorable(e)) return;
    setStatusError(statusEl, what, e);
    await loadTools();
    return;
  }
  if (blocked) {
    $("#unblock-name").value = name;
    if (state.tool === name) {
      state.gen.tool++;
      state.gen.verdict++;
      state.tool = null;
      fill($("#tool-detail"), h("p", { class: "hint" }, `${name} is out of service on this host. Unblock it by name above.`));
      fill($("#tool-functions"));
      fill($("#verdict"));
      $("#verdict-form").hidden = true;
    }
  } else if ($("#unblock-name").value.trim() === name) {
    $("#unblock-name").value = "";
  }
  for (let i = 0; i < 12 && state.token; i++) {
    const names = await loadTools();
    if (names === null || names.includes(name) !== blocked) break;
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------
// Tokens (admins): metadata only, the server never sends a secret

async function loadTokens() {
  const gen = ++state.gen.tokens;
  const table = $("#tokens-table");
  const errEl = $("#tokens-error");
  table.setAttribute("aria-busy", "true");
  try {
    const { tokens = [] } = (await api("v1/tokens")) ?? {};
    if (gen !== state.gen.tokens) return;
    clearError(errEl);
    const sorted = [...tokens].sort((a, b) => (Number(b.created_ms) || 0) - (Number(a.created_ms) || 0));
    setRows(table, sorted.map(tokenRow), "No tokens.", 8);
  } catch (e) {
    if (gen !== state.gen.tokens) return;
    showError(errEl, e);
  } finally {
    if (gen === state.gen.tokens) table.setAttribute("aria-busy", "false");
  }
}

/** One token's row: only the fields named here reach the page, whatever else the server sends. */
function tokenRow(t) {
  const revoked = typeof t.revoked_ms === "number";
  const expired = typeof t.expires_ms === "number" && t.expires_ms <= Date.now();
  const roles = Array.isArray(t.roles) ? t.roles : [];
  return h("tr", { dataset: { tokenId: t.id ?? "" }, class: revoked || expired ? "inactive" : null },
    h("td", { dataset: { col: "id" } }, h("code", {}, t.id ?? "—")),
    h("td", { dataset: { col: "tenant" } }, t.tenant ?? "—"),
    h("td", { dataset: { col: "subject" } }, t.subject ?? "—"),
    h("td", { dataset: { col: "roles" } }, roles.length ? roles.join(", ") : h("span", { class: "absent" }, "none")),
    h("td", { class: "time", dataset: { col: "created" } }, timeEl(t.created_ms)),
    h("td", { class: "time", dataset: { col: "expires" } }, typeof t.expires_ms === "number"
      ? [timeEl(t.expires_ms), expired ? h("span", { class: "absent" }, " (expired)") : null]
      : h("span", { class: "absent" }, "never")),
    h("td", { class: "time", dataset: { col: "revoked" } }, revoked ? timeEl(t.revoked_ms) : absent()),
    h("td", { dataset: { col: "actions" } }, revoked ? null : h("button", {
      type: "button",
      class: "revoke danger",
      "aria-label": `Revoke token ${t.id} (${t.subject ?? "?"} @ ${t.tenant ?? "?"})`,
      onclick: () => revokeToken(t),
    }, "Revoke")));
}

async function revokeToken(t) {
  const id = t.id;
  if (!id) return;
  const who = `${t.subject ?? "?"} @ ${t.tenant ?? "?"}`;
  if (!confirm(`Revoke token ${id} (${who})?\n\nAnything using it gets 401 from now on. This cannot be undone.`)) return;
  const statusEl = $("#tokens-status");
  const row = $$("#tokens-table tr[data-token-id]").find((r) => r.dataset.tokenId === id);
  for (const b of row ? $$("button", row) : []) b.disabled = true;
  setStatus(statusEl, `Revoking ${id}…`);
  try {
    const res = await api(`v1/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
    setStatus(statusEl, `Token ${res?.id ?? id} (${who}) ${res?.status ?? "revoked"}: it gets 401 from now on.`);
  } catch (e) {
    if (ignorable(e)) return;
    setStatusError(statusEl, `Revoking ${id}`, e);
  }
  await loadTokens();
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const token = $("#token").value.trim();
    const err = $("#login-error");
    if (!token) return;
    const btn = $("#login");
    btn.disabled = true;
    clearError(err);
    try {
      await login(token);
    } catch (e) {
      state.token = null;
      showError(err, e);
      $("#token").select();
    } finally {
      btn.disabled = false;
    }
  });
  $("#logout").addEventListener("click", () => logout());
  for (const b of $$("nav [data-view]")) b.addEventListener("click", () => show(b.dataset.view));
  addEventListener("hashchange", () => {
    const v = viewFromHash();
    if (v && v !== state.view) show(v);
  });

  $("#calls-filter").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.calls = { cursor: null, stack: [], filters: callFilters(), loaded: false };
    hideDetail();
    loadCalls();
  });
  $("#calls-older").addEventListener("click", () => {
    if (state.calls.oldest == null) return;
    state.calls.stack.push(state.calls.cursor);
    state.calls.cursor = state.calls.oldest;
    hideDetail();
    loadCalls();
  });
  $("#calls-newer").addEventListener("click", () => {
    // The page above this one is the one we came from: its cursor is on the stack.
    state.calls.cursor = state.calls.stack.length ? state.calls.stack.pop() : null;
    hideDetail();
    loadCalls();
  });
  $("#escapes-reload").addEventListener("click", loadEscapes);
  $("#quarantine-reload").addEventListener("click", () => {
    $("#quarantine-status").textContent = "";
    loadQuarantine();
  });
  $("#detail-close").addEventListener("click", hideDetail);
  addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("#call-detail").hidden) hideDetail();
  });
  $("#verdict-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    checkVerdict();
  });
  $("#unblock-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("#unblock-name").value.trim();
    if (!name) return;
    const btn = $("#unblock");
    btn.disabled = true;
    try {
      await setBlocked(name, false, $("#catalog-status"));
    } finally {
      btn.disabled = false;
    }
  });
  $("#tokens-reload").addEventListener("click", () => {
    setStatus($("#tokens-status"), "");
    loadTokens();
  });

  if ("ResizeObserver" in window) {
    const ro = new ResizeObserver(redraw);
    ro.observe($("#chart-throughput"));
    ro.observe($("#chart-latency"));
  } else {
    addEventListener("resize", redraw);
  }
}

async function boot() {
  wire();
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) {
    $("#token").focus();
    return;
  }
  // A reload: resume the session if the token still works.
  $("#view-login").hidden = true;
  try {
    await login(saved);
  } catch (e) {
    state.token = null;
    $("#view-login").hidden = false;
    if (e?.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    showError($("#login-error"), e);
  }
}

boot();
