#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, libFuzzer, nightly).
#
#   scripts/fuzz.sh check   each target for FUZZ_SECONDS (default 20) after replaying its
#                           committed corpus and regressions (fuzz/corpus/TARGET): make test
#   scripts/fuzz.sh long    each target for FUZZ_SECONDS (default 300): make fuzz
#
# No sanitizer: the code under test is safe Rust, and what a fuzzer finds there (a panic,
# an arithmetic overflow, a broken property) is caught without one, in a build that takes
# minutes instead of a quarter of an hour. New inputs go to a scratch directory, not the
# committed corpus; a crash is left in fuzz/artifacts/TARGET/ and fails the run. Add it to
# fuzz/corpus/TARGET/ with the fix: it is replayed on every run from then on.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

mode=${1:-check}
case "$mode" in
  check) seconds=${FUZZ_SECONDS:-20} ;;
  long) seconds=${FUZZ_SECONDS:-300} ;;
  *) echo "usage: $0 check|long" >&2; exit 2 ;;
esac

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build --sanitizer none || exit 1

failed=0
for t in $targets; do
  scratch=$(mktemp -d)
  mkdir -p "corpus/$t"
  echo "== fuzz $t: ${seconds}s =="
  log="$scratch.log"
  cargo +nightly fuzz run --sanitizer none "$t" "$scratch" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1
  code=$?
  grep -E 'Done [0-9]+ runs|stat::number_of_executed_units|stat::new_units_added' "$log"
  if [ "$code" -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz $t FAILED (exit $code): the input is in fuzz/artifacts/$t/"
    failed=$((failed + 1))
  fi
  rm -f "$log"
  rm -rf "$scratch"
done
echo "fuzz: $(echo "$targets" | wc -w) targets, $failed failed"
[ "$failed" -eq 0 ]
