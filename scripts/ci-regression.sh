#!/usr/bin/env bash
# CI regression check: builds, runs warm-10k, diffs the run against the committed baseline
# (results/baseline/warm-10k.json) and prints the markdown table for a pull-request comment.
#
# Advisory by default: a regression is reported, the script still exits 0. With
# SPREADBENCH_STRICT=1 a regression or behaviour change fails it (exit 3). Incomparable
# snapshots or bad input exit 2 either way.
#
# The run uses the baseline's configuration (one hop thread, so the config is the same on any
# machine). A stored baseline compares against a run on another day, perhaps another machine;
# with SPREADBENCH_CALIBRATE=1 (and a baseline that carries a calibration figure) the diff
# divides out the machine's speed drift measured on a reference kernel (`--calibrate`); it is
# opt-in until its benefit is measured on the CI machine. On shared runners prefer
# `spreadbench compare --base-bin OLD --new-bin NEW` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=${SPREADBENCH_BASELINE:-results/baseline/warm-10k.json}
cargo build --release --quiet
bin=target/release/spreadbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" run -w warm-10k --threads 1 --counters off --quiet --out "$tmp/results" >/dev/null
new=$(ls -d "$tmp"/results/*-run-warm-10k)

args=(diff "$baseline" "$new" --format markdown)
if [ "${SPREADBENCH_CALIBRATE:-0}" = 1 ]; then
  if grep -q '"calibration"' "$baseline"; then
    args+=(--calibrate)
  else
    echo "note: $baseline has no calibration figure; diffing without --calibrate (refresh the baseline)" >&2
  fi
fi
if [ "${SPREADBENCH_STRICT:-0}" != 1 ]; then
  args+=(--advisory)
fi
"$bin" "${args[@]}"
