#!/usr/bin/env bash
# Benchmark (not a test): the demo's buildMixture wall time, this checkout against a baseline
# commit, taken in turns in one session so both see the same machine.
#
#   bash test/bench/demo_vs_baseline.sh [BASELINE_COMMIT] [ROUNDS]
#
# BASELINE_COMMIT defaults to 3a252ed, the demo as issue 7 found it (a spark-submit JVM per stage;
# it stops after the quality filter, so it does less than today's demo). The baseline is cloned
# into a temp dir and set up with its own `npm run setup`. Both demos use the same ports, so
# each round stops every service first, then runs one demo from a cold storage root.
# Prints each run's buildMixture seconds and the ratio of the medians (this / baseline).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
baseline_commit=${1:-3a252ed}
rounds=${2:-2}
work=$(mktemp -d /tmp/ccmix-demo-baseline-XXXXXX)
stop_services() {
  for d in "$repo" "$work/baseline"; do (cd "$d" && node bin/ccmix.js services down >/dev/null 2>&1 || true); done
}
trap stop_services EXIT

git clone -q "$repo" "$work/baseline"
git -C "$work/baseline" checkout -q "$baseline_commit"
(cd "$work/baseline" && npm run setup >"$work/baseline-setup.log" 2>&1)
(cd "$repo" && npm run setup >"$work/setup.log" 2>&1)

# Seconds of buildMixture: today's demo prints "buildMixture finished in X s"; the baseline's
# ends its discover line with the same interval, "(X s)".
demo_seconds() {
  local dir=$1 log=$2
  stop_services
  rm -rf "$dir/.ccmix/runs"
  (cd "$dir" && node bin/ccmix.js demo >"$log" 2>&1)
  grep -o 'buildMixture finished in [0-9.]* s' "$log" | grep -o '[0-9.]*' ||
    grep '^discover:' "$log" | grep -o '([0-9.]* s)$' | grep -o '[0-9.]*'
}

this=() base=()
for round in $(seq 1 "$rounds"); do
  this+=("$(demo_seconds "$repo" "$work/this-$round.log")")
  base+=("$(demo_seconds "$work/baseline" "$work/baseline-$round.log")")
  echo "round $round: this ${this[-1]} s, baseline ${base[-1]} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
m_this=$(median "${this[@]}") m_base=$(median "${base[@]}")
echo "median: this $m_this s, baseline ($baseline_commit) $m_base s, ratio $(awk -v a="$m_this" -v b="$m_base" 'BEGIN {printf "%.3f", a/b}')"
echo "logs: $work"
