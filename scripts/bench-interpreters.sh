#!/usr/bin/env bash
# Interpreter benchmark (`make bench-interpreters`): `print(1+1)` (and `console.log(1+1)`)
# end to end through the running server, one call at a time, against a plain
# `python3 -c` / `node -e` process measured in the same run (the container backend, the
# intended comparison point, has not landed yet).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CORDON=target/release/cordon
command -v wrk >/dev/null || apt-get install -y -q wrk

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/tools" "$work/data"
for t in python javascript; do
  mkdir "$work/tools/$t"
  ln "target/tools/$t/$t.wasm" "$work/tools/$t/" 2>/dev/null || cp "target/tools/$t/$t.wasm" "$work/tools/$t/"
  cp "target/tools/$t/tool.toml" "$work/tools/$t/"
done
printf '[serve.quota]\nrequests_per_second = 1000000\nburst = 1000000\n' > "$work/cordon.toml"
export CORDON_DATA_DIR=$work/data CORDON_TOOLS_DIR=$work/tools CORDON_CONFIG=$work/cordon.toml
export CORDON_CACHE_DIR=${CORDON_CACHE_DIR:-$PWD/target/e2e-cache}
token=$($CORDON token create --tenant bench --role developer | tail -1)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port
$CORDON serve --listen "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
for _ in $(seq 600); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

echo "== sizes"
ls -l target/tools/python/python.wasm target/tools/javascript/javascript.wasm | awk '{printf "%s %.1f MB\n", $9, $5/1e6}'

for tool in python javascript; do
  case $tool in
    python) code='print(1+1)' ;;
    javascript) code='console.log(1+1)' ;;
  esac
  body="{\"function\":\"run\",\"arguments\":{\"code\":\"$code\"}}"
  out=$(curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" "$base/v1/tools/$tool/call")
  echo "$out" | grep -q '"stdout":"2\\n"' || { echo "unexpected: $out"; exit 1; }
  echo
  echo "== $tool: instantiate + run inside the host (receipt wall_time_us over 200 calls)"
  for _ in $(seq 200); do
    curl -sf -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body" "$base/v1/tools/$tool/call"
    echo
  done | python3 -c '
import json, statistics, sys
t = sorted(json.loads(l)["receipt"]["wall_time_us"] / 1000 for l in sys.stdin if l.strip())
print(f"p50 {statistics.median(t):.2f} ms  p99 {t[int(len(t)*0.99)-1]:.2f} ms  (n={len(t)})")'
  echo "== $tool: end to end over HTTP, one connection ($DURATION)"
  cat > "$work/$tool.lua" <<EOF
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
EOF
  wrk -t1 -c1 -d"$DURATION" --latency -s "$work/$tool.lua" "$base/v1/tools/$tool/call" | grep -E '^\s+(50|90|99)%|Requests/sec'
done

echo
echo "== comparison: a fresh interpreter process per run (200 runs each)"
python3 - <<'EOF'
import shutil, statistics, subprocess, time
for name, cmd in [("python3 -c 'print(1+1)'", ["python3", "-c", "print(1+1)"]),
                  ("node -e 'console.log(1+1)'", ["node", "-e", "console.log(1+1)"])]:
    if not shutil.which(cmd[0]):
        print(f"{name}: not installed")
        continue
    t = []
    for _ in range(200):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        t.append((time.perf_counter() - start) * 1000)
    t.sort()
    print(f"{name}: p50 {statistics.median(t):.2f} ms  p99 {t[int(len(t)*0.99)-1]:.2f} ms")
EOF
