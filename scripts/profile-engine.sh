#!/usr/bin/env bash
# Instruction and simulated cache-miss counts of the spreading engine, per phase, from
# valgrind's callgrind: repeatable on a noisy shared machine where timings are not, and
# available where the PMU is not (virtual machines, most CI runners).
#
# Runs examples/profile_engine (N measured spreads of the workload's seeded request stream on
# one thread, after W warm-up spreads) under callgrind with collection switched on only inside
# the measured spreads, then prints, per spread and per relaxed edge, the
# inclusive instructions (Ir), data reads, D1 read misses and mispredicted conditional
# branches (callgrind's simple predictor: a guide to branches on data, not a measurement) of
# the phases, which are
# `#[inline(never)]` functions of their own: push (serial::push_hop), apply (serial::apply_hop:
# first-contact filter and application), the same two of a last hop on dense sums
# (dense::push_last, dense::apply_last, with the scan of the marks), the hops run in parallel
# (parallel::hop), collect (collect::collect: gather, rank, records).
# The example also prints a hash of every result, to check that a change keeps results
# bit-identical while it is profiled.
#
# Usage: scripts/profile-engine.sh [WORKLOAD] [N] [W]   (default warm-10k 2000 200)
# PROFILE_ENGINE_BIN=<path> counts another build's profile_engine (a base commit's, built in
# a worktree) with this script's parsing.
# Exit codes: 0 ok, 2 PROFILE_ENGINE_BIN is not an executable, 3 valgrind is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-warm-10k}
n=${2:-2000}
w=${3:-200}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "profile-engine: valgrind is not installed (apt-get install valgrind); no counts" >&2
  exit 3
fi

cargo build --release --quiet --example profile_engine
bin=${PROFILE_ENGINE_BIN:-target/release/examples/profile_engine}
if [ ! -x "$bin" ]; then
  echo "profile-engine: PROFILE_ENGINE_BIN=$bin is not an executable file" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes --toggle-collect='*profile_engine::measured*' \
  --callgrind-out-file="$tmp/cg.out" "$bin" "$workload" "$n" "$w" >"$tmp/run.txt" 2>"$tmp/vg.txt"
cat "$tmp/run.txt"
callgrind_annotate --inclusive=yes --show-percs=no "$tmp/cg.out" >"$tmp/ann.txt" 2>/dev/null

# "per spread 5588.4 edges relaxed, 494.2 nodes activated, 3202.4 rejected"
edges=$(sed -E 's/.*per spread ([0-9.]+) edges relaxed.*/\1/' "$tmp/run.txt")

# Inclusive Ir, Dr, D1mr, Bcm of the function whose name ends in $1 (0 when it never ran).
# An event that never happened is printed as "." by callgrind_annotate: counted as 0.
phase() {
  # Columns: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim; a phase's inclusive line
  # is the one whose function name ends the line ("file.rs:path::fn", without "[binary]").
  grep -E "^ *[0-9,]+ .*/src/engine/spreader/[a-z_]+\.rs:spreadbench::engine::spreader::$1\$" "$tmp/ann.txt" | head -1 |
    awk '{ for (i = 1; i <= 11; i++) { gsub(",", "", $i); if ($i == ".") $i = 0 } print $1, $2, $5, $11 }' || true
}
total=$(grep -E 'PROGRAM TOTALS' "$tmp/ann.txt" |
  awk '{ for (i = 1; i <= 11; i++) { gsub(",", "", $i); if ($i == ".") $i = 0 } print $1, $2, $5, $11 }')

printf '%s: callgrind, %s measured spreads (inclusive counts per spread)\n' "$workload" "$n"
printf '  %-9s %12s %10s %10s %12s %10s\n' phase instructions "data reads" "D1 misses" mispredicts "Ir/edge"
{
  echo "push $(phase 'serial::push_hop')"
  echo "apply $(phase 'serial::apply_hop')"
  echo "push-last $(phase 'dense::push_last')"
  echo "apply-last $(phase 'dense::apply_last')"
  echo "parallel $(phase 'parallel::hop')"
  echo "collect $(phase 'collect::collect')"
  echo "total $total"
} | awk -v n="$n" -v e="$edges" 'NF == 5 {
  printf "  %-9s %12.0f %10.0f %10.0f %12.0f %10.2f\n", $1, $2 / n, $3 / n, $4 / n, $5 / n, $2 / n / e
}'
