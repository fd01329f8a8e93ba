// Drives the operations panel of `cordon serve` in headless Chromium with playwright-core,
// the way an operator uses it: log in, watch live throughput, find a refused call and its
// detail, release a quarantined job, revoke a token, block a tool from the Escapes view and
// unblock it from the Catalog.
//
// The end-to-end harness starts the server, creates a path_escape refusal (tool fs), a
// quarantined job and a token for subject `victim` in tenant `local` (which it checks gets
// 401 afterwards), then runs `node tests/panel/panel.mjs` with:
//   CORDON_URL       the server, e.g. http://127.0.0.1:PORT
//   CORDON_TOKEN     an admin token
//   PLAYWRIGHT_CORE  a directory whose node_modules holds playwright-core
//   CHROMIUM         the browser binary, e.g. /usr/bin/chromium
//   SCREENSHOTS      a directory for NN-step.png screenshots
// It prints one JSON line, {"ok":true,"first_contentful_paint_ms":N,
// "baseline_first_contentful_paint_ms":N,"steps":[...]} (the baseline: the same server's
// /healthz in the same browser) and
// exits 0, or {"ok":false,"step":"...","error":"..."} (after a screenshot) and exits 1.

import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const STEP_TIMEOUT_MS = 15_000;
// Waits inside a step give up first, so a failure names what it was waiting for.
const WAIT_MS = STEP_TIMEOUT_MS - 1_500;

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.log(JSON.stringify({ ok: false, step: "setup", error: `${name} is not set` }));
    process.exit(1);
  }
  return v;
}

let current = "setup";
let page = null;
let browser = null;
const pageErrors = [];
const shots = env("SCREENSHOTS");

async function fail(step, error) {
  if (page) {
    await page
      .screenshot({ path: join(shots, "99-failure.png"), fullPage: true, timeout: 5_000 })
      .catch(() => {});
  }
  console.log(JSON.stringify({ ok: false, step, error: String(error?.message ?? error), page_errors: pageErrors }));
  await browser?.close().catch(() => {});
  process.exit(1);
}

const base = env("CORDON_URL").replace(/\/+$/, "");
const token = env("CORDON_TOKEN");
const chromium = env("CHROMIUM");
const pwDir = join(env("PLAYWRIGHT_CORE"), "node_modules", "playwright-core");
mkdirSync(shots, { recursive: true });

// playwright-core lives outside this repository's tree: load it by absolute path.
let pw;
try {
  if (existsSync(join(pwDir, "index.mjs"))) {
    pw = await import(pathToFileURL(join(pwDir, "index.mjs")).href);
  } else {
    pw = createRequire(join(pwDir, "package.json"))(join(pwDir, "index.js"));
  }
} catch (e) {
  await fail("setup", `cannot load playwright-core from ${pwDir}: ${e.message}`);
}

const steps = [];
/** Runs one step under a deadline, then screenshots it as NN-name.png. */
async function step(n, name, fn) {
  current = name;
  const started = Date.now();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`step took longer than ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
  });
  try {
    const details = await Promise.race([fn(), deadline]);
    await page.screenshot({ path: join(shots, `${String(n).padStart(2, "0")}-${name}.png`), fullPage: true });
    steps.push({ step: name, ms: Date.now() - started, ...(details ?? {}) });
  } finally {
    clearTimeout(timer);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** One synchronous tool call from outside the browser, as a client would make it. */
async function callTool() {
  const res = await fetch(`${base}/v1/tools/text-analysis/call`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ function: "sentiment", arguments: { text: "great" } }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The names `GET /v1/tools` lists for the token, from outside the browser. */
async function listedTools() {
  const res = await fetch(`${base}/v1/tools`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => null);
  assert(res.ok, `GET /v1/tools answered ${res.status}`);
  return (body?.tools ?? []).map((t) => t.name);
}

/** Polls `GET /v1/tools` until `name` is listed (or not), for at most 5 s; answers the ms it took. */
async function untilListed(name, listed) {
  const started = Date.now();
  for (;;) {
    const names = await listedTools();
    if (names.includes(name) === listed) return Date.now() - started;
    assert(Date.now() - started < 5_000,
      `${name} is ${listed ? "still not" : "still"} listed by GET /v1/tools after 5 s (${names.join(", ")})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the table's latest load has finished (the panel sets aria-busy while loading). */
async function settled(selector) {
  await page.waitForFunction(
    (sel) => {
      const t = document.querySelector(sel);
      return t && t.getAttribute("aria-busy") === "false";
    },
    selector,
    { timeout: WAIT_MS, polling: 50 },
  );
}

let fcp = null;
let baselineFcp = null;
try {
  browser = await pw.chromium.launch({ executablePath: chromium, headless: true, args: ["--no-sandbox"] });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on("pageerror", (e) => pageErrors.push(String(e?.message ?? e)));
  // The panel confirms destructive actions with confirm(): accept, and keep what it asked.
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push({ type: d.type(), message: d.message() });
    d.accept().catch(() => {});
  });

  // The comparison point for the panel's first paint, in the same browser and run: the
  // same server's /healthz, a page of one line of text. Loaded once before it is measured,
  // so that neither page pays for the browser's first navigation.
  await step(0, "baseline", async () => {
    await page.goto(`${base}/healthz`, { waitUntil: "load" });
    const res = await page.goto(`${base}/healthz`, { waitUntil: "load" });
    assert(res && res.ok(), `GET /healthz answered ${res?.status()}`);
    await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0, null, {
      timeout: 5_000,
    });
    baselineFcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0].startTime);
    return { baseline_first_contentful_paint_ms: Math.round(baselineFcp) };
  });

  await step(1, "open", async () => {
    const res = await page.goto(`${base}/`, { waitUntil: "load" });
    assert(res && res.ok(), `GET / answered ${res?.status()}`);
    await page.waitForFunction(() => performance.getEntriesByName("first-contentful-paint").length > 0, null, {
      timeout: 5_000,
    });
    fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0].startTime);
    assert(await page.isVisible("#token"), "the login form is not shown");
    return { first_contentful_paint_ms: Math.round(fcp) };
  });

  await step(2, "login", async () => {
    await page.fill("#token", token);
    await page.click("#login");
    await page.waitForFunction(
      () => document.querySelector("#who")?.textContent || !document.querySelector("#login-error")?.hidden,
      null,
      { timeout: WAIT_MS },
    );
    const refused = await page.evaluate(() => {
      const e = document.querySelector("#login-error");
      return e && !e.hidden ? e.textContent.trim() : null;
    });
    assert(refused === null, `login refused: ${refused}`);
    const who = (await page.textContent("#who")).trim();
    assert(/admin/.test(who), `#who does not mention admin: ${JSON.stringify(who)}`);
    assert(await page.isHidden("#token"), "the login form is still shown after logging in");
    return { who };
  });

  await step(3, "live", async () => {
    await page.click('nav [data-view="live"]');
    await page.waitForSelector("#view-live:not([hidden])");
    // Record every sample's total as the panel sets it, so none is missed between polls.
    const start = await page.evaluate(() => {
      const c = document.querySelector("#chart-throughput");
      window.__panelTest = { maxLastCalls: Number(c.dataset.lastCalls) || 0 };
      new MutationObserver(() => {
        window.__panelTest.maxLastCalls = Math.max(window.__panelTest.maxLastCalls, Number(c.dataset.lastCalls) || 0);
      }).observe(c, { attributes: true, attributeFilter: ["data-points", "data-last-calls"] });
      return Number(c.dataset.points) || 0;
    });
    const statuses = [];
    for (let i = 0; i < 20; i++) {
      statuses.push(await callTool());
      await new Promise((r) => setTimeout(r, 150));
    }
    const ok = statuses.filter((s) => s === 200).length;
    assert(ok > 0, `none of the 20 calls succeeded (statuses ${[...new Set(statuses)].join(", ")})`);
    await page.waitForFunction(
      (from) => {
        const c = document.querySelector("#chart-throughput");
        return (Number(c.dataset.points) || 0) >= from + 2 && window.__panelTest.maxLastCalls > 0;
      },
      start,
      { timeout: WAIT_MS, polling: 100 },
    );
    const seen = await page.evaluate(() => ({
      points: Number(document.querySelector("#chart-throughput").dataset.points),
      latency_points: Number(document.querySelector("#chart-latency").dataset.points),
      max_last_calls: window.__panelTest.maxLastCalls,
    }));
    assert(seen.latency_points >= start + 2, "the latency chart did not advance with the throughput chart");
    return { calls_made: 20, calls_ok: ok, points_before: start, ...seen };
  });

  await step(4, "calls", async () => {
    await page.click('nav [data-view="calls"]');
    await page.waitForSelector("#view-calls:not([hidden])");
    await settled("#calls-table");
    await page.selectOption("#filter-outcome", "path_escape");
    await page.click("#filter-apply");
    await settled("#calls-table");
    const outcomes = await page.$$eval("#calls-table tbody tr[data-request-id]", (rows) =>
      rows.map((r) => r.querySelector('[data-col="outcome"]')?.textContent.trim()),
    );
    assert(outcomes.length >= 1, "no call with outcome path_escape is listed");
    const other = outcomes.filter((o) => o !== "path_escape");
    assert(other.length === 0, `the filter let through other outcomes: ${[...new Set(other)].join(", ")}`);
    const requestId = await page.getAttribute("#calls-table tbody tr[data-request-id] >> nth=0", "data-request-id");
    await page.click("#calls-table tbody tr[data-request-id] >> nth=0");
    await page.waitForSelector("#call-detail:not([hidden])");
    const detail = await page.evaluate(() => {
      const f = (k) => document.querySelector(`#call-detail [data-field="${k}"]`);
      return {
        outcome: f("outcome")?.textContent.trim(),
        reasons: f("reasons") ? f("reasons").querySelectorAll("li").length : -1,
        trace_id: f("trace_id")?.textContent.trim() ?? "",
        request_id: f("request_id")?.textContent.trim() ?? "",
      };
    });
    assert(detail.outcome === "path_escape", `the detail's outcome is ${JSON.stringify(detail.outcome)}`);
    assert(detail.reasons >= 1, "the detail lists no reasons");
    assert(detail.trace_id && detail.trace_id !== "—", "the detail has no trace id");
    assert(detail.request_id === requestId, `the detail shows ${detail.request_id}, the row was ${requestId}`);
    return { rows: outcomes.length, request_id: requestId, reasons: detail.reasons };
  });

  await step(5, "quarantine", async () => {
    await page.click('nav [data-view="quarantine"]');
    await page.waitForSelector("#view-quarantine:not([hidden])");
    await settled("#quarantine-table");
    const rows = "#quarantine-table tbody tr[data-job-id]";
    const before = await page.locator(rows).count();
    assert(before >= 1, "no quarantined job is listed");
    const jobId = await page.getAttribute(`${rows} >> nth=0`, "data-job-id");
    await page.click(`${rows} >> nth=0 >> button.release`);
    await page.waitForFunction(
      () => /released/i.test(document.querySelector("#quarantine-status")?.textContent ?? ""),
      null,
      { timeout: WAIT_MS },
    );
    await page.waitForFunction(
      ({ sel, n }) => document.querySelector("#quarantine-table").getAttribute("aria-busy") === "false" &&
        document.querySelectorAll(sel).length < n,
      { sel: rows, n: before },
      { timeout: WAIT_MS, polling: 50 },
    );
    const after = await page.locator(rows).count();
    const status = (await page.textContent("#quarantine-status")).trim();
    return { job_id: jobId, rows_before: before, rows_after: after, status };
  });

  await step(6, "tokens", async () => {
    await page.click('nav [data-view="tokens"]');
    await page.waitForSelector("#view-tokens:not([hidden])");
    await settled("#tokens-table");
    const tokens = await page.$$eval("#tokens-table tbody tr[data-token-id]", (rows) => rows.map((r) => ({
      id: r.dataset.tokenId,
      subject: r.querySelector('[data-col="subject"]')?.textContent.trim(),
      revocable: !!r.querySelector("button.revoke"),
    })));
    const victim = tokens.find((t) => t.subject === "victim" && t.revocable);
    assert(victim, `no live token for subject victim among ${JSON.stringify(tokens)}`);
    const row = `#tokens-table tbody tr[data-token-id="${victim.id}"]`;
    const asked = dialogs.length;
    await page.click(`${row} button.revoke`);
    await page.waitForFunction(
      () => /\brevoked\b/i.test(document.querySelector("#tokens-status")?.textContent ?? ""),
      null,
      { timeout: WAIT_MS },
    );
    const status = (await page.textContent("#tokens-status")).trim();
    assert(!/failed/i.test(status), `the revocation failed: ${status}`);
    assert(dialogs.length === asked + 1 && dialogs[asked].type === "confirm", "the panel revoked without asking to confirm");
    await page.waitForFunction(
      (sel) => {
        const r = document.querySelector(sel);
        return document.querySelector("#tokens-table").getAttribute("aria-busy") === "false" && r &&
          !!r.querySelector('[data-col="revoked"] time') && !r.querySelector("button.revoke");
      },
      row,
      { timeout: WAIT_MS, polling: 50 },
    );
    const revoked = (await page.textContent(`${row} [data-col="revoked"]`)).trim();
    return { token_id: victim.id, tokens: tokens.length, revoked, status, confirm: dialogs[asked].message };
  });

  await step(7, "block-unblock", async () => {
    await page.click('nav [data-view="escapes"]');
    await page.waitForSelector("#view-escapes:not([hidden])");
    await settled("#escapes-table");
    const first = "#escapes-table tbody tr[data-seq] >> nth=0";
    const tool = (await page.textContent(`${first} >> [data-col="tool"]`)).trim();
    assert(tool === "fs", `the newest escape attempt's tool is ${JSON.stringify(tool)}, not fs`);
    assert((await listedTools()).includes(tool), `${tool} is not listed before blocking it`);
    const asked = dialogs.length;
    await page.click(`${first} >> button.block`);
    await page.waitForFunction(
      () => /\bblocked\b/i.test(document.querySelector("#escapes-status")?.textContent ?? ""),
      null,
      { timeout: WAIT_MS },
    );
    const blockedStatus = (await page.textContent("#escapes-status")).trim();
    assert(!/failed/i.test(blockedStatus), `the block failed: ${blockedStatus}`);
    assert(dialogs.length === asked + 1 && dialogs[asked].type === "confirm", "the panel blocked without asking to confirm");
    assert(await page.isHidden("#call-detail"), "clicking the row's block button also opened the call detail");
    const goneMs = await untilListed(tool, false);

    await page.click('nav [data-view="catalog"]');
    await page.waitForSelector("#view-catalog:not([hidden])");
    await page.waitForSelector("#unblock-form:not([hidden])");
    await page.fill("#unblock-name", tool);
    await page.click("#unblock");
    await page.waitForFunction(
      () => /\bunblocked\b/i.test(document.querySelector("#catalog-status")?.textContent ?? ""),
      null,
      { timeout: WAIT_MS },
    );
    const unblockedStatus = (await page.textContent("#catalog-status")).trim();
    assert(!/failed/i.test(unblockedStatus), `the unblock failed: ${unblockedStatus}`);
    const backMs = await untilListed(tool, true);
    // The panel reloads its list after the action: the tool is back in it too.
    await page.waitForSelector(`#tool-list button[data-tool="${tool}"]`, { timeout: WAIT_MS });
    return { tool, blocked_status: blockedStatus, gone_after_ms: goneMs, unblocked_status: unblockedStatus, back_after_ms: backMs };
  });

  current = "page errors";
  assert(pageErrors.length === 0, `the panel threw: ${pageErrors.join(" | ")}`);
} catch (e) {
  await fail(current, e);
}

await browser.close();
console.log(
  JSON.stringify({
    ok: true,
    first_contentful_paint_ms: fcp == null ? null : Math.round(fcp),
    baseline_first_contentful_paint_ms: baselineFcp == null ? null : Math.round(baselineFcp),
    steps,
  }),
);
