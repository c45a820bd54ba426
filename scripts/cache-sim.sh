#!/usr/bin/env bash
# Simulated cache-miss figures per spread, from valgrind's cachegrind: for machines whose PMU
# the perf counters cannot read (virtual machines, most CI runners).
#
# Runs `spreadbench run` twice under cachegrind, with N1 and N2 measured spreads, and divides
# the difference in data references and misses by N2 - N1: the set-up (graph generation,
# warm-up, reporting) cancels out and what remains is the cost of one spread.
#
# Usage: scripts/cache-sim.sh [WORKLOAD]   (default warm-10k; N1, N2 from the environment)
# Exit codes: 0 ok, 3 valgrind is not installed.
set -euo pipefail
cd "$(dirname "$0")/.."

workload=${1:-warm-10k}
n1=${N1:-200}
n2=${N2:-1200}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "cache-sim: valgrind is not installed (apt-get install valgrind); no simulated figures" >&2
  exit 3
fi

cargo build --release --quiet
bin=target/release/spreadbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints "data_refs d1_misses ll_misses" for a run of $1 measured spreads.
simulate() {
  valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null \
    "$bin" run -w "$workload" --spreads "$1" --warmup 0 --threads 1 --counters off \
    --quiet --out "$tmp/results" 2>"$tmp/cg.txt" >/dev/null
  local refs d1 ll
  refs=$(grep -E '== D +refs:' "$tmp/cg.txt" | sed -E 's/.*refs: +([0-9,]+).*/\1/; s/,//g')
  d1=$(grep -E '== D1 +misses:' "$tmp/cg.txt" | sed -E 's/.*misses: +([0-9,]+).*/\1/; s/,//g')
  ll=$(grep -E '== LLd misses:' "$tmp/cg.txt" | sed -E 's/.*misses: +([0-9,]+).*/\1/; s/,//g')
  echo "$refs $d1 $ll"
}

read -r r1 d1a l1a < <(simulate "$n1")
read -r r2 d1b l1b < <(simulate "$n2")
# cachegrind models the host's caches; on a VM it reports what it assumed for the last level.
caches=$(grep -E 'simulated LL cache' "$tmp/cg.txt" | sed -E 's/^--[0-9]+-- warning: //' | head -1 || true)

awk -v w="$workload" -v n1="$n1" -v n2="$n2" \
    -v r1="$r1" -v r2="$r2" -v a1="$d1a" -v a2="$d1b" -v b1="$l1a" -v b2="$l1b" 'BEGIN {
  n = n2 - n1; refs = (r2 - r1) / n; d1 = (a2 - a1) / n; ll = (b2 - b1) / n
  printf "cache-sim: %s, cachegrind, per spread (difference of %d and %d measured spreads)\n", w, n2, n1
  printf "  data references  %12.0f\n", refs
  printf "  D1 misses        %12.0f  (%.2f%% of references)\n", d1, 100 * d1 / refs
  printf "  LL misses        %12.0f  (%.3f%% of references)\n", ll, 100 * ll / refs
}'
if [ -n "$caches" ]; then
  echo "  ($caches)"
fi
