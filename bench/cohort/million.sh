#!/usr/bin/env bash
# Issue 11's million: scenarios/rotterdam.toml over 10 years (a continuous Dutch diet, the
# cohort's default tolerances) for SIZE subjects on 2 threads; prints the wall time, the peak
# memory and the cohort's failed subjects (bench/README.md "Fifth session").
# Usage: bench/cohort/million.sh [K2SIM_BINARY] [SIZE]
#        (default build/release/apps/k2sim/k2sim and 1000000: about half an hour, 500 MB of disk)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/release/apps/k2sim/k2sim}
size=${2:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/^duration = .*/duration = "10 y"/' "$here/../../scenarios/rotterdam.toml" >"$work/r10.toml"
/usr/bin/time -f "%e %M" -o "$work/time" "$bin" cohort "$work/r10.toml" --size "$size" \
  --threads 2 --out "$work/out" -q
read -r secs kib <"$work/time"
failed=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['population']['failed'])" "$work/out/summary.json")
echo "subjects $size  wall ${secs} s ($(/usr/bin/python3 -c "print(round($secs / 60, 1))") min)  peak ${kib} KiB  failed $failed"
