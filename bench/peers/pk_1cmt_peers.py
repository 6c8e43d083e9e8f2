#!/usr/bin/env python3
"""Peers of BM_TenYearsDailyDoses: the same one-compartment oral MK-7 model (k2sim's parameter
table, data/parameters/pk_1cmt.csv), 180 ug daily for 3653 days, daily output, rtol = atol = 1e-8,
timed with SciPy (solve_ivp LSODA, restarted at each dose; odeint, LSODA from ODEPACK) and
R deSolve (lsoda with an event table). Prints wall time per run, us per dose, subject-years per
second, and the relative error of the final plasma amount against the closed-form superposition.

Run: /usr/bin/python3 bench/peers/pk_1cmt_peers.py [TOL]   (TOL = rtol = atol, default 1e-8; needs python3-scipy and r-cran-desolve:
scripts/install-deps --bench)
"""
import csv
import math
import pathlib
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import odeint, solve_ivp

ROOT = pathlib.Path(__file__).resolve().parents[2]
DAYS = 3653
TOL = float(sys.argv[1]) if len(sys.argv) > 1 else 1e-8


def params():
    with (ROOT / "data/parameters/pk_1cmt.csv").open() as f:
        rows = {r["name"]: float(r["value"]) for r in csv.DictReader(f)}
    return rows["ka_mk7"], rows["k_mk7_elim"]


KA, KE = params()
DOSE = 180.0 / 649.016 * 1e3  # nmol, as k2sim's substance table


def exact_central(t):
    total = 0.0
    for k in range(DAYS):
        s = t - 24.0 * k
        if s > 0:
            total += DOSE * KA / (KA - KE) * (math.exp(-KE * s) - math.exp(-KA * s))
    return total


def rhs(t, y):
    return [-KA * y[0], KA * y[0] - KE * y[1]]


def scipy_solve_ivp():
    y = np.zeros(2)
    out = [y.copy()]
    for d in range(DAYS):
        y[0] += DOSE
        sol = solve_ivp(rhs, (24.0 * d, 24.0 * (d + 1)), y, method="LSODA", rtol=TOL, atol=TOL)
        y = sol.y[:, -1].copy()
        out.append(y.copy())
    return y[1]


def scipy_odeint():
    y = np.zeros(2)
    f = lambda y, t: rhs(t, y)  # noqa: E731
    for d in range(DAYS):
        y[0] += DOSE
        y = odeint(f, y, [24.0 * d, 24.0 * (d + 1)], rtol=TOL, atol=TOL)[-1].copy()
    return y[1]


R_SCRIPT = f"""
suppressMessages(library(deSolve))
ka <- {KA!r}; ke <- {KE!r}; dose <- {DOSE!r}; days <- {DAYS}
f <- function(t, y, p) list(c(-ka * y[1], ka * y[1] - ke * y[2]))
ev <- data.frame(var = "gut", time = 24 * (0:(days - 1)), value = dose, method = "add")
times <- 24 * (0:days)
el <- system.time(out <- lsoda(c(gut = 0, central = 0), times, f, NULL, rtol = {TOL}, atol = {TOL},
                               events = list(data = ev)))[["elapsed"]]
cat(sprintf("%.6f %.12g\\n", el, out[nrow(out), "central"]))
"""


def report(name, seconds, central):
    ex = exact_central(24.0 * DAYS)
    print(f"{name:28s} {seconds * 1e3:10.1f} ms  {seconds / DAYS * 1e6:8.1f} us/dose  "
          f"{DAYS / 365.25 / seconds:8.2f} subject-years/s  rel. error {abs(central - ex) / ex:.2e}")


if __name__ == "__main__":
    print(f"rtol = atol = {TOL:g}; exact central amount at {DAYS} d: "
          f"{exact_central(24.0 * DAYS):.10g} nmol")
    for name, fn in [("scipy solve_ivp LSODA", scipy_solve_ivp), ("scipy odeint (LSODA)", scipy_odeint)]:
        t0 = time.perf_counter()
        c = fn()
        report(name, time.perf_counter() - t0, c)
    try:
        r = subprocess.run(["Rscript", "-e", R_SCRIPT], capture_output=True, text=True, check=True)
        el, c = r.stdout.split()
        report("R deSolve lsoda (events)", float(el), float(c))
    except (OSError, subprocess.CalledProcessError) as e:
        print("R deSolve: not run:", e)
