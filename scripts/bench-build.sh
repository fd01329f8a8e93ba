#!/usr/bin/env bash
# `cordon build` in each SDK language against the same tool chain run by hand on the same
# tool, in the same run (BENCHMARKS.md). What `cordon build` adds over its tool chain is the
# difference: finding the tool chain, the C bindings and the component encoding done
# in-process, reading the component back and checking it against tool.toml.
#
# Each tool is the one `cordon new tool NAME --lang L` writes. A first `cordon build` warms
# caches (cargo's registry and target directory, componentize-py's and node's files); then
# RUNS builds of each kind alternate, and the median of each is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cordon=$root/target/release/cordon
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seconds() { # command... → wall seconds, the command's output discarded (shown on failure)
  local log="$work/log" start end
  start=$(date +%s.%N)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    echo "failed: $*" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.2f}')"
}

median() { printf '%s\n' "$@" | sort -g | python3 -c "import sys; v=[float(l) for l in sys.stdin]; print(f'{v[len(v)//2]:.2f}')"; }

# The tool chain alone, as cordon/src/author/*.rs runs it.
bare() {
  local lang=$1 name=$2
  case $lang in
    c)
      clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra \
        -I bindings -I "$root/guest-sdks/c" src/*.c "bindings/${name//-/_}.c" \
        "bindings/${name//-/_}_component_type.o" -o "$work/bare.core.wasm"
      ;;
    python)
      "$root/.cache/venv-interp/bin/componentize-py" -d wit -w "$name" \
        --import-interface-name cordon:tool/logging@0.1.0=cordon_tool_logging \
        componentize -p . -p "$root/guest-sdks/python" app -o "$work/bare.wasm"
      ;;
    js)
      node "$root/guest-sdks/js/build.mjs" "$root/.cache/node-interp" app.js wit "$name" "$work/bare.wasm"
      ;;
    rust)
      # cargo has nothing to do after the warm-up unless a source changed: touch it, as an
      # edit would, in both columns.
      touch src/lib.rs
      cargo build --release --target wasm32-wasip2 --manifest-path Cargo.toml
      ;;
  esac
}

with_cordon() {
  [ "$1" = rust ] && touch src/lib.rs
  "$cordon" build
}

printf '%-8s %-28s %-28s %s\n' language "cordon build (median, runs)" "tool chain alone" "component"
for lang in ${LANGS:-c python js rust}; do
  name=bench-$lang
  (cd "$work" && "$cordon" new tool "$name" --lang "$lang" >/dev/null)
  cd "$work/$name"
  seconds with_cordon "$lang" >/dev/null
  ours=() theirs=()
  for _ in $(seq "$runs"); do
    ours+=("$(seconds with_cordon "$lang")")
    theirs+=("$(seconds bare "$lang" "$name")")
  done
  size=$(find . -maxdepth 1 -name '*.wasm' -printf '%s\n' | head -1)
  printf '%-8s %-28s %-28s %s\n' "$lang" "$(median "${ours[@]}") s (${ours[*]})" \
    "$(median "${theirs[@]}") s (${theirs[*]})" "${size:-?} bytes"
  cd "$root"
done
