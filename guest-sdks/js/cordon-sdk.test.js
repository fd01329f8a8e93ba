// The SDK's contract with callers and with componentize-js; run with `node --test`.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import { HOST_LOG, KINDS, ToolError, log } from "./cordon-sdk.js";

afterEach(() => {
  delete globalThis[HOST_LOG];
  log.records.length = 0;
});

test("errors read kind colon message", () => {
  const e = ToolError.invalidInput("row 3 has 2 fields, the header 3");
  assert.equal(String(e), "invalid_input: row 3 has 2 fields, the header 3");
  assert.equal(e.kind, "invalid_input");
  assert.equal(e.message, "row 3 has 2 fields, the header 3");
  assert.ok(e instanceof Error);
});

test("the err of a WIT result is the error's own payload", () => {
  // componentize-js checks hasOwnProperty(e, "payload") before lowering a thrown value.
  const e = ToolError.notFound("no such file: a.csv");
  assert.ok(Object.hasOwn(e, "payload"));
  assert.equal(e.payload, "not_found: no such file: a.csv");
});

test("every kind has a constructor and unknown kinds are refused", () => {
  const made = [ToolError.invalidInput, ToolError.notFound, ToolError.unsupported, ToolError.failed]
    .map((make) => make("x").kind);
  assert.deepEqual(made, KINDS);
  assert.throws(() => new ToolError("oops", "x"), TypeError);
});

test("without a host, records are kept with string fields", () => {
  log.info("summarised a table", { rows: 2, header: true });
  log.warn("no fields");
  assert.deepEqual(log.records, [
    { level: "info", message: "summarised a table", fields: { rows: "2", header: "true" } },
    { level: "warn", message: "no fields", fields: {} },
  ]);
});

test("with a host, records go to its log import as WIT values", () => {
  const calls = [];
  globalThis[HOST_LOG] = (...args) => calls.push(args);
  log.error("failed", { code: 7 });
  assert.deepEqual(calls, [["error", "failed", [["code", "7"]]]]);
  assert.deepEqual(log.records, []);
});
