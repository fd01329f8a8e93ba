// Builds a JavaScript tool into a component with componentize-js (StarlingMonkey). Run it
// from the tool's directory; `cordon build` does, then embeds the WIT docs and loads the
// result as the catalog will.
//
// usage: node build.mjs MODULES ENTRY WIT WORLD OUT [--http]
//
//   MODULES  a directory whose node_modules holds @bytecodealliance/componentize-js (the
//            Makefile installs 0.23.0 into .cache/node-interp)
//   ENTRY    the module whose exports are the tool's functions: app.js
//   WIT      the tool's WIT directory: wit
//   WORLD    its world, e.g. `demo` or `local:demo/demo@0.1.0`; "" for the only world of
//            the WIT directory's own package
//   OUT      the component to write
//   --http   keep fetch(), for a tool whose manifest lists `hosts`
//
// Relative paths are taken from the current directory, which must be the tool's.
//
// The tool's modules never import the host's `cordon:tool/logging` themselves, so their
// logic runs under `node --test`. Instead this script writes a one-off entry module next to
// them that imports it, leaves its `log` where cordon-sdk.js looks (see HOST_LOG there) and
// re-exports ENTRY; the entry is deleted afterwards. It sits in the tool's directory because
// the engine resolves modules only under the directory it is built from.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

function fail(message) {
  console.error(`build.mjs: ${message}`);
  process.exit(1);
}

let args;
try {
  args = parseArgs({
    allowPositionals: true,
    options: { http: { type: "boolean", default: false } },
  });
} catch (e) {
  fail(e.message);
}
if (args.positionals.length !== 5) {
  fail("usage: node build.mjs MODULES ENTRY WIT WORLD OUT [--http]");
}
const [modules, source, wit, world, out] = args.positionals;
const http = args.values.http;

const toolDir = process.cwd();
const entry = resolve(source);
const fromTool = relative(toolDir, entry);
if (fromTool.split(sep)[0] === ".." || isAbsolute(fromTool)) {
  fail(`${entry} is outside ${toolDir}: the engine only sees the tool's directory`);
}

// The package is ESM-only with an `import` export: load its entry module by path.
const componentizePath = join(
  resolve(modules),
  "node_modules/@bytecodealliance/componentize-js/src/componentize.js",
);
let componentize;
try {
  ({ componentize } = await import(pathToFileURL(componentizePath).href));
} catch (e) {
  fail(`cannot load componentize-js from ${componentizePath}: ${e.message}`);
}

const generated = join(toolDir, `.cordon-entry-${process.pid}.js`);
await writeFile(
  generated,
  `// Written by cordon build (guest-sdks/js/build.mjs) and deleted when it is done.
import { log } from "cordon:tool/logging@0.1.0";
globalThis[Symbol.for("cordon:tool/logging@0.1.0")] = log;
export * from ${JSON.stringify(`./${fromTool.split(sep).join("/")}`)};
`,
);
let component;
let error;
try {
  ({ component } = await componentize({
    sourcePath: generated,
    witPath: resolve(wit),
    worldName: world || undefined,
    // No wasi:http unless asked for: a tool that imports what it never uses widens what
    // admission has to allow.
    disableFeatures: http ? ["fetch-event"] : ["http", "fetch-event"],
  }));
} catch (e) {
  error = e;
} finally {
  await rm(generated, { force: true });
}
// componentize-js reports the engine's own message (a syntax error, a missing export); its
// JS stack would only be noise.
if (error) fail(error.message);
await mkdir(dirname(resolve(out)), { recursive: true });
await writeFile(resolve(out), component);
