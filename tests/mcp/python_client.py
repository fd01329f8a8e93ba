"""Drives Cordon's MCP server with the official MCP Python SDK (`pip install mcp`).

The end-to-end tests (tests/e2e/mcp.rs) run this and check what it prints: one JSON
document with the server's name, the tools it listed and the result of each call. The
assertions live in the Rust test; this script only speaks MCP the way a real client does.

Usage:
    python_client.py stdio CALLS_JSON COMMAND [ARGS...]
    python_client.py http CALLS_JSON URL TOKEN

CALLS_JSON is a list of [tool name, arguments] or [tool name, arguments, timeout seconds],
called in order. A call that outlives its timeout is abandoned the SDK's way: it raises and
sends `notifications/cancelled`. The step ["@await-list-changed", {"seconds": N}] prints
a line to stderr, waits for `notifications/tools/list_changed`, and lists the tools again.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def drive(read, write, calls):
    progress = []
    list_changed = asyncio.Event()

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})

    async def on_message(message):
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            list_changed.set()

    async with ClientSession(read, write, message_handler=on_message) as session:
        init = await session.initialize()
        listed = await session.list_tools()
        results = []
        for name, arguments, *timeout in calls:
            if name == "@await-list-changed":
                # The test changes the catalog once it reads this line.
                print("waiting for tools/list_changed", file=sys.stderr, flush=True)
                try:
                    await asyncio.wait_for(list_changed.wait(), arguments.get("seconds", 30))
                except asyncio.TimeoutError:
                    results.append({"name": name, "notified": False})
                    continue
                relisted = await session.list_tools()
                results.append(
                    {"name": name, "notified": True, "tools": [t.name for t in relisted.tools]}
                )
                continue
            try:
                result = await session.call_tool(
                    name,
                    arguments,
                    read_timeout_seconds=timeout[0] if timeout else None,
                    progress_callback=on_progress,
                )
            except Exception as e:  # the SDK's timeout error, whatever its class
                results.append({"name": name, "abandoned": True, "error": repr(e)})
                continue
            results.append(
                {
                    "name": name,
                    "is_error": bool(result.is_error),
                    "text": "".join(c.text for c in result.content if c.type == "text"),
                    "structured": result.structured_content,
                    "meta": result.meta,
                }
            )
        return {
            "server": init.server_info.name,
            "protocol": init.protocol_version,
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in listed.tools
            ],
            "calls": results,
            "progress": progress,
        }


async def main(argv):
    transport, calls = argv[1], json.loads(argv[2])
    if transport == "stdio":
        # The SDK passes a server only a safe subset of the environment (as desktop
        # clients do); Cordon's settings go through explicitly, like a client's "env".
        env = {k: v for k, v in os.environ.items() if k.startswith("CORDON_")}
        params = StdioServerParameters(command=argv[3], args=argv[4:], env=env)
        async with stdio_client(params) as (read, write):
            report = await drive(read, write, calls)
    elif transport == "http":
        url, token = argv[3], argv[4]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                report = await drive(read, write, calls)
    else:
        raise SystemExit(f"unknown transport {transport!r}")
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv))
