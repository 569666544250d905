#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (see docs/FUZZING.md). Not part of CI.
#
#   scripts/fuzz.sh [TARGET] [RUNS]
#   scripts/fuzz.sh cmin [TARGET]
#
# TARGET: one of the targets in fuzz/fuzz_targets/, or `all` (the default) for each in turn.
# RUNS: executions per target (default 10000000). Each target runs as one libFuzzer process
# on its committed corpus fuzz/corpus/TARGET/, which grows with what it finds: minimize it
# with `scripts/fuzz.sh cmin` before committing. A crashing input is left in
# fuzz/artifacts/TARGET/. Full logs go to fuzz/target/fuzz-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

MODE=run
if [ "${1:-}" = cmin ]; then
  MODE=cmin
  shift
fi
TARGET="${1:-all}"
RUNS="${2:-10000000}"
# Stable rustc with the nightly flags cargo-fuzz passes; no nightly toolchain needed.
export RUSTC_BOOTSTRAP=1
# No AddressSanitizer by default: mfa-proto and mfa-daemon forbid unsafe code, and ASan
# costs more than half the executions. FUZZ_SANITIZER=address brings it back. Debug
# assertions and overflow checks stay on either way.
SANITIZER="${FUZZ_SANITIZER:-none}"

cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz

# Largest input per target: a little over what the code meets in practice, kept small
# so that each execution stays fast.
max_len() {
  case "$1" in
    answer) echo 256 ;;
    frame | record | import) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

if [ "$TARGET" = all ]; then
  mapfile -t targets < <(cargo fuzz list)
else
  targets=("$TARGET")
fi

logs=fuzz/target/fuzz-logs
mkdir -p "$logs"
cargo fuzz build --sanitizer "$SANITIZER"

if [ "$MODE" = cmin ]; then
  # `cargo fuzz cmin` keeps every input that adds an edge hit count, thousands per target.
  # A set-cover merge on plain edge coverage keeps a few hundred, and the seed-* files are
  # kept whatever they add.
  bin_dir="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
  for t in "${targets[@]}"; do
    old=$(mktemp -d)
    mv "fuzz/corpus/$t" "$old/corpus"
    mkdir "fuzz/corpus/$t"
    find "$old/corpus" -maxdepth 1 -name 'seed-*' -exec cp {} "fuzz/corpus/$t/" \;
    if ! "$bin_dir/$t" -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$t")" \
      -rss_limit_mb=2048 -timeout=10 "fuzz/corpus/$t" "$old/corpus" >"$logs/$t.cmin.log" 2>&1; then
      rm -rf "fuzz/corpus/$t"
      mv "$old/corpus" "fuzz/corpus/$t"
      echo "fuzz: minimizing $t failed, corpus left as it was; see $logs/$t.cmin.log" >&2
      exit 1
    fi
    rm -rf "$old"
    echo "fuzz: $t corpus: $(find "fuzz/corpus/$t" -type f | wc -l) files"
  done
  exit 0
fi

summary=()
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log="$logs/$t.log"
  echo "fuzz: $t, $RUNS runs (log: $log)"
  start=$(date +%s)
  status=0
  cargo fuzz run --sanitizer "$SANITIZER" "$t" "fuzz/corpus/$t" -- \
    -runs="$RUNS" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  wall=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  if [ "$status" -ne 0 ]; then
    failed=1
    tail -n 40 "$log"
    summary+=("$(printf '%-8s FAILED (exit %s) after %ss; see %s' "$t" "$status" "$wall" "$log")")
  else
    summary+=("$(printf '%-8s %12s execs %8s exec/s %6ss' "$t" "${execs:-?}" "${rate:-?}" "$wall")")
  fi
  echo "${summary[-1]}"
done

echo
echo "fuzz: summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
