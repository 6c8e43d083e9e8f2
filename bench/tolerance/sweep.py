#!/usr/bin/env python3
"""Solver tolerances against a tight reference (bench/README.md "Tolerances").

Usage: bench/tolerance/sweep.py K2SIM_BINARY SCENARIO.toml [--set KEY=VALUE]...
                                [--rtol 1e-6,1e-7,1e-8,1e-9] [--reference 1e-11]

Runs the scenario with `k2sim run` at each relative tolerance (atol = rtol * 1e-4, the ratio of
the defaults 1e-8 and 1e-12) and once at the reference tolerance, and prints a markdown table:
wall time, solver steps, and the largest relative difference from the reference over the run in
CAC, BMD, 25(OH)D and dp-ucMGP and in any output (relative to the value, with a floor of 1e-6 of
the output's largest magnitude; bench/multirate/validate.py's measure). Extra --set options go to
every run (for example solver.multirate=off).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "multirate"))
from validate import compare, key_cells  # noqa: E402


def run(binary, scenario, out, rtol, extra):
    cmd = [binary, "run", scenario, "--out", out, "-q", "--set", f"solver.rtol={rtol:g}",
           "--set", f"solver.atol={rtol * 1e-4:g}"]
    for e in extra:
        cmd += ["--set", e]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - t0
    arms = json.load(open(os.path.join(out, "summary.json")))["arms"]
    steps = sum(a["solver"]["steps"] for a in arms.values())
    return seconds, steps


def main():
    args = sys.argv[1:]
    extra, rest = [], []
    rtols = [1e-6, 1e-7, 1e-8, 1e-9]
    reference = 1e-11
    i = 0
    while i < len(args):
        if args[i] == "--set":
            extra.append(args[i + 1])
            i += 2
        elif args[i] == "--rtol":
            rtols = [float(v) for v in args[i + 1].split(",")]
            i += 2
        elif args[i] == "--reference":
            reference = float(args[i + 1])
            i += 2
        else:
            rest.append(args[i])
            i += 1
    binary, scenario = rest
    with tempfile.TemporaryDirectory() as tmp:
        ref = os.path.join(tmp, "ref")
        t_ref, s_ref = run(binary, scenario, ref, reference, extra)
        print(f"{os.path.basename(scenario)} {' '.join(extra)}; reference rtol {reference:g}: "
              f"{t_ref:.1f} s, {s_ref} steps\n")
        print("| rtol | atol | time | steps | CAC | BMD (spine, hip) | 25(OH)D | dp-ucMGP "
              "| largest, any output |")
        print("|---|---|---|---|---|---|---|---|---|")
        for rtol in rtols:
            out = os.path.join(tmp, f"r{rtol:g}")
            t, steps = run(binary, scenario, out, rtol, extra)
            worst = {}
            for name in sorted(os.listdir(ref)):
                if name.startswith("trajectory") and name.endswith(".csv"):
                    for k, v in compare(os.path.join(out, name), os.path.join(ref, name)).items():
                        if v[0] >= worst.get(k, (-1.0, 0.0))[0]:
                            worst[k] = v
            print(f"| {rtol:g} | {rtol * 1e-4:g} | {t:.1f} s | {steps} | {key_cells(worst)} |",
                  flush=True)


if __name__ == "__main__":
    main()
