#!/usr/bin/env python3
"""In-run peer for the calcium-bone benchmark (issue 5): the published equations of Peterson &
Riggs (Bone 2010;46:49-63) read straight from their BioModels SBML encoding
(data/models/BIOMD0000000613.xml, CC0), integrated with SciPy's LSODA at rtol = atol = TOL.

The SBML is translated, not transcribed: assignment rules are sorted by their dependencies and
compiled, with the reactions, into one Python function. Time is in hours (1 year = 8766 h), amounts
as in the SBML (calcium mmol, PTH pmol, calcitriol pmol; all compartments have size 1, so plasma
concentrations are amounts / V1, the model's vasculature volume of 14 L).

Scenarios:
  baseline YEARS         no input change for YEARS (default 10) years, daily output; prints the
                         largest relative drift of plasma calcium, PTH and calcitriol (the model's
                         steady state: 2.35 mmol/L, 3.85 pmol/L, 90 pmol/L)
  teriparatide DOSE DAYS teriparatide DOSE ug SC once a day for DAYS days, daily output (the
                         benchmark scenario is 20 ug for 3653 days), restarted at each dose
  check DIR              compares with the reference trajectories of the published model in DIR
                         (peterson-riggs_baseline_10y.csv, peterson-riggs_teriparatide_20_40ug_10d.csv)
Each run prints its wall time and subject-years per second.

Teriparatide: the SBML's event *sets* the subcutaneous amount TERISC to the dose (4117.8 g/mol)
at each dosing time; here a dose is *added*, which is the same once the previous dose has gone
(TERISC decays at TERICL/TERIVC = 0.71 1/h, so less than 1e-7 of it is left after 24 h).

Run: /usr/bin/python3 bench/peers/peterson_riggs_peer.py baseline 10   (needs python3-scipy:
scripts/install-deps --bench)
"""
import csv
import math
import pathlib
import re
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
from scipy.integrate import solve_ivp

ROOT = pathlib.Path(__file__).resolve().parents[2]
SBML = ROOT / "data/models/BIOMD0000000613.xml"
S = "{http://www.sbml.org/sbml/level3/version1/core}"
M = "{http://www.w3.org/1998/Math/MathML}"
HOURS_PER_YEAR = 8766.0
TERIPARATIDE_G_PER_MOL = 4117.8  # the SBML's event assignment


def mathml(e):
    """A MathML element of the subset used by BIOMD0000000613 as a Python expression."""
    t = e.tag[len(M):]
    if t == "math":
        (child,) = list(e)
        return mathml(child)
    if t == "ci":
        return e.text.strip()
    if t == "cn":
        if e.get("type") == "e-notation":
            parts = [x.strip() for x in e.itertext() if x.strip()]
            return f"({parts[0]}e{parts[1]})"
        return f"({e.text.strip()})"
    if t == "csymbol":
        if not e.get("definitionURL", "").endswith("/time"):
            raise ValueError(f"unsupported csymbol {e.get('definitionURL')}")
        return "t"
    if t == "piecewise":
        pieces = [k for k in e if k.tag == M + "piece"]
        other = [k for k in e if k.tag == M + "otherwise"]
        out = mathml(list(other[0])[0]) if other else "nan"
        for p in reversed(pieces):
            value, cond = list(p)
            out = f"({mathml(value)} if {mathml(cond)} else {out})"
        return out
    if t == "apply":
        kids = list(e)
        op = kids[0].tag[len(M):]
        a = [mathml(k) for k in kids[1:]]
        binary = {"divide": "/", "power": "**", "eq": "==", "lt": "<", "gt": ">"}
        if op == "plus":
            return "(" + " + ".join(a) + ")"
        if op == "times":
            return "(" + " * ".join(a) + ")"
        if op == "minus":
            return f"(-{a[0]})" if len(a) == 1 else f"({a[0]} - {a[1]})"
        if op in binary:
            return f"({a[0]} {binary[op]} {a[1]})"
        if op in ("exp", "ln"):
            return f"{'exp' if op == 'exp' else 'log'}({a[0]})"
        if op in ("and", "or"):
            return "(" + f" {op} ".join(a) + ")"
        raise ValueError(f"unsupported MathML operator {op}")
    raise ValueError(f"unsupported MathML element {t}")


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = {"if", "else", "and", "or", "exp", "log", "t", "nan"}


def dependency_order(exprs):
    """The keys of `exprs` ordered so that each comes after the keys its expression uses."""
    order, done, active = [], set(), set()

    def visit(v):
        if v in done:
            return
        if v in active:
            raise ValueError(f"cyclic assignment rules at {v}")
        active.add(v)
        for u in IDENT.findall(exprs[v]):
            if u in exprs and u not in KEYWORDS:
                visit(u)
        active.discard(v)
        done.add(v)
        order.append(v)

    for v in exprs:
        visit(v)
    return order


class Model:
    def __init__(self, path=SBML):
        m = ET.parse(path).getroot().find(S + "model")
        if m.find(S + "listOfRules") is None or any(
            r.tag != S + "assignmentRule" for r in m.find(S + "listOfRules")
        ):
            raise ValueError("only assignment rules are supported")
        self.rules = {r.get("variable"): mathml(r.find(M + "math")) for r in m.find(S + "listOfRules")}
        initial = {x.get("symbol"): mathml(x.find(M + "math")) for x in m.find(S + "listOfInitialAssignments")}
        self.species = [s.get("id") for s in m.find(S + "listOfSpecies")]
        env = {"exp": math.exp, "log": math.log, "nan": float("nan"), "t": 0.0}
        for c in m.find(S + "listOfCompartments"):
            env[c.get("id")] = float(c.get("size"))
        for p in m.find(S + "listOfParameters"):
            if p.get("value") is not None:
                env[p.get("id")] = float(p.get("value"))
        for s in m.find(S + "listOfSpecies"):
            v = s.get("initialAmount") or s.get("initialConcentration")
            if v is not None:
                env[s.get("id")] = float(v)
        # Initial values: initial assignments and (for the other symbols) the rules, at t = 0.
        at_start = dict(self.rules)
        at_start.update(initial)
        for v in dependency_order(at_start):
            env[v] = eval(at_start[v], {}, env)
        self.y0 = np.array([env[s] for s in self.species])
        self.index = {s: i for i, s in enumerate(self.species)}
        constants = {
            k: v for k, v in env.items() if k not in self.rules and k not in self.index and k != "t"
        }
        # One compiled function: unpack the states, evaluate the rules in order, sum the reactions.
        lines = ["def rhs(t, y):"]
        lines += [f"    {s} = y[{i}]" for i, s in enumerate(self.species)]
        lines += [f"    {v} = {self.rules[v]}" for v in dependency_order(self.rules)]
        lines.append(f"    dy = [0.0] * {len(self.species)}")
        for x in m.find(S + "listOfReactions"):
            rate = mathml(x.find(S + "kineticLaw").find(M + "math"))
            lines.append(f"    r = {rate}")
            for lst, sign in (("listOfReactants", -1), ("listOfProducts", 1)):
                refs = x.find(S + lst)
                for sr in [] if refs is None else refs:
                    n = sign * float(sr.get("stoichiometry") or 1)
                    lines.append(f"    dy[{self.index[sr.get('species')]}] += {n!r} * r")
        lines.append("    return dy")
        self.constants = constants
        namespace = dict(constants)
        exec(compile("\n".join(lines), str(path), "exec"), namespace)
        self.rhs = namespace["rhs"]

    def run(self, hours, output_h, tol, doses_pmol=(), dose_state="TERISC"):
        """Integrates to `hours`, with boluses (time h, amount) into `dose_state`, restarting the
        integrator at each dose; returns the output times (every `output_h`) and states."""
        y = self.y0.copy()
        grid = np.arange(0.0, hours + 1e-9, output_h)
        cuts = sorted({0.0, hours} | {t for t, _ in doses_pmol if t < hours})
        times, states = [], []
        for a, b in zip(cuts[:-1], cuts[1:]):
            for t, amount in doses_pmol:
                if t == a:
                    y[self.index[dose_state]] += amount
            points = np.unique(np.append(grid[(grid >= a) & (grid < b)], b))
            sol = solve_ivp(lambda t, yy: self.rhs(t, yy), (a, b), y, method="LSODA", rtol=tol,
                            atol=tol, t_eval=points)
            if sol.status != 0:
                raise RuntimeError(sol.message)
            for ti, yi in zip(sol.t, sol.y.T):
                if ti < b:
                    times.append(ti)
                    states.append(yi)
            y = sol.y[:, -1].copy()
        if abs(grid[-1] - hours) < 1e-9:
            times.append(hours)
            states.append(y)
        return np.array(times), np.array(states)


def teriparatide_doses(dose_ug, days):
    amount = dose_ug * 1e6 / TERIPARATIDE_G_PER_MOL  # pmol
    return [(24.0 * d, amount) for d in range(days)]


def timed(label, years, fn):
    start = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - start
    print(f"{label}: {wall:.3f} s, {years / wall:.3g} subject-years/s")
    return out


def main(argv):
    tol = 1e-8
    model = Model()
    what = argv[1] if len(argv) > 1 else "baseline"
    if what == "baseline":
        years = float(argv[2]) if len(argv) > 2 else 10.0
        t, y = timed(f"baseline {years:g} y (LSODA, tol {tol:g})", years,
                     lambda: model.run(years * HOURS_PER_YEAR, 24.0, tol))
        for name, scale, state in (("plasma calcium", 1 / model.constants["V1"], "P"), ("PTH", 1 / model.constants["V1"], "PTH"),
                                   ("calcitriol", 1 / model.constants["V1"], "B")):
            c = y[:, model.index[state]] * scale
            print(f"  {name}: start {c[0]:.6g}, largest relative drift {np.max(np.abs(c / c[0] - 1)):.2e}")
    elif what == "teriparatide":
        dose = float(argv[2]) if len(argv) > 2 else 20.0
        days = int(argv[3]) if len(argv) > 3 else 3653
        t, y = timed(f"teriparatide {dose:g} ug daily for {days} d (LSODA, tol {tol:g})", days / 365.25,
                     lambda: model.run(24.0 * days, 24.0, tol, teriparatide_doses(dose, days)))
        ca = y[:, model.index["P"]] / model.constants["V1"]
        print(f"  plasma calcium: start {ca[0]:.6g} mmol/L, end {ca[-1]:.6g} mmol/L")
    elif what == "check":
        folder = pathlib.Path(argv[2])
        with (folder / "peterson-riggs_baseline_10y.csv").open() as f:
            ref = list(csv.DictReader(f))
        hours = float(ref[-1]["time"])
        t, y = model.run(hours, 24.0, 1e-10)
        print("baseline, 10 years (largest relative deviation from the reference, daily):")
        for s in ("PTH", "P", "B", "ECCPhos", "OC", "ROB1", "L", "O", "Q", "Qbone", "HAp", "OBfast", "OBslow"):
            r = np.array([float(x[s]) for x in ref])
            print(f"  {s:8s} {np.max(np.abs(y[:, model.index[s]] - r) / np.abs(r)):.2e}")
        with (folder / "peterson-riggs_teriparatide_20_40ug_10d.csv").open() as f:
            ref = list(csv.DictReader(f))
        print("teriparatide once daily for 10 doses (0.1 h output):")
        for arm, dose in (("1", 20.0), ("2", 40.0)):
            rows = {round(float(r["time"]), 6): r for r in ref if r["ID"] == arm}
            hours = max(rows)
            t, y = model.run(hours, 0.1, 1e-10, teriparatide_doses(dose, 10))
            pth = y[:, model.index["PTH"]] / model.constants["V1"]
            ca = y[:, model.index["P"]] / model.constants["V1"]
            keep = [i for i, ti in enumerate(t) if round(ti, 6) in rows]
            rp = np.array([float(rows[round(t[i], 6)]["PTHpm"]) for i in keep])
            rc = np.array([float(rows[round(t[i], 6)]["CaC"]) for i in keep])
            print(f"  {dose:g} ug: {len(keep)} times; PTH peak {pth.max():.4g} pmol/L (reference "
                  f"{rp.max():.4g}), largest relative deviation PTH {np.max(np.abs(pth[keep] - rp) / rp):.2e}, "
                  f"calcium {np.max(np.abs(ca[keep] - rc) / rc):.2e}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
