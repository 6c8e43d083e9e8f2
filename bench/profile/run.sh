#!/usr/bin/env bash
# Where the time goes in model full (bench/README.md "Where the time goes"): one subject with
# three meals a day and daily MK-7, timed with the dense and the KLU linear solver, then sampled
# with perf (Debian linux-perf) and summarized by solver phase.
# Usage: bench/profile/run.sh [K2SIM_BINARY] [YEARS]   (default build/release/apps/k2sim/k2sim, 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/release/apps/k2sim/k2sim}
years=${2:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s/^duration = .*/duration = \"$years y\"/" "$here/full-meals-mk7.toml" >"$work/s.toml"
solver() {  # the solver record of a run's summary.json
  python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['arms']; print(next(iter(a.values()))['solver'])" "$1"
}
for ls in dense klu; do
  /usr/bin/time -f "%e %U" -o "$work/time" "$bin" run "$work/s.toml" --out "$work/$ls" -q \
    --set solver.linear_solver=$ls
  read -r wall user <"$work/time"
  echo "$ls: $wall s wall, $user s user for $years y; $(solver "$work/$ls/summary.json")"
done
command -v perf >/dev/null || { echo "perf not found (apt install linux-perf)"; exit 0; }
perf record -q -F 499 -g -o "$work/perf.data" "$bin" run "$work/s.toml" --out "$work/p" -q 2>/dev/null
perf report -i "$work/perf.data" --children --sort symbol --stdio -g none 2>/dev/null >"$work/report.txt"
# Inclusive share of the phases (a sample counts in every function on its stack).
for f in 'k2sim::simulate' 'CVode' 'SUNNonlinSolSolve_Newton' 'cvLsSolve' 'SUNDlsMat_denseGETRS' \
  'cvLsSetup' 'SUNDlsMat_denseGETRF' 'SUNMatScaleAddI_Dense' 'SUNMatCopy_Dense' \
  'Integrator::rhs_callback' 'CalciumBone::rhs' 'VitK::rhs' '__ieee754_pow_fma' \
  'N_VLinearSum_Serial' 'N_VWSqrSumLocal_Serial'; do
  awk -v f="$f" '!/^#/ && index($0, f) { printf "  %-28s %7s inclusive, %7s self\n", f, $1, $2; exit }' \
    "$work/report.txt"
done
