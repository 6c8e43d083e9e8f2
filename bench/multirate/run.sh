#!/usr/bin/env bash
# Multi-rate integration against full resolution in the same run (bench/README.md "Multi-rate
# integration"): wall time of each, their ratio, and the largest relative differences over the
# run (bench/multirate/validate.py). Scenarios: model full, 10 years of the Dutch diet and daily
# MK-7 (started at 0 d, and at its periodic steady state), and the calcium-bone model with
# daily teriparatide for 10 years.
# Usage: bench/multirate/run.sh [K2SIM_BINARY]   (default build/release/apps/k2sim/k2sim)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/release/apps/k2sim/k2sim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed 's/^start = "8 h"/start = "8 h"\nsteady_state = true/' "$here/full-dutch-mk7.toml" \
  | sed 's/^name = .*/name = "multirate-full-dutch-mk7-ss"/' >"$work/full-dutch-mk7-ss.toml"
/usr/bin/python3 "$here/validate.py" "$bin" "$here/full-dutch-mk7.toml" "$work/full-dutch-mk7-ss.toml" \
  "$here/teriparatide-10y.toml"
