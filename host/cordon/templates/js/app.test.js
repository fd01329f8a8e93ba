// `node --test` runs these on the host: cordon-sdk.js imports nothing from the host, so the
// tool's functions are plain functions here, and its log records stay in `log.records`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { summarize } from "./app.js";
import { ToolError, log } from "./cordon-sdk.js";

test("summarises a small table", () => {
  const s = summarize("city,population\nOslo,709000\nBergen,291000\n");
  assert.equal(s.rows, 2);
  assert.equal(s.columns[0].numeric, undefined);
  assert.deepEqual(s.columns[1].numeric, { min: 291000, max: 709000, mean: 500000 });
  assert.deepEqual(log.records.at(-1), {
    level: "info",
    message: "summarised a table",
    fields: { rows: "2" },
  });
});

test("a ragged row is invalid input", () => {
  assert.throws(
    () => summarize("a,b\n1\n"),
    (e) =>
      e instanceof ToolError &&
      e.kind === "invalid_input" &&
      String(e) === "invalid_input: row 1 has 1 fields, the header 2",
  );
});
