"""Calibration cross-checks: sensitivity, false alarms and interval coverage, per route.

    ./dev.sh bench crosscal [--quick] [--n 30] [--n-null 210] [--part nulls|injections --save F] [--routes R ...]
    ./dev.sh bench crosscal --merge F1 F2

``--part`` runs only the null pairs or only the injections (two processes, one per core),
``--save`` keeps the pairs' results (JSON) and ``--merge`` prints the tables of saved parts.

Pairs of simulated observations of one thermal source (mmabs * cie, kT 1-6 keV log-uniform,
abundance 0.2-1, z 0-0.2, Galactic column 0-1e21 cm^-2 given) through the real responses of
the held-out test ObsIDs, at 1e4, 1e5 and 1e6 counts each in 0.5-7 keV:

* **null, identical**: both through the same response;
* **null, different**: through two different real responses, no shift;
* **gain**: the second with a gain shift of 0.25, 0.5, 1 or 2 % (slope 1 + g; XSPEC's
  definition, ``gainshift``);
* **area**: the second's effective area changed by 2, 5 or 10 % in one of the eight log
  bands of 0.5-7 keV (drawn per pair), the data set carrying the nominal ARF.

Each pair goes through ``crosscal`` by the four routes (joint fit: slope and five area knots
free; RIM; parameter network; cross-calibration network), or those of ``--routes``. Printed: the false-alarm rate at p < 0.05 of each null (with the
binomial 95 % range), the detection rate of each injection at a 5 % false-alarm rate (the
threshold the 5 % quantile of that route's p-values on the "different responses" null at
the same counts), and the coverage of the joint fit's 68 % gain interval.
"""
import argparse
import json
import logging
import os
import pathlib
import sys
import time
import warnings

import numpy as np
from scipy import stats as sps

warnings.filterwarnings("ignore")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import sherpa_rim  # noqa: E402,F401
from sherpa_rim import crosscal  # noqa: E402
from sherpa_rim.models import GainShift  # noqa: E402
from sherpa_rim.rim.band import BAND_EDGES  # noqa: E402
from common import fake_spectrum, test_responses  # noqa: E402

ROUTES = ("joint", "rim", "network", "crossnet")
GROUPS = (("joint",), ("rim", "network"), ("crossnet",))     # routes run together
GAINS = (0.0025, 0.005, 0.01, 0.02)
AREAS = (0.02, 0.05, 0.10)


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def draw_source(rng):
    return {"kT": float(np.exp(rng.uniform(np.log(1.0), np.log(6.0)))),
            "abundance": float(rng.uniform(0.2, 1.0)), "redshift": float(rng.uniform(0.0, 0.2)),
            "nH": float(rng.uniform(0.0, 0.1))}


def area_arf(arf, a, band):
    from sherpa.astro.data import DataARF
    e = 0.5 * (arf.energ_lo + arf.energ_hi)
    lo, hi = band
    f = np.where((e >= lo) & (e < hi), 1.0 + a, 1.0)
    return DataARF("changed", arf.energ_lo, arf.energ_hi, arf.specresp * f, exposure=arf.exposure)


def one_pair(pairs, kind, size, counts, rng, seed, routes=ROUTES):
    """Run crosscal on one simulated pair; returns {route: (p, slope, sigma_slope, [[ln area
    ratio, its sigma] per band])} and, under "_pair", the total counts of both spectra (which
    identify the pair across runs) and the band whose area changed (-1: none)."""
    i = rng.integers(len(pairs))
    j = i if kind == "identical" else (i + 1 + rng.integers(len(pairs) - 1)) % len(pairs)
    truth = draw_source(rng)
    _, _, arf1, rmf1 = pairs[i]
    _, _, arf2, rmf2 = pairs[j]
    d1 = fake_spectrum(arf1, rmf1, truth, counts, rng)       # sets truth["norm"]
    wrap, sim_arf, k = None, None, -1
    if kind == "gain":
        def wrap(src):
            g = GainShift("inj").attach(arf=arf2)
            g.slope = 1.0 + size
            return g(src)
    elif kind == "area":
        k = rng.integers(len(BAND_EDGES) - 1)
        sim_arf = area_arf(arf2, size, (BAND_EDGES[k], BAND_EDGES[k + 1]))
    # the same source (the same norm) seen through the second response
    d2 = fake_spectrum(arf2, rmf2, truth, None, rng, wrap=wrap, sim_arf=sim_arf)
    out = {"_pair": [float(d1.counts.sum()), float(d2.counts.sum()), int(k)]}
    for group in GROUPS:
        group = tuple(r for r in group if r in routes)
        if not group:
            continue
        try:
            rep = crosscal._compare([d1, d2], ["a", "b"], group, None, truth["nH"], "slope",
                                    "knots", 32, crosscal.N_BOOT, seed)
        except Exception as exc:      # noqa: BLE001 - counted per route, never dropped
            for r in group:
                out[r] = f"{type(exc).__name__}: {exc}"
            continue
        for r in group:
            o = rep.routes[r]["observations"][1]
            bands = [[float(np.log(a)), float(sa)] for a, sa in
                     (rep._area(r, o, b) for b in crosscal.log_bands())]
            out[r] = (rep.routes[r]["p"], 1.0 + o["gain_1keV_eV"] / 1e3, o["sigma_1keV_eV"] / 1e3,
                      bands)
    return out


def ran(row, route):
    """The route's (p, slope, sigma) on a pair, or None (refused, failed or not run)."""
    v = row.get(route)
    return None if v is None or isinstance(v, str) else v


def pvals(rows, route):
    """The route's p-values over the pairs it ran on (refused pairs left out)."""
    return np.array([ran(r, route)[0] for r in rows if ran(r, route) is not None])


def binom_range(n, p=0.05):
    lo, hi = sps.binom.ppf([0.025, 0.975], n, p)
    return 100 * lo / n, 100 * hi / n


def report(res, counts, errors, cells, t_total):
    """Print the tables of the pairs' results ``res`` {(kind, size, counts): rows}."""
    print("\n## False alarms (p < 0.05) on null pairs (in brackets: pairs the route refused)")
    print("\n| null | counts | pairs | " + " | ".join(ROUTES) + " | binomial 95 % range |")
    print("|---|---|---|" + "---|" * len(ROUTES) + "---|")

    def fa(rows, x):
        p = pvals(rows, x)
        refused = sum(isinstance(r.get(x), str) for r in rows)
        return (f"{100 * np.mean(p < 0.05):.1f} %" if p.size else "-") + (f" ({refused})" if refused else "")
    for kind in ("identical", "different"):
        for c in counts:
            rows = res[(kind, 0.0, c)]
            lo, hi = binom_range(len(rows))
            print(f"| {kind} | {c:.0e} | {len(rows)} | " + " | ".join(fa(rows, x) for x in ROUTES)
                  + f" | {lo:.1f}-{hi:.1f} % |")
        allrows = [r for c in counts for r in res[(kind, 0.0, c)]]
        lo, hi = binom_range(len(allrows))
        print(f"| {kind}, all counts | - | {len(allrows)} | "
              + " | ".join(f"**{fa(allrows, x)}**" for x in ROUTES) + f" | {lo:.1f}-{hi:.1f} % |")
    print("\n## Detection rate at a 5 % false-alarm rate (threshold: the 5 % quantile of the route's "
          "p on the 'different responses' null at the same counts)")
    print("\n| injection | counts | " + " | ".join(ROUTES) + " |")
    print("|---|---|" + "---|" * len(ROUTES))
    for kind, size in cells[2:]:
        for c in counts:
            out = []
            for x in ROUTES:
                null = pvals(res[("different", 0.0, c)], x)
                p = pvals(res[(kind, size, c)], x)
                if null.size < 10 or not p.size:
                    out.append("-")
                    continue
                thr = np.quantile(null, 0.05)
                out.append(f"{100 * np.mean(p <= thr):.0f} %")
            label = f"gain {100 * size:g} %" if kind == "gain" else f"area {100 * size:g} % in one band"
            print(f"| {label} | {c:.0e} | " + " | ".join(out) + " |")
    print("\n## 68 % gain intervals: coverage of the injected slope (nulls and gain pairs)")
    per_level = {}
    for x in ROUTES:
        hits = {c: [] for c in counts}
        for kind, size in [("identical", 0.0), ("different", 0.0)] + [("gain", g) for g in GAINS]:
            for c in counts:
                for r in res.get((kind, size, c), []):
                    if ran(r, x) is None:
                        continue
                    slope, s = ran(r, x)[1:3]
                    hits[c].append(abs(slope - (1.0 + size)) <= s)
        h = np.asarray(sum(hits.values(), []), float)
        if not h.size:
            continue
        print(f"- {x}: {100 * h.mean():.1f} % of {h.size} pairs (target 68 +- 7 %)")
        per_level[x] = [f"{100 * np.mean(hits[c]):.1f} % of {len(hits[c])}" if hits[c] else "-"
                        for c in counts]
    print("\nper counts level:\n\n| route | " + " | ".join(f"{c:.0e}" for c in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for x, cells_ in per_level.items():
        print(f"| {x} | " + " | ".join(cells_) + " |")
    print("\n## 68 % area-ratio intervals per band: coverage of the true ln ratio (pairs run with "
          "the per-band output)")
    for x in ROUTES:
        hits = {"null pairs, every band": [], "area pairs, the changed band": [],
                "area pairs, the other bands": []}
        for (kind, size, c), rows in res.items():
            if kind == "gain":
                continue
            for r in rows:
                v = ran(r, x)
                if v is None or len(v) < 4:
                    continue
                changed = r["_pair"][2] if kind == "area" else -1
                for b, (lr, s) in enumerate(v[3]):
                    if not (np.isfinite(lr) and np.isfinite(s) and s > 0):
                        continue
                    truth = np.log1p(size) if b == changed else 0.0
                    key = ("null pairs, every band" if kind != "area" else
                           "area pairs, the changed band" if b == changed else
                           "area pairs, the other bands")
                    hits[key].append(abs(lr - truth) <= s)
        if any(hits.values()):
            print(f"- {x}: " + "; ".join(f"{k} {100 * np.mean(h):.1f} % of {len(h)}"
                                         for k, h in hits.items() if h))
    if errors:
        kinds = {}
        for k, sz, c, route, e in errors:
            kinds.setdefault((route, c), []).append(e.split(":")[0])
        print("\nrefused or failed: " + "; ".join(f"{route} at {c:.0e}: {len(v)} ({sorted(set(v))})"
                                                 for (route, c), v in sorted(kinds.items())))
        print("first: " + errors[0][4][:300])
    if np.isfinite(t_total):
        print(f"\ntotal {t_total:.0f} s ({os.cpu_count()} CPU cores)")



def _save(path, res, errors, counts):
    rows = [{"kind": k, "size": sz, "counts": c, "rows": [{r: (list(v) if not isinstance(v, str) else v)
                                                          for r, v in row.items()} for row in rr]}
            for (k, sz, c), rr in res.items()]
    pathlib.Path(path).write_text(json.dumps({"cells": rows, "errors": errors, "counts": counts}))


def _load(paths):
    res, errors, counts, unchecked, replaced = {}, [], None, [], set()
    for path in paths:
        d = json.loads(pathlib.Path(path).read_text())
        if counts is not None and d["counts"] != counts:
            raise SystemExit(f"--merge: {path} has counts {d['counts']}, the others {counts}")
        counts = d["counts"]
        # a later file's routes replace an earlier file's in the cells it ran: so do its errors
        ran_here = {(c["kind"], c["size"], c["counts"], r) for c in d["cells"] for row in c["rows"]
                    for r in row if r != "_pair"}
        errors = [e for e in errors if tuple(e[:4]) not in ran_here]
        errors += [tuple(e) for e in d["errors"]]
        for cell in d["cells"]:
            key = (cell["kind"], cell["size"], cell["counts"])
            rows = [{r: (tuple(v) if not isinstance(v, str) else v) for r, v in row.items()}
                    for row in cell["rows"]]
            if key not in res:
                res[key] = rows
                continue
            # the same cell from a run of other routes: the same pairs (same seed and part),
            # checked by their counts where both runs recorded them
            old = res[key]
            if len(old) != len(rows):
                raise SystemExit(f"--merge: {path} has {len(rows)} pairs in cell {key}, an "
                                 f"earlier file {len(old)}: not the same pairs")
            if not all("_pair" in a and "_pair" in b for a, b in zip(old, rows)):
                unchecked.append(path)
            for a, b in zip(old, rows):
                if "_pair" in a and "_pair" in b and list(a["_pair"]) != list(b["_pair"]):
                    raise SystemExit(f"--merge: {path} differs from an earlier file in the pairs "
                                     f"of cell {key} (counts {b['_pair']} against {a['_pair']})")
                replaced |= set(a) & set(b) - {"_pair"}
                a.update(b)
    if replaced:
        print(f"# --merge: the later file's routes {sorted(replaced)} replace an earlier file's "
              "results on the same pairs")
    if unchecked:
        print(f"# --merge: {', '.join(sorted(set(unchecked)))} joined to a file that records no "
              "counts per pair: the pairs are the same if --seed and --part were (not checked here)")
    return res, errors, counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few pairs per cell (minutes)")
    ap.add_argument("--n", type=int, default=None, help="pairs per injection and counts")
    ap.add_argument("--n-null", type=int, default=None, help="pairs per null kind, over all counts")
    ap.add_argument("--counts", type=float, nargs="+", default=[1e4, 1e5, 1e6])
    ap.add_argument("--seed", type=int, default=2027)
    ap.add_argument("--part", choices=("nulls", "injections"), help="run only these pairs")
    ap.add_argument("--save", help="write the pairs' results to this JSON")
    ap.add_argument("--merge", nargs="+", help="print the tables of saved parts, and stop")
    ap.add_argument("--routes", nargs="+", choices=ROUTES, default=list(ROUTES),
                    help="the routes to run (the pairs do not depend on it: a run of other routes "
                         "with the same --seed and --part sees the same pairs, and --merge joins them)")
    ap.add_argument("--kinds", nargs="+", choices=("identical", "different", "gain", "area"),
                    help="run the routes on these kinds of pair only (the others' pairs are still "
                         "drawn, unrun and unsaved, so that the pairs run are those of a full run)")
    args = ap.parse_args()
    if args.part and not args.save:
        ap.error("--part runs half of the pairs: give --save FILE to keep them for --merge")
    cells = [("identical", 0.0), ("different", 0.0)] + [("gain", g) for g in GAINS] + \
            [("area", a) for a in AREAS]
    if args.merge:
        res, errors, counts = _load(args.merge)
        print(f"# Cross-calibration benchmark (merged from {', '.join(args.merge)})")
        report(res, counts, errors, cells, float("nan"))
        return
    n = args.n or (4 if args.quick else 30)
    n_null = args.n_null or (12 if args.quick else 210)
    # the parts draw from their own streams, so that they can run side by side
    rng = np.random.default_rng([args.seed, ("nulls", "injections").index(args.part)]
                                if args.part else args.seed)
    pairs = test_responses()
    t0 = time.perf_counter()
    res, errors = {}, []
    run_cells = [c for c in cells if args.part is None
                 or (args.part == "nulls") == (c[0] in ("identical", "different"))]
    print(f"# Cross-calibration benchmark: {len(pairs)} real test-ObsID responses, counts "
          f"{args.counts}; {n_null} pairs per null, {n} per injection and counts", flush=True)
    for kind, size in run_cells:
        for c in args.counts:
            m = max(1, n_null // len(args.counts)) if kind in ("identical", "different") else n
            rows = []
            run = args.kinds is None or kind in args.kinds
            for k in range(m):
                r = one_pair(pairs, kind, size, c, rng, k, args.routes if run else ())
                for route, v in r.items():
                    if route != "_pair" and isinstance(v, str):
                        errors.append((kind, size, c, route, v))
                rows.append(r)
            if not run:
                continue
            res[(kind, size, c)] = rows
            print(f"  {kind} {size:g} at {c:.0e}: {len(rows)} pairs "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.save:
        _save(args.save, res, errors, list(args.counts))
        print(f"-> {args.save}")
    if args.part:
        return
    report(res, args.counts, errors, cells, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
