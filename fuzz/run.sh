#!/usr/bin/env bash
# Runs every fuzz target for a fixed budget and prints one line per target:
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
#   ENTREX_FUZZ_RUNS=1000000 fuzz/run.sh 3600        (stop each at a million inputs)
#   ENTREX_FUZZ_SEED=1 fuzz/run.sh 30                 (the same inputs each run: CI)
#
# Installs cargo-fuzz if missing. With no sanitizer (`-s none`) cargo-fuzz
# asks rustc only for flags stable Rust accepts (coverage instrumentation), so
# no nightly toolchain is needed; the code these targets reach has no unsafe,
# and what is looked for is a panic, a hang (-timeout) or runaway memory
# (-rss_limit_mb). Seeds (fuzz/seeds/TARGET, committed; config/ for the
# configuration target) start each run, with the dictionary TARGET.dict where
# there is one; what libFuzzer learns goes to fuzz/corpus/TARGET (not
# committed), a crashing input to fuzz/artifacts/TARGET. Exits non-zero if any
# target failed.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)

echo "== building the fuzz targets (instrumented, release)"
cargo fuzz build -s none --debug-assertions
triple="$(rustc -vV | sed -n 's/^host: //p')"

mkdir -p logs
status=0
printf '%-16s %12s %8s %10s %8s %s\n' target inputs seconds inputs/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t"
  dict=()
  [ -f "$t.dict" ] && dict=(-dict="$t.dict")
  # The configuration target starts from the example configurations.
  more=()
  [ "$t" = config ] && more=(../config)
  runs=()
  [ -n "${ENTREX_FUZZ_RUNS:-}" ] && runs=(-runs="$ENTREX_FUZZ_RUNS")
  [ -n "${ENTREX_FUZZ_SEED:-}" ] && runs+=(-seed="$ENTREX_FUZZ_SEED")
  set +e
  # The binary cargo fuzz built, run as `cargo fuzz run` would, without
  # building again (an edit elsewhere in the tree must not rebuild mid-run).
  mkdir -p "artifacts/$t"
  "target/$triple/release/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" "${runs[@]}" \
    "corpus/$t" "seeds/$t" "${more[@]}" >"logs/$t.log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' || echo 0)
  took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "logs/$t.log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' || echo "$seconds")
  corpus=$(ls "corpus/$t" | wc -l)
  if [ "$rc" = 0 ]; then result=ok; else result="FAILED (exit $rc; see fuzz/logs/$t.log and fuzz/artifacts/$t)"; status=1; fi
  printf '%-16s %12s %8s %10s %8s %s\n' "$t" "${runs:-0}" "${took:-?}" "${rate:-0}" "$corpus" "$result"
done
exit "$status"
