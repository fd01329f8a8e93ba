#!/usr/bin/env bash
# Runs every test (unit, integration, end-to-end, doc) in release and prints a summary of
# what ran and what was skipped. `make test` builds the binary, components and fixtures
# first and then calls this.
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# --show-output: a test that skips says so on its stdout, which libtest keeps to itself for
# a test that passes; without it no SKIPPED line ever reached the summary.
cargo test --release --workspace --no-fail-fast -- --show-output 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The guest SDKs' own tests, outside any component (the e2e tests build tools with them).
sdk_failed=0
echo "== guest-sdks/python =="
(cd guest-sdks/python && python3 -m unittest -q) || sdk_failed=$((sdk_failed + 1))
echo "== guest-sdks/js =="
(cd guest-sdks/js && node --test) || sdk_failed=$((sdk_failed + 1))
[ "$sdk_failed" -eq 0 ] || status=1

# Each fuzz target briefly, after replaying its corpus and regressions (fuzz/).
echo "== fuzz =="
fuzz_failed=0
bash scripts/fuzz.sh check || { fuzz_failed=1; status=1; }

passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
skipped=$(grep -c 'SKIPPED:' "$log" || true)

echo
echo "== summary =="
if [ "$skipped" -gt 0 ]; then
  echo "skipped (machine lacks something):"
  grep 'SKIPPED:' "$log" | sed 's/^/  /'
fi
echo "$passed passed, $failed failed, $skipped skipped; guest SDK suites failed: $sdk_failed; fuzzing failed: $fuzz_failed"
exit "$status"
