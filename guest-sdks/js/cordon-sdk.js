// Write Cordon tools in JavaScript.
//
// A tool is a WASI 0.2 component whose world includes `cordon:tool/tool`. Each function
// the world exports is a plain function the tool's module exports (WIT `count-words` is
// JS `countWords`); its JSON Schema comes from the WIT types and its description from the
// WIT doc comment. This module gives a tool the conventions callers rely on:
//
// - `log`: structured records that land in the call's outcome and audit trail (never on a
//   stream the tool controls, so a tool cannot forge or flood the host's logs);
// - `ToolError`: an error with a kind callers can branch on. Throw it from a function
//   declared `-> result<T, string>`; the host reports it as `tool_error` with the text
//   `kind: message`.
//
// The module imports nothing, so a tool's logic runs under plain `node --test`. Inside a
// component, the entry module `build.mjs` generates imports the host's
// `cordon:tool/logging@0.1.0` and leaves its `log` on `globalThis` under HOST_LOG; records
// go there. Outside a component they are kept in `log.records` for tests to read.
//
// `cordon new tool NAME --lang js` copies this file into the tool as `cordon-sdk.js` (the
// engine that builds the component only resolves modules inside the tool's directory);
// docs/sdk-js.md walks through it.

/** The global under which the build's entry module leaves the host's `log` import. */
export const HOST_LOG = Symbol.for("cordon:tool/logging@0.1.0");

/**
 * Records logged while no host is connected (under `node --test`), oldest first:
 * `{ level, message, fields }` with `fields` an object of strings. Clear it with
 * `log.records.length = 0`.
 */
const records = [];

function emit(level, message, fields = {}) {
  // The host takes strings only; String() lets callers pass numbers and booleans as-is.
  const pairs = Object.entries(fields).map(([key, value]) => [key, String(value)]);
  const hostLog = globalThis[HOST_LOG];
  if (typeof hostLog === "function") {
    hostLog(level, String(message), pairs);
  } else {
    records.push({ level, message: String(message), fields: Object.fromEntries(pairs) });
  }
}

/**
 * Structured logging through the host: `log.info("fetched", { url, bytes: 123 })`.
 * Each function takes a message and an optional object of fields (values become strings).
 */
export const log = Object.freeze({
  /** Fine-grained tracing. */
  trace: (message, fields) => emit("trace", message, fields),
  /** Detail useful when debugging the tool. */
  debug: (message, fields) => emit("debug", message, fields),
  /** What the tool did. */
  info: (message, fields) => emit("info", message, fields),
  /** Something the caller may want to know about. */
  warn: (message, fields) => emit("warn", message, fields),
  /** Something went wrong. */
  error: (message, fields) => emit("error", message, fields),
  records,
});

/**
 * What kind of failure a tool reports: the word before the colon in the error text.
 * - `invalid_input`: the arguments were wrong; calling again with the same ones fails the
 *   same way.
 * - `not_found`: something the arguments name does not exist.
 * - `unsupported`: the tool cannot do this (a format or feature it lacks).
 * - `failed`: the tool failed for a reason of its own.
 */
export const KINDS = Object.freeze(["invalid_input", "not_found", "unsupported", "failed"]);

/**
 * An error a tool throws from a function declared `-> result<T, string>`; callers get
 * `tool_error` with the text `kind: message`.
 *
 * Any other exception (a TypeError from a bug, say) traps the call, like a Rust panic:
 * catch what you expect and throw `ToolError.failed(...)` instead.
 */
export class ToolError extends Error {
  /**
   * @param {"invalid_input" | "not_found" | "unsupported" | "failed"} kind
   * @param {string} message what happened, for people and models
   */
  constructor(kind, message) {
    if (!KINDS.includes(kind)) {
      throw new TypeError(`unknown ToolError kind ${JSON.stringify(kind)} (one of ${KINDS.join(", ")})`);
    }
    super(message);
    this.name = "ToolError";
    /** What kind of failure. */
    this.kind = kind;
    // componentize-js lowers an exception's own `payload` as the `err` of a WIT result;
    // an Error without one is not a string and traps.
    Object.defineProperty(this, "payload", { value: `${kind}: ${message}` });
  }

  /** The arguments were wrong. */
  static invalidInput(message) {
    return new ToolError("invalid_input", message);
  }

  /** Something the arguments name does not exist. */
  static notFound(message) {
    return new ToolError("not_found", message);
  }

  /** The tool cannot do this. */
  static unsupported(message) {
    return new ToolError("unsupported", message);
  }

  /** The tool failed for a reason of its own. */
  static failed(message) {
    return new ToolError("failed", message);
  }

  /** The text callers see: `kind: message`. */
  toString() {
    return `${this.kind}: ${this.message}`;
  }
}
