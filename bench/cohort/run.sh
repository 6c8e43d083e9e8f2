#!/usr/bin/env bash
# Cohort benchmarks (bench/README.md "Cohorts"): subjects per second of a 10-year cohort of
# model full on 1 and 2 threads and on 2 MPI ranks, and peak memory for 1,000 and 100,000
# subjects. Usage: bench/cohort/run.sh [K2SIM_BINARY]   (default build/release/apps/k2sim/k2sim)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/release/apps/k2sim/k2sim}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timed() {  # label, command...: wall seconds and peak RSS (KiB) of the command
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1
  read -r secs kib <"$work/time"
  echo "$label $secs $kib"
}
n=$(grep -m1 '^size' "$here/cohort-10y.toml" | tr -dc 0-9)
t1=$(timed "1 thread" "$bin" cohort "$here/cohort-10y.toml" --out "$work/t1" --threads 1 -q)
t2=$(timed "2 threads" "$bin" cohort "$here/cohort-10y.toml" --out "$work/t2" --threads 2 -q)
m2=$(timed "2 MPI ranks" mpirun -np 2 --oversubscribe "$bin" cohort "$here/cohort-10y.toml" \
  --out "$work/m2" --threads 1 -q)
cmp -s "$work/t1/subjects.csv" "$work/t2/subjects.csv" && cmp -s "$work/t1/subjects.csv" "$work/m2/subjects.csv" \
  && same=yes || same=no
echo "10-year cohort of model full, $n subjects (subjects.csv identical in all three: $same)"
s1=$(echo "$t1" | awk '{print $3}')
for line in "$t1" "$t2" "$m2"; do
  echo "$line" | awk -v n="$n" -v s1="$s1" '{
    label = $1 " " $2; secs = $(NF-1);
    printf "  %-12s %8.1f s  %7.2f subjects/s  %8.0f subject-years/s  speed-up %.2f\n",
      label, secs, n / secs, 10 * n / secs, s1 / secs }'
done
for size in 1000 100000; do
  m=$(timed "$size" "$bin" cohort "$here/cohort-memory.toml" --out "$work/mem$size" --size "$size" --threads 2 -q)
  echo "$m" | awk '{printf "memory: %7d subjects  %7.1f s  peak RSS %.1f MiB\n", $1, $2, $3 / 1024}'
done
