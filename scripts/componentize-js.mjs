// Builds a JavaScript component with the componentize-js library (StarlingMonkey).
// The jco CLI cannot read a WIT directory here (it fails on a path lookup inside its
// wasm-tools), the library API can.
//
// Usage: node componentize-js.mjs NODE_MODULES_PARENT SOURCE WIT_DIR WORLD OUT
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [modulesParent, source, wit, world, out] = process.argv.slice(2);
// The package is ESM-only with an `import` export: load its entry module by path.
const entry = join(
  resolve(modulesParent),
  "node_modules/@bytecodealliance/componentize-js/src/componentize.js",
);
const { componentize } = await import(pathToFileURL(entry).href);
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: world,
  // No wasi:http imports: the interpreter has no network unless the host grants one, and
  // a tool that imports what it never uses widens what admission has to allow.
  disableFeatures: ["http", "fetch-event"],
});
await writeFile(out, component);
console.log(`${out}: ${component.length} bytes`);
