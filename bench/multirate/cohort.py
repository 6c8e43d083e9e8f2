#!/usr/bin/env python3
"""Multi-rate mode against full resolution on a cohort (bench/README.md "Multi-rate integration").

Usage: bench/multirate/cohort.py K2SIM_BINARY SCENARIO.toml [--size N] [--threads T]
                                 [--duration "10 y"] [--mode auto|on] [--keep DIR]

Runs `k2sim cohort` twice on the same subjects, with solver.multirate=off and with the given mode
(auto by default), and prints markdown: the wall time of each run and their ratio; per subject,
the largest relative difference of each end value in subjects.csv (CAC, BMD, 25(OH)D and dp-ucMGP,
the outputs issue 11 names, and any other), relative to the value with a floor of 1e-6 of the
column's largest magnitude; how many drawn events differ; and the relative difference of every
effect estimate of the analysis (summary.json), with a floor of 1e-6 of the estimate's scale.
--duration writes a copy of the scenario with that duration (`--set` cannot change it).
With --keep DIR, a full-resolution cohort already in DIR/off (with its wall time in DIR/off/wall_s)
is reused: full resolution does not depend on the multi-rate code, so it need not run again.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

KEY = ["cac_agatston", "bmd_lumbar_spine_rel", "bmd_femoral_neck_rel", "serum_25ohd_nmol_per_L",
       "dp_ucmgp_pmol_per_L"]


def run(binary, scenario, out, mode, size, threads):
    cmd = [binary, "cohort", scenario, "--out", out, "-q", "--size", str(size), "--threads",
           str(threads), "--set", f"solver.multirate={mode}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def flatten(node, prefix=""):
    """Numeric leaves of a JSON tree as {path: value}."""
    out = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.update(flatten(v, f"{prefix}[{i}]"))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out[prefix] = float(node)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("scenario")
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration")
    ap.add_argument("--mode", default="auto")
    ap.add_argument("--keep", help="keep both cohorts under this directory")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp()
    os.makedirs(work, exist_ok=True)
    scenario = args.scenario
    if args.duration:
        text = open(scenario).read()
        text, n = re.subn(r'(?m)^duration = .*$', f'duration = "{args.duration}"', text, count=1)
        if n != 1:
            sys.exit(f"{scenario}: no top-level duration line to replace")
        # (In the temporary directory: a scenario that names other files by relative paths
        # cannot be given a duration this way.)
        scenario = os.path.join(tempfile.mkdtemp(), os.path.basename(args.scenario))
        open(scenario, "w").write(text)
    try:
        done = os.path.join(work, "off", "wall_s")
        if args.keep and os.path.exists(done):
            t_off = float(open(done).read())
        else:
            t_off = run(args.binary, scenario, os.path.join(work, "off"), "off", args.size,
                        args.threads)
            open(done, "w").write(f"{t_off:.1f}\n")
        if os.path.exists(os.path.join(work, args.mode)):
            shutil.rmtree(os.path.join(work, args.mode))
        t_mr = run(args.binary, scenario, os.path.join(work, args.mode), args.mode, args.size,
                   args.threads)
    finally:
        if scenario != args.scenario:
            os.remove(scenario)
    off = read_rows(os.path.join(work, "off", "subjects.csv"))
    mr = read_rows(os.path.join(work, args.mode, "subjects.csv"))
    assert len(off) == len(mr), "the two runs have different subjects"
    columns = [c for c in off[0] if c.endswith("_end")]
    worst = {}
    failed = sum(1 for a, b in zip(off, mr) if a["status"] != "ok" or b["status"] != "ok")
    for c in columns:
        vals = [(number(a[c]), number(b[c])) for a, b in zip(off, mr)
                if a["status"] == "ok" and b["status"] == "ok"]
        vals = [(x, y) for x, y in vals if x is not None and y is not None]
        if not vals:
            continue
        floor = 1e-6 * max(abs(x) for x, _ in vals)
        w = max(abs(y - x) / max(abs(x), floor) if max(abs(x), floor) > 0 else 0.0
                for x, y in vals)
        worst[c] = w
    events = [c for c in off[0] if c.split(".")[-1] in ("chd_event", "chd_death", "death")]
    flips = sum(1 for a, b in zip(off, mr) for c in events if a[c] != b[c])
    print(f"scenario {args.scenario}, {args.size} subjects, duration "
          f"{args.duration or 'as written'}, {args.threads} threads")
    print()
    print(f"| run | wall time |\n|---|---|\n| off | {t_off:.1f} s |\n| {args.mode} | {t_mr:.1f} s |")
    print(f"\nspeed-up {t_off / t_mr:.2f}x; failed subjects (either run): {failed}; "
          f"drawn events that differ: {flips} of {len(off) * len(events)}")
    print("\n| end value | largest relative difference over subjects |\n|---|---|")
    key_cols = [c for c in columns if any(c.split(".")[-1].startswith(k) for k in KEY)]
    for c in key_cols:
        print(f"| {c} | {worst.get(c, 0.0):.1e} |")
    rest = max(((w, c) for c, w in worst.items() if c not in key_cols), default=(0.0, "-"))
    print(f"| largest of the others: {rest[1]} | {rest[0]:.1e} |")
    ea = flatten(json.load(open(os.path.join(work, "off", "summary.json")))["analysis"])
    eb = flatten(json.load(open(os.path.join(work, args.mode, "summary.json")))["analysis"])
    print("\n| analysis estimate | off | " + args.mode + " | relative difference |\n|---|---|---|---|")
    for k, x in ea.items():
        if k.startswith("means.") or k not in eb:
            continue
        if not any(s in k for s in ("effect", "mean_change", "risk", "hazard", "ratio")):
            continue
        y = eb[k]
        scale = max(abs(x), 1e-6 * max(abs(v) for v in ea.values()))
        d = abs(y - x) / scale if scale > 0 else 0.0
        print(f"| {k} | {x:.6g} | {y:.6g} | {d:.1e} |")


if __name__ == "__main__":
    main()
