// `{{name}}`: summarises CSV tables. Written by `cordon new tool {{name}} --lang js`;
// make it yours. Build with `cordon build`, install with `cordon tools add .`, call with
// `cordon run {{name}} --json '{"csv": "a,b\n1,2\n"}'`, test with `node --test`.
//
// Each function wit/world.wit exports is a function exported here, named in camelCase
// (`count-words` is `countWords`). Records are objects with camelCase fields, an absent
// `option<T>` is `undefined` (or `null`), and a `result<T, string>` function returns its
// `ok` value and throws a ToolError for its `err`.

import { ToolError, log } from "./cordon-sdk.js";

/** Summarises a CSV table: comma-separated, the first line its header, no quoting. */
export function summarize(csv) {
  const lines = csv
    .split("\n")
    .map((line) => line.replace(/\r$/, ""))
    .filter((line) => line.trim() !== "");
  if (lines.length === 0) {
    throw ToolError.invalidInput("the table is empty");
  }
  const header = lines[0].split(",").map((field) => field.trim());
  const filled = header.map(() => 0);
  // A column's numbers while every value so far is one; null once one is not.
  const numbers = header.map(() => []);
  let rows = 0;
  for (const [i, line] of lines.slice(1).entries()) {
    const fields = line.split(",").map((field) => field.trim());
    if (fields.length !== header.length) {
      throw ToolError.invalidInput(
        `row ${i + 1} has ${fields.length} fields, the header ${header.length}`,
      );
    }
    rows += 1;
    fields.forEach((field, c) => {
      if (field === "") return;
      filled[c] += 1;
      const n = parseNumber(field);
      if (n === undefined) numbers[c] = null;
      else numbers[c]?.push(n);
    });
  }
  const columns = header.map((name, c) => ({
    name,
    filled: filled[c],
    numeric: numbers[c]?.length ? stats(numbers[c]) : undefined,
  }));
  log.info("summarised a table", { rows });
  return { rows, columns };
}

// What Rust's f64 parser accepts (the Rust template's), so both templates agree on what
// a number is: `Number()` alone would also take "0x1f" and " ".
function parseNumber(text) {
  if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(text);
  if (special === null) return undefined;
  if (special[2].toLowerCase() === "nan") return NaN;
  return special[1] === "-" ? -Infinity : Infinity;
}

function stats(values) {
  // Comparisons skip NaN, as Rust's f64::min and f64::max do.
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  return { min, max, mean: sum / values.length };
}
