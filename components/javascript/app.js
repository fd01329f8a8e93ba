// The `javascript` tool: runs a piece of JavaScript in this pre-initialised engine.
//
// The engine is snapshotted at build time; each call gets a fresh instance, so nothing a
// program does survives it. `console.log` goes to stdout and `console.error` to stderr,
// where the host caps them; the program's stdin is the global `stdin` (a string).

// How a REPL would show a value: strings quoted, plain data as JSON, the rest as text.
function show(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return `[Function ${value.name || "(anonymous)"}]`;
  if (value !== null && typeof value === "object" && !(value instanceof Error)) {
    try {
      const json = JSON.stringify(value);
      if (json !== undefined) return json;
    } catch {
      // Cycles and the like fall through to String().
    }
  }
  return String(value);
}

// The program's own frames only, as `at name (<input>:line:col)`: SpiderMonkey names
// eval'd code `<caller> line N > eval`, and the runner's frames are noise to the reader.
function traceOf(e) {
  if (!(e instanceof Error)) return "";
  const frames = String(e.stack ?? "")
    .split("\n")
    .map((line) => line.match(/^(.*)@.* > eval:(\d+):(\d+)$/))
    .filter((m) => m !== null)
    .map(([, name, line, col]) => `    at ${name || "<anonymous>"} (<input>:${line}:${col})`);
  return [`${e.name}: ${e.message}`, ...frames].join("\n");
}

export function run(code, stdin) {
  globalThis.stdin = stdin ?? "";
  try {
    // Indirect eval: the global scope, and the completion value of the last statement.
    const value = (0, eval)(code);
    return { result: value === undefined ? undefined : show(value), error: undefined };
  } catch (e) {
    const isError = e instanceof Error;
    return {
      result: undefined,
      error: {
        kind: isError ? e.name : typeof e,
        message: isError ? e.message : show(e),
        traceback: traceOf(e),
      },
    };
  }
}
