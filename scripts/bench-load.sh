#!/usr/bin/env bash
# Load benchmark (`make bench-load`): a trivial tool called over the HTTP API
# (POST /v1/tools/trivial/call) and over MCP Streamable HTTP (tools/call), with wrk; and,
# as the comparison point in the same run, the same sum as a native command in the process
# and container tiers through the same API.
# Targets (BENCHMARKS.md): HTTP >= 10,000 calls/s with p99 < 10 ms; MCP >= 3,000 calls/s.
#
# The server and wrk share this machine's cores; the numbers include that contention.
# Quotas are raised for the run so the benchmark measures the call path, not the limiter.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
CORDON=target/release/cordon
command -v wrk >/dev/null || apt-get install -y -q wrk

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tools/trivial" "$work/data"
cp target/fixtures/trivial.wasm "$work/tools/trivial/"
cat > "$work/tools/trivial/tool.toml" <<'EOF'
name = "trivial"
version = "0"
description = "Adds two numbers: a benchmark of the host, not the guest."
component = "trivial.wasm"
EOF
# The comparison point, measured in the same run through the same API: the same sum as a
# Python one-liner (`python3 -c 'print(2+3)'`), a native command in the process tier
# (bubblewrap) and the container tier (crun): what a container-per-call runner does. Needs
# root, bwrap, crun and `make rootfs` (whose root has python3); skipped, and said so, where
# they are missing.
for tier in process container; do
  mkdir -p "$work/tools/add-$tier"
  cat > "$work/tools/add-$tier/tool.toml" <<EOF
name = "add-$tier"
version = "0"
description = "2 + 3 in Python, as a native command in the $tier tier."
[native]
command = "python3"
args = ["-c", "print(2+3)"]
tier = "$tier"
EOF
done
# No microVM tool here: no pool of booted VMs either (under TCG they would take the CPU).
cat > "$work/cordon.toml" <<'EOF'
microvm_pool = 0
[serve.quota]
requests_per_second = 10000000
burst = 10000000
concurrent_calls = 100000
EOF
export CORDON_DATA_DIR=$work/data CORDON_TOOLS_DIR=$work/tools CORDON_CONFIG=$work/cordon.toml
token=$($CORDON token create --tenant bench --role developer | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
$CORDON serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

echo "== HTTP: POST /v1/tools/trivial/call ($THREADS threads, $CONNECTIONS connections, $DURATION)"
cat > "$work/http.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"function":"add","arguments":{"a":2,"b":3}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
EOF
curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"function":"add","arguments":{"a":2,"b":3}}' "$base/v1/tools/trivial/call" | grep -q '"value":5'
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/http.lua" "$base/v1/tools/trivial/call"

echo
echo "== MCP: tools/call over Streamable HTTP (one session, $CONNECTIONS connections, $DURATION)"
headers=(-H "Authorization: Bearer $token" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
session=$(curl -sf -D - -o /dev/null "${headers[@]}" \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}' \
  "$base/mcp" | tr -d '\r' | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
curl -sf -o /dev/null "${headers[@]}" -H "mcp-session-id: $session" \
  -d '{"jsonrpc":"2.0","method":"notifications/initialized"}' "$base/mcp"
curl -sf "${headers[@]}" -H "mcp-session-id: $session" \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"trivial","arguments":{"a":2,"b":3}}}' \
  "$base/mcp" | grep -q '"isError":false'
# JSON-RPC ids must be unique within the session: each wrk thread counts from its own offset.
cat > "$work/mcp.lua" <<EOF
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 1000000000)
end
request = function()
  n = (n or offset) + 1
  local body = '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"trivial","arguments":{"a":2,"b":3}}}'
  return wrk.format("POST", "/mcp", {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Authorization"] = "Bearer $token",
    ["mcp-session-id"] = "$session",
  }, body)
end
EOF
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/mcp.lua" "$base/mcp"

# The same sum through the native tiers, fewer connections: each call is a sandbox start.
for tier in process container; do
  echo
  echo "== HTTP: POST /v1/tools/add-$tier/call (python3 print(2+3) in the $tier tier; $THREADS threads, 4 connections, $DURATION)"
  if ! curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d '{"arguments":{}}' "$base/v1/tools/add-$tier/call" | grep -q '"stdout":"5\\n"'; then
    echo "SKIPPED: the $tier tier cannot run here (cordon doctor says why)"
    continue
  fi
  cat > "$work/$tier.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"arguments":{}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
EOF
  wrk -t"$THREADS" -c4 -d"$DURATION" --latency -s "$work/$tier.lua" "$base/v1/tools/add-$tier/call"
done

echo
echo "== server: calls counted"
curl -sf "$base/metrics" | grep -E '^cordon_tool_calls_total|^cordon_rate_limited_total' || true
