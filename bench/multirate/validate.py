#!/usr/bin/env python3
"""Multi-rate mode against full resolution on scenarios (bench/README.md "Multi-rate integration").

Usage: bench/multirate/validate.py K2SIM_BINARY SCENARIO.toml... [--mode on|auto] [--set KEY=VALUE]

Runs each scenario twice with `k2sim run`, with solver.multirate=off and with the given mode, and
prints a markdown table: the wall time of each run, their ratio, and the largest relative
difference over the run in CAC, BMD, 25(OH)D and dp-ucMGP (the outputs issue 11 names) and in any
output (relative to the value, with a floor of 1e-6 of the output's largest magnitude), with the
output and day where it is largest. Values below 1e-9 (in the output's unit) count as 0.
"""
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

KEY = ["cac_agatston", "bmd_lumbar_spine_rel", "bmd_femoral_neck_rel", "serum_25ohd_nmol_per_L",
       "dp_ucmgp_pmol_per_L"]


def run(binary, scenario, out, mode, extra):
    cmd = [binary, "run", scenario, "--out", out, "-q", "--set", f"solver.multirate={mode}"]
    for e in extra:
        cmd += ["--set", e]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def load(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    return rows[0], [[float(v) if v not in ("", "nan") else float("nan") for v in r] for r in rows[1:]]


def compare(a_path, b_path):
    ha, ra = load(a_path)
    hb, rb = load(b_path)
    assert ha == hb and len(ra) == len(rb), (a_path, len(ra), len(rb))
    worst = {}
    for j, name in enumerate(ha[1:], start=1):
        big = max((abs(r[j]) for r in rb if r[j] == r[j]), default=0.0)
        w, at = 0.0, 0.0
        for x, y in zip(ra, rb):
            if y[j] != y[j] or x[j] != x[j]:
                continue
            d = abs(x[j] - y[j]) / max(abs(y[j]), 1e-6 * big, 1e-9)
            if d > w:
                w, at = d, y[0]
        worst[name] = (w, at)
    return worst


def key_cells(worst):
    """The table cells of the outputs issue 11 names (KEY), and of the largest difference."""
    def cell(*names):
        vals = [f"{worst[n][0]:.1e}" for n in names if n in worst]
        return ", ".join(vals) if vals else "-"
    top = max(worst.items(), key=lambda kv: kv[1][0])
    return (f"{cell(KEY[0])} | {cell(KEY[1], KEY[2])} | {cell(KEY[3])} | {cell(KEY[4])} "
            f"| {top[1][0]:.1e} ({top[0]}, day {top[1][1]:g})")


def main():
    args = sys.argv[1:]
    mode, extra, scenarios = "on", [], []
    i = 0
    while i < len(args):
        if args[i] == "--mode":
            mode = args[i + 1]
            i += 2
        elif args[i] == "--set":
            extra.append(args[i + 1])
            i += 2
        else:
            scenarios.append(args[i])
            i += 1
    binary, scenarios = scenarios[0], scenarios[1:]
    print("| scenario | arm | full | multi-rate | speed-up | periods integrated | CAC | BMD (spine, hip) "
          "| 25(OH)D | dp-ucMGP | largest, any output |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for sc in scenarios:
        with tempfile.TemporaryDirectory() as tmp:
            t_off = run(binary, sc, os.path.join(tmp, "off"), "off", extra)
            t_on = run(binary, sc, os.path.join(tmp, "on"), mode, extra)
            summary = json.load(open(os.path.join(tmp, "on", "summary.json")))
            for path in sorted(glob.glob(os.path.join(tmp, "off", "trajectory*.csv"))):
                name = os.path.basename(path)
                arm = name[len("trajectory_"):-4] if name != "trajectory.csv" else ""
                w = compare(os.path.join(tmp, "on", name), path)
                solver = summary["arms"][arm or next(iter(summary["arms"]))]["solver"]
                periods = solver.get("multirate", {}).get("periods_integrated", 0)
                print(f"| {os.path.basename(sc)} | {arm or '-'} | {t_off:.1f} s | {t_on:.1f} s "
                      f"| {t_off / t_on:.1f}x | {periods} | {key_cells(w)} |", flush=True)


if __name__ == "__main__":
    main()
