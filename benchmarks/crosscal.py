"""Calibration cross-checks: sensitivity, false alarms and interval coverage, per route.

    ./dev.sh bench crosscal [--quick] [--n 30] [--n-null 200]

Pairs of simulated observations of one thermal source (mmabs * cie, kT 1-6 keV log-uniform,
abundance 0.2-1, z 0-0.2, Galactic column 0-1e21 cm^-2 given) through the real responses of
the held-out test ObsIDs, at 1e4, 1e5 and 1e6 counts each in 0.5-7 keV:

* **null, identical**: both through the same response;
* **null, different**: through two different real responses, no shift;
* **gain**: the second with a gain shift of 0.25, 0.5, 1 or 2 % (slope 1 + g; XSPEC's
  definition, ``gainshift``);
* **area**: the second's effective area changed by 2, 5 or 10 % in one of the eight log
  bands of 0.5-7 keV (drawn per pair), the data set carrying the nominal ARF.

Each pair goes through ``crosscal`` by the three routes (joint fit: slope and five area knots
free; RIM; network). Printed: the false-alarm rate at p < 0.05 of each null (with the
binomial 95 % range), the detection rate of each injection at a 5 % false-alarm rate (the
threshold the 5 % quantile of that route's p-values on the "different responses" null at
the same counts), and the coverage of the joint fit's 68 % gain interval.
"""
import argparse
import logging
import pathlib
import sys
import time
import warnings

import numpy as np
from scipy import stats as sps

logging.getLogger("sherpa").setLevel(logging.ERROR)
warnings.filterwarnings("ignore")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import sherpa_rim  # noqa: E402,F401
from sherpa_rim import crosscal  # noqa: E402
from sherpa_rim.models import GainShift  # noqa: E402
from sherpa_rim.rim.band import BAND_EDGES  # noqa: E402
from common import fake_spectrum, test_responses  # noqa: E402

ROUTES = ("joint", "rim", "network")
GAINS = (0.0025, 0.005, 0.01, 0.02)
AREAS = (0.02, 0.05, 0.10)


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


def one_pair(pairs, kind, size, counts, rng, seed):
    """Run crosscal on one simulated pair; returns {route: (p, slope, sigma_slope)}."""
    i = rng.integers(len(pairs))
    j = i if kind == "identical" else (i + 1 + rng.integers(len(pairs) - 1)) % len(pairs)
    truth = draw_source(rng)
    _, _, arf1, rmf1 = pairs[i]
    _, _, arf2, rmf2 = pairs[j]
    d1 = fake_spectrum(arf1, rmf1, dict(truth), counts, rng)
    wrap, sim_arf = None, None
    if kind == "gain":
        def wrap(src):
            g = GainShift("inj").attach(arf=arf2)
            g.slope = 1.0 + size
            return g(src)
    elif kind == "area":
        k = rng.integers(len(BAND_EDGES) - 1)
        sim_arf = area_arf(arf2, size, (BAND_EDGES[k], BAND_EDGES[k + 1]))
    d2 = fake_spectrum(arf2, rmf2, dict(truth), counts, rng, wrap=wrap, sim_arf=sim_arf)
    out = {}
    try:
        rep = crosscal._compare([d1, d2], ["a", "b"], ROUTES, None, truth["nH"], "slope", "knots", 16)
    except Exception as exc:          # noqa: BLE001 - counted, never silently dropped
        return {"error": f"{type(exc).__name__}: {exc}"}
    for r in ROUTES:
        o = rep.routes[r]["observations"][1]
        slope = 1.0 + o["gain_1keV_eV"] / 1e3
        out[r] = (rep.routes[r]["p"], slope, o["sigma_1keV_eV"] / 1e3)
    return out


def binom_range(n, p=0.05):
    lo, hi = sps.binom.ppf([0.025, 0.975], n, p)
    return 100 * lo / n, 100 * hi / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few pairs per cell (minutes)")
    ap.add_argument("--n", type=int, default=None, help="pairs per injection and counts")
    ap.add_argument("--n-null", type=int, default=None, help="pairs per null kind, over all counts")
    ap.add_argument("--counts", type=float, nargs="+", default=[1e4, 1e5, 1e6])
    ap.add_argument("--seed", type=int, default=2027)
    args = ap.parse_args()
    n = args.n or (4 if args.quick else 30)
    n_null = args.n_null or (12 if args.quick else 210)
    rng = np.random.default_rng(args.seed)
    pairs = test_responses()
    t0 = time.perf_counter()
    res, errors = {}, []
    cells = [("identical", 0.0), ("different", 0.0)] + [("gain", g) for g in GAINS] + \
            [("area", a) for a in AREAS]
    print(f"# Cross-calibration benchmark: {len(pairs)} real test-ObsID responses, counts "
          f"{args.counts}; {n_null} pairs per null, {n} per injection and counts", flush=True)
    for kind, size in cells:
        for c in args.counts:
            m = max(1, n_null // len(args.counts)) if kind in ("identical", "different") else n
            rows = []
            for k in range(m):
                r = one_pair(pairs, kind, size, c, rng, k)
                if "error" in r:
                    errors.append((kind, size, c, r["error"]))
                else:
                    rows.append(r)
            res[(kind, size, c)] = rows
            print(f"  {kind} {size:g} at {c:.0e}: {len(rows)} pairs "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print("\n## False alarms (p < 0.05) on null pairs")
    print("\n| null | counts | pairs | " + " | ".join(ROUTES) + " | binomial 95 % range |")
    print("|---|---|---|" + "---|" * len(ROUTES) + "---|")
    pooled = {}
    for kind in ("identical", "different"):
        for c in args.counts:
            rows = res[(kind, 0.0, c)]
            fa = [100 * np.mean([r[x][0] < 0.05 for r in rows]) for x in ROUTES]
            lo, hi = binom_range(len(rows))
            print(f"| {kind} | {c:.0e} | {len(rows)} | " + " | ".join(f"{v:.1f} %" for v in fa)
                  + f" | {lo:.1f}-{hi:.1f} % |")
        allrows = [r for c in args.counts for r in res[(kind, 0.0, c)]]
        pooled[kind] = [100 * np.mean([r[x][0] < 0.05 for r in allrows]) for x in ROUTES]
        lo, hi = binom_range(len(allrows))
        print(f"| {kind}, all counts | - | {len(allrows)} | "
              + " | ".join(f"**{v:.1f} %**" for v in pooled[kind]) + f" | {lo:.1f}-{hi:.1f} % |")
    print("\n## Detection rate at a 5 % false-alarm rate (threshold from the 'different' null)")
    print("\n| injection | counts | " + " | ".join(ROUTES) + " |")
    print("|---|---|" + "---|" * len(ROUTES))
    for kind, size in cells[2:]:
        for c in args.counts:
            null = res[("different", 0.0, c)]
            cells_out = []
            for x in ROUTES:
                thr = np.quantile([r[x][0] for r in null], 0.05) if null else 0.05
                rows = res[(kind, size, c)]
                cells_out.append(f"{100 * np.mean([r[x][0] <= thr for r in rows]):.0f} %")
            label = f"gain {100 * size:g} %" if kind == "gain" else f"area {100 * size:g} % in one band"
            print(f"| {label} | {c:.0e} | " + " | ".join(cells_out) + " |")
    print("\n## The joint fit's 68 % gain interval: coverage of the injected slope")
    hits = []
    for kind, size in [("identical", 0.0), ("different", 0.0)] + [("gain", g) for g in GAINS]:
        for c in args.counts:
            for r in res[(kind, size, c)]:
                p, slope, s = r["joint"]
                hits.append(abs(slope - (1.0 + size)) <= s)
    h = np.asarray(hits, float)
    print(f"\n{100 * h.mean():.1f} % of {h.size} pairs (target 68 +- 7 %)")
    if errors:
        print(f"\n{len(errors)} pairs failed: " + "; ".join(f"{k} {s:g} {c:.0e}: {e}" for k, s, c, e in errors[:5]))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s on this machine")


if __name__ == "__main__":
    main()
