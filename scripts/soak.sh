#!/usr/bin/env bash
# Soak (`make soak`): 1,000 calls/s for 10 minutes against `cordon serve`, a mix of benign
# calls (which must all succeed) and hostile ones (fuel, memory, stack, output, traps, path
# escapes: each must be refused with its own code); reports p50/p99 per kind and the
# server's RSS after warm-up and at the end (benches/soak.rs). SOAK_RATE, SOAK_SECS change
# the rate and the length.
set -euo pipefail
cd "$(dirname "$0")/.."

CORDON=target/release/cordon
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tools/trivial" "$work/tools/hostile" "$work/data"
for t in fs text-analysis; do cp -r "target/tools/$t" "$work/tools/"; done
cp target/fixtures/trivial.wasm "$work/tools/trivial/"
cat > "$work/tools/trivial/tool.toml" <<'TOML'
name = "trivial"
version = "0"
description = "Adds two numbers."
component = "trivial.wasm"
TOML
cp target/fixtures/hostile.wasm "$work/tools/hostile/"
# Tight limits: a hostile call is stopped in milliseconds, as a sandbox host would set them.
cat > "$work/tools/hostile/tool.toml" <<'TOML'
name = "hostile"
version = "0"
description = "Misbehaves on purpose: spins, grows memory, recurses, floods output, traps."
component = "hostile.wasm"

[limits]
fuel = 20_000_000
timeout = "2s"
memory = "16MiB"
output = "64KiB"
TOML
# Quotas out of the way: the soak measures the call path, not the limiter.
cat > "$work/cordon.toml" <<'TOML'
[serve.quota]
requests_per_second = 10000000
burst = 10000000
concurrent_calls = 100000
TOML
export CORDON_DATA_DIR=$work/data CORDON_TOOLS_DIR=$work/tools CORDON_CONFIG=$work/cordon.toml
token=$($CORDON token create --tenant soak --role developer | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$CORDON serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

SOAK_URL=http://127.0.0.1:$port SOAK_TOKEN=$token SOAK_PID=$server \
  cargo run -q --release -p cordon-benches --bin soak
