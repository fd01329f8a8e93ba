// Drives Cordon's MCP server over Streamable HTTP with the official MCP TypeScript SDK
// (`@modelcontextprotocol/sdk` from npm, installed by `make test` into .cache/node-mcp).
//
// The end-to-end test (tests/e2e/mcp.rs) runs this and checks what it prints: one JSON
// document with the server's name, the tools it listed and the result of each call. The
// assertions live in the Rust test; this script only speaks MCP the way a real client does.
//
// Usage: node ts_client.mjs NODE_MODULES_PARENT CALLS_JSON URL TOKEN

import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modulesParent, callsJson, url, token] = process.argv.slice(2);
// The SDK lives outside this repository's tree; resolve it from where npm put it.
const require = createRequire(join(modulesParent, "package.json"));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { Client } = await load("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = await load(
  "@modelcontextprotocol/sdk/client/streamableHttp.js",
);

const headers = token ? { Authorization: `Bearer ${token}` } : {};
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers },
});
const client = new Client({ name: "cordon-e2e-ts", version: "0.0.0" });
await client.connect(transport);

const listed = await client.listTools();
const calls = [];
for (const [name, args] of JSON.parse(callsJson)) {
  const result = await client.callTool({ name, arguments: args });
  calls.push({
    name,
    is_error: Boolean(result.isError),
    text: result.content
      .filter((c) => c.type === "text")
      .map((c) => c.text)
      .join(""),
    structured: result.structuredContent ?? null,
    meta: result._meta ?? null,
  });
}

console.log(
  JSON.stringify({
    server: client.getServerVersion()?.name,
    protocol: transport.protocolVersion ?? null,
    tools: listed.tools.map((t) => ({
      name: t.name,
      description: t.description,
      input_schema: t.inputSchema,
    })),
    calls,
  }),
);
await client.close();
