#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 20) seconds, starting from
# its committed seed corpus, and prints the executions per target. Exits
# non-zero if any target crashed (a panic, an invariant, a timeout, an OOM);
# the input is saved under artifacts/<target>/.
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# New inputs go to target/fuzz-corpus/<target>/, never into corpus/: the seed
# corpus changes only by hand, in review. Logs: target/fuzz-logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
# Explicit: cargo-fuzz otherwise guesses the directory from the nearest
# non-fuzz Cargo.toml above (tests/Cargo.toml) plus `/fuzz`.
dir=(--fuzz-dir "$PWD")

seconds="${FUZZ_SECONDS:-20}"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "run.sh needs cargo-fuzz and a nightly toolchain" >&2
  exit 2
fi

# One build for all targets, so each target's time is spent fuzzing.
cargo +nightly fuzz build "${dir[@]}"

failed=()
for target in $(cargo +nightly fuzz list "${dir[@]}"); do
  scratch="target/fuzz-corpus/$target"
  log="target/fuzz-logs/$target.log"
  mkdir -p "$scratch" "$(dirname "$log")"
  # libFuzzer writes new inputs to the first corpus directory only.
  if cargo +nightly fuzz run "${dir[@]}" "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$target")
  fi
  # libFuzzer's final stats, else the `#N DONE` line, else the last `#N` line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -n 1)
  if [ -z "$execs" ]; then
    execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  fi
  printf '%-18s %-6s %10s executions in %ss\n' "$target" "$status" "${execs:-?}" "$seconds"
  if [ "$status" != ok ]; then
    # The panic or invariant, the input's path and cargo-fuzz's reproduction hint.
    grep -E -A 12 "panicked at|ERROR: libFuzzer|SUMMARY:|Reproduce with" "$log" | head -n 60 >&2 || tail -n 40 "$log" >&2
  fi
done

if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs in $(pwd)/artifacts/)" >&2
  exit 1
fi
echo "fuzzing passed: every target ran ${seconds}s without a crash"
