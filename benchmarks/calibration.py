"""Calibrated uncertainty, measured on responses that were in no training set.

    ./dev.sh bench calibration [--quick] [--only amortised band gof multiphase]

1. **Amortised intervals.** Spectra of ``mmabs * cie`` (the parameter network's prior:
   kT 0.5-8 keV log-uniform, abundance 0.2-1.2, z 0-0.25, 3e3-1e5 counts in 0.5-7 keV)
   through (a) the real responses of the held-out *test* ObsIDs and (b) responses unlike
   any training one: the ARF of one test ObsID, the RMF of another, the area times a smooth
   tilt between 0.8 and 1.2. Three absorption cases: a column drawn from 0-2e21 cm^-2 and
   given; a column of 0 (the prior's edge); a column drawn and *not* known (the network is
   given the prior's middle, the exact posterior samples it). Coverage of the 68 / 90 %
   intervals of kT, abundance, redshift, norm (and nH when free) for the network alone and
   the exact posterior, side by side; the exact posterior's time next to one Sherpa fit plus
   ``conf()`` of the same model on the same spectrum (every 10th spectrum).
2. **RIM band.** Spectra of the RIM's prior through the test responses, per count class:
   coverage of the calibrated 68 % and 90 % bands per energy bin and per band.
3. **Goodness of fit.** Uniformity (KS) of the refolded reconstruction's p-value per class;
   the out-of-prior decision's false-alarm rate on in-prior spectra (1e2-1e5 counts) and its
   detection rate on absorbed power laws (photon index 1.5-2.5), kT > 10 keV, kT < 0.4 keV
   and a power law plus a plasma (50:50 in counts).
4. **Multi-phase spectra.** Two phases (1 + 4 keV, emission measures 1:3, 1:1, 3:1), a
   log-normal DEM (0.2, 0.3, 0.4 dex), O/Fe x 3 (``vcie``): the intrinsic-spectrum error
   (relative L2, 0.5-7 keV) of the RIM, a one-temperature cie fit, a two-temperature fit and
   Tikhonov, and the RIM's error as a ratio to the one-temperature fit's.
"""
import argparse
import contextlib
import io
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
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))   # training/

import sherpa_rim  # noqa: E402,F401
from sherpa_rim import baselines, metrics  # noqa: E402
from sherpa_rim.amortised.params import ParameterEstimator  # noqa: E402
from sherpa_rim.amortised.posterior import exact_posterior  # noqa: E402
from sherpa_rim.emission import spectrum  # noqa: E402
from sherpa_rim.emission.absorption import transmission  # noqa: E402
from sherpa_rim.observation import observation_from_data  # noqa: E402
from sherpa_rim.poisson import SpectralData, cstat, cstat_expectation  # noqa: E402
from sherpa_rim.rim.band import BANDS, CLASSES, calibration  # noqa: E402
from sherpa_rim.rim.deconvolver import RIMDeconvolver  # noqa: E402
from sherpa_rim.sim import build_response_sets  # noqa: E402
from training.calibrate_band import FLUX_FLOOR, run_class  # noqa: E402
from common import fake_spectrum, test_responses  # noqa: E402

PARAMS = ("kT", "abundance", "redshift", "norm")
CASES = ("nH given", "nH = 0", "nH free")
NH_MID = 0.1                 # the middle of the network's column prior (0-2e21 cm^-2)


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def mark(cov, target):
    return f"{100 * cov:5.1f}" + (" " if abs(100 * cov - target) <= 5 else "*")


# ---------------------------------------------------------------- 1. amortised intervals
def unlike_response(pairs, rng):
    """ARF of one test ObsID on the RMF of another, times a smooth 0.8-1.2 tilt."""
    from sherpa.astro.data import DataARF
    i, j = rng.choice(len(pairs), 2, replace=False)
    arf, rmf = pairs[i][2], pairs[j][3]
    emid = np.sqrt(rmf.energ_lo * rmf.energ_hi)
    amid = np.sqrt(arf.energ_lo * arf.energ_hi)
    area = np.interp(emid, amid, arf.specresp, left=0.0, right=0.0)
    amp, ec, w = rng.uniform(-0.2, 0.2), np.exp(rng.uniform(np.log(0.8), np.log(4.0))), rng.uniform(0.3, 1.0)
    tilt = 1.0 + amp * np.tanh(np.log(emid / ec) / w)
    new = DataARF(f"{pairs[i][0]}|tilt", rmf.energ_lo, rmf.energ_hi, area * tilt,
                  exposure=arf.exposure)
    return f"{pairs[i][1]}+{pairs[j][1]}", new, rmf


def sherpa_fit_conf(d, nH, free):
    """Seconds for one Sherpa fit (cstat, LevMar, default start) plus conf() of mmabs * cie."""
    from sherpa.astro.instrument import Response1D
    from sherpa.estmethods import Confidence
    from sherpa.fit import Fit
    from sherpa.optmethods import LevMar
    from sherpa.stats import CStat

    from sherpa_rim.models import CIE, MMAbs
    gal, c = MMAbs("gal"), CIE("c")
    gal.nH = nH if not free else NH_MID
    gal.nH.frozen = not free
    c.Abundanc.frozen = False
    c.redshift.frozen = False
    t0 = time.perf_counter()
    f = Fit(d, Response1D(d)(gal * c), stat=CStat(), method=LevMar(), estmethod=Confidence())
    ok = True
    with contextlib.redirect_stdout(io.StringIO()):      # conf() prints each bound
        try:
            f.fit()
            f.est_errors()
        except Exception:          # noqa: BLE001 - e.g. conf refuses a bad fit: timed, counted
            ok = False
    return time.perf_counter() - t0, ok


KINDS = ("test ObsIDs", "unlike (ARF x RMF, tilt)")


def section_amortised(n_per_cell, seed, timing_every=10, kinds=KINDS, save=None, cases=CASES):
    """The table's rows for ``kinds`` (each kind its own random stream, so that the kinds can
    run as separate processes and be merged: ``--save`` / ``--merge``)."""
    pairs = test_responses()
    est = ParameterEstimator()
    print(f"\n## 1. Amortised intervals ({n_per_cell} spectra per row; 3e3-1e5 counts; test ObsIDs "
          f"{sorted({p[1] for p in pairs})})", flush=True)
    rows, times = [], {"exact": [], "sherpa": [], "failed": 0}
    for kind in kinds:
        for case in cases:
            rng = np.random.default_rng([seed, KINDS.index(kind), CASES.index(case)])
            hits = {m: {p: [] for p in PARAMS + ("nH",)} for m in ("network", "exact")}
            diag = {"ess": [], "emcee": 0, "seconds": [], "truth_nH": [], "spectra": []}
            for k in range(n_per_cell):
                if kind.startswith("test"):
                    key, grp, arf, rmf = pairs[rng.integers(len(pairs))]
                else:
                    grp, arf, rmf = unlike_response(pairs, rng)
                truth = {"kT": float(np.exp(rng.uniform(np.log(0.5), np.log(8.0)))),
                         "abundance": float(rng.uniform(0.2, 1.2)),
                         "redshift": float(rng.uniform(0.0, 0.25)),
                         "nH": 0.0 if case == "nH = 0" else float(rng.uniform(0.0, 0.2))}
                counts = float(np.exp(rng.uniform(np.log(3e3), np.log(1e5))))
                d = fake_spectrum(arf, rmf, truth, counts, rng)
                nh_in = truth["nH"] if case != "nH free" else NH_MID
                obs = observation_from_data(d, est.grid)
                net = est.estimate(obs, nh_in, allow_instrument=True)
                post = exact_posterior(SpectralData.from_data(d, "cstat"), net["proposal"], nH=nh_in,
                                       nH_free=case == "nH free", seed=k)
                for p in PARAMS:
                    for m, r in (("network", net[p]), ("exact", post.summary[p])):
                        hits[m][p].append((bool(r["lo68"] <= truth[p] <= r["hi68"]),
                                           bool(r["lo90"] <= truth[p] <= r["hi90"])))
                if case == "nH free":
                    r = post.summary["nH"]
                    hits["exact"]["nH"].append((bool(r["lo68"] <= truth["nH"] <= r["hi68"]),
                                                bool(r["lo90"] <= truth["nH"] <= r["hi90"])))
                diag["ess"].append(post.ess)
                diag["truth_nH"].append(truth["nH"])
                # per spectrum, for looking into a row: truth, counts, path, k-hat, the exact kT
                diag["spectra"].append(dict(
                    truth={k_: float(v) for k_, v in truth.items()}, counts=float(counts),
                    path=str(post.path), khat=None if post.khat is None else float(post.khat),
                    ess=None if post.ess is None else float(post.ess),
                    kT=[float(post.summary["kT"][q]) for q in ("lo90", "lo68", "median", "hi68", "hi90")],
                    net_kT=[float(net["kT"][q]) for q in ("lo68", "hi68")]))
                diag["emcee"] += post.path.startswith("emcee")
                diag["seconds"].append(post.seconds)
                if k % timing_every == 0:
                    times["exact"].append(post.seconds)
                    dt, ok = sherpa_fit_conf(d, truth["nH"], case == "nH free")
                    times["sherpa"].append(dt)
                    times["failed"] += not ok
            rows.append((kind, case, hits, diag))
            print(f"  {kind:26s} {case:9s} done ({len(diag['ess'])} spectra)", flush=True)
            if save:
                pathlib.Path(save).write_text(json.dumps({"rows": rows, "times": times,
                                                          "n_per_cell": n_per_cell}))
    print_amortised(rows, times)


def print_amortised(rows, times):
    print("\n| responses | absorption | method | " + " | ".join(f"{p} 68 / 90 %" for p in PARAMS + ("nH",))
          + " | median ESS | emcee |")
    print("|---|---|---|" + "---|" * (len(PARAMS) + 3))
    for kind, case, hits, diag in rows:
        for m in ("network", "exact"):
            cells = []
            for p in PARAMS + ("nH",):
                h = np.asarray(hits[m][p], float)
                cells.append(f"{mark(h[:, 0].mean(), 68.3)} / {mark(h[:, 1].mean(), 90)}" if h.size else "-")
            extra = (f"{np.median(diag['ess']):.0f} | {diag['emcee']}" if m == "exact" else "- | -")
            print(f"| {kind} | {case} | {m} | " + " | ".join(cells) + f" | {extra} |")
    pooled = {m: np.concatenate([np.asarray(h[m][p], float) for _, _, h, _ in rows for p in PARAMS])
              for m in ("network", "exact")}
    print("\npooled over parameters, responses and cases: " + "; ".join(
        f"{m} {100 * v[:, 0].mean():.1f} / {100 * v[:, 1].mean():.1f} %" for m, v in pooled.items()))
    for kind, case, hits, diag in rows:              # the free column: near its prior's edge?
        if case != "nH free" or not diag.get("truth_nH"):
            continue
        t = np.asarray(diag["truth_nH"])
        parts = []
        for label, m in (("true nH < 0.05", t < 0.05), ("true nH >= 0.05", t >= 0.05)):
            cov = [f"{p} {100 * np.asarray(hits['exact'][p], float)[m, 0].mean():.0f} / "
                   f"{100 * np.asarray(hits['exact'][p], float)[m, 1].mean():.0f}"
                   for p in PARAMS + ("nH",)]
            parts.append(f"{label} ({m.sum()}): " + ", ".join(cov))
        print(f"{kind}, nH free, exact, by the true column: " + "; ".join(parts))
    te, ts = np.asarray(times["exact"]), np.asarray(times["sherpa"])
    print(f"time on {os.cpu_count()} CPU cores ({te.size} spectra): exact posterior median {np.median(te):.2f} s, "
          f"Sherpa fit + conf() median {np.median(ts):.2f} s; median ratio exact / (fit + conf) "
          f"{np.median(te / ts):.2f} ({times['failed']} of the Sherpa fits from the default start "
          "ended where conf() refused to run: timed all the same)")
    print("(* : more than 5 points from the nominal 68.3 / 90 %)")


# ---------------------------------------------------------------- 2. RIM band, 3. GoF
def section_band(dec, rs, n, seed):
    cal = calibration(dec.session.entry)
    print(f"\n## 2. RIM band coverage on the test ObsIDs ({n} spectra per class; the bins whose true "
          f"flux is above {FLUX_FLOOR:g} of the peak)", flush=True)
    names = list(BANDS)
    print("\n| class | 68 % per bin (all; 10-90 % of bins) | 90 % per bin | "
          + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    pvals = {}
    for cls in CLASSES:
        res, _ = run_class(dec, cls, n, seed, "test", rs, cal=cal)
        Ft = res["F_true"]
        ok = Ft >= FLUX_FLOOR * Ft.max(axis=1, keepdims=True)
        c68 = (res["lo68"] <= Ft) & (Ft <= res["hi68"])
        c90 = (res["lo90"] <= Ft) & (Ft <= res["hi90"])
        per_bin68 = np.array([c68[ok[:, j], j].mean() for j in range(Ft.shape[1]) if ok[:, j].sum() >= 20])
        per_bin90 = np.array([c90[ok[:, j], j].mean() for j in range(Ft.shape[1]) if ok[:, j].sum() >= 20])
        fb = Ft @ res["B"].T
        b68 = ((res["band_lo68"] <= fb) & (fb <= res["band_hi68"])).mean(0)
        b90 = ((res["band_lo90"] <= fb) & (fb <= res["band_hi90"])).mean(0)
        print(f"| {cls} | {100 * c68[ok].mean():.1f} ({100 * np.percentile(per_bin68, 10):.0f}-"
              f"{100 * np.percentile(per_bin68, 90):.0f}) | {100 * c90[ok].mean():.1f} "
              f"({100 * np.percentile(per_bin90, 10):.0f}-{100 * np.percentile(per_bin90, 90):.0f}) | "
              + " | ".join(f"{mark(a, 68.3).strip()} / {100 * b:.0f}" for a, b in zip(b68, b90)) + " |",
              flush=True)
        pvals[cls] = np.asarray(res["p"])
    print("(per band: 68 % / 90 % coverage; * more than 5 points from 68.3 %)")
    print("\n## 3a. Goodness of fit of the refolded reconstruction on in-prior test spectra")
    print("\n| class | n | KS p (p-values uniform) | fraction p < 0.05 | fraction p < 1e-3 |")
    print("|---|---|---|---|---|")
    for cls, p in pvals.items():
        print(f"| {cls} | {p.size} | {sps.kstest(p, 'uniform').pvalue:.2f} | {100 * np.mean(p < 0.05):.1f} % | "
              f"{100 * np.mean(p < 1e-3):.1f} % |")


def family_source(family, rng):
    """(Sherpa source expression without its Galactic absorber, nH) of one spectrum of
    ``family``; "power law + plasma" returns the two parts (50:50 in counts)."""
    from sherpa.models.basic import PowLaw1D

    from sherpa_rim.models import CIE
    z = float(rng.uniform(0, 0.25))
    nH = float(rng.uniform(0.01, 0.1))

    def plasma(lo, hi):
        c = CIE("c")
        c.kT = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        c.Abundanc, c.redshift, c.norm = float(rng.uniform(0.2, 1.2)), z, 1.0
        return c

    def pl():
        p = PowLaw1D("p")
        p.gamma = float(rng.uniform(1.5, 2.5))
        return p
    return {"in prior": lambda: plasma(0.5, 8.0), "absorbed power law": pl,
            "kT > 10 keV": lambda: plasma(10.0, 20.0), "kT < 0.4 keV": lambda: plasma(0.15, 0.4),
            "power law + plasma": lambda: (pl(), plasma(0.5, 8.0))}[family](), nH


def family_spectrum(pairs, family, counts, rng):
    """A DataPHA of Poisson counts through a real test response (Sherpa folds the model)."""
    from sherpa.astro.instrument import Response1D

    from sherpa_rim.models import MMAbs
    from common import empty_pha
    _, _, arf, rmf = pairs[rng.integers(len(pairs))]
    d = empty_pha(arf, rmf)
    src, nH = family_source(family, rng)
    gal = MMAbs("gal")
    gal.nH = nH
    mask = d.get_mask()
    parts = src if isinstance(src, tuple) else (src,)
    mu = 0.0
    for part in parts:                       # each part the same share of the counts
        m = d.eval_model(Response1D(d)(gal * part))
        mu = mu + m / m[mask].sum() * counts / len(parts)
    d.counts = rng.poisson(mu).astype(float)
    return d, nH


def section_gof_decision(dec, n, seed):
    from sherpa_rim.observation import observation_from_data
    rng = np.random.default_rng(seed)
    pairs = test_responses()
    fams = ("in prior", "absorbed power law", "kT > 10 keV", "kT < 0.4 keV", "power law + plasma")
    classes = {"1e2-1e3": (1e2, 1e3), "1e3-1e4": (1e3, 1e4), "1e4-1e5": (1e4, 1e5)}
    print(f"\n## 3b. The out-of-prior decision (deconvolve's checks) on spectra simulated by Sherpa "
          f"through the test ObsIDs' real responses, 0.5-7 keV, Galactic column 1e20-1e21 given; "
          f"{n} spectra per cell: fraction flagged")
    print("\n| spectra | " + " | ".join(classes) + " |")
    print("|---|" + "---|" * len(classes))
    for fam in fams:
        cells = []
        for lo_c, hi_c in classes.values():
            flagged, unknown = 0, 0
            for k in range(n):
                counts = float(np.exp(rng.uniform(np.log(lo_c), np.log(hi_c))))
                d, nH = family_spectrum(pairs, fam, counts, rng)
                res = dec.deconvolve(observation_from_data(d, dec.grid), n_samples=8, seed=k,
                                     nH=nH, allow_instrument=True)
                flagged += res.in_prior is False
                unknown += res.in_prior is None
            cells.append(f"{100 * flagged / n:.0f} %" + (f" ({unknown} not known)" if unknown else ""))
        print(f"| {fam} | " + " | ".join(cells) + " |", flush=True)
    print("(in prior: the false-alarm rate, target <= 5 %; the others: the detection rate)")


# ---------------------------------------------------------------- 4. multi-phase
def lognormal_dem(kT_c, width_dex, Z, z, lo, hi, n=9):
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    return sum(wi * spectrum(float(np.clip(kT_c * 10 ** (width_dex * xi), 0.07, 21.0)), Z, z, 1.0, lo, hi)
               for xi, wi in zip(x, w))


def multiphase_flux(case, rng, grid):
    lo, hi = grid.energy_lo, grid.energy_hi
    Z, z = rng.uniform(0.2, 1.2), rng.uniform(0.0, 0.25)
    if case.startswith("1 + 4 keV"):
        a, b = {"1 + 4 keV, EM 1:3": (1, 3), "1 + 4 keV, EM 1:1": (1, 1), "1 + 4 keV, EM 3:1": (3, 1)}[case]
        return (a * spectrum(1.0, Z, z, 1.0, lo, hi) + b * spectrum(4.0, Z, z, 1.0, lo, hi)) / (a + b)
    if case.startswith("DEM"):
        width = float(case.split()[1])
        return lognormal_dem(float(np.exp(rng.uniform(np.log(1.0), np.log(4.0)))), width, Z, z, lo, hi)
    if case == "O/Fe x 3 (vcie)":
        return spectrum(float(np.exp(rng.uniform(np.log(0.5), np.log(4.0)))), Z, z, 1.0, lo, hi,
                        elements={"O": 3 * Z})
    raise ValueError(case)


def fit_pvalue(S, R, p, k):
    mu = np.clip(R @ p["flux"], 1e-10, None)[p["mask"]]
    C = cstat(np.clip(S[p["mask"]], 0, None), mu)
    e, v = cstat_expectation(mu)
    return float(sps.norm.sf((C - (e - k)) / np.sqrt(v)))


def section_multiphase(dec, rs, n, seed, counts_list=(1e4, 1e5)):
    rng = np.random.default_rng(seed)
    grid = rs.grid
    lo, hi = grid.energy_lo, grid.energy_hi
    cases = ("1 + 4 keV, EM 1:3", "1 + 4 keV, EM 1:1", "1 + 4 keV, EM 3:1", "DEM 0.2 dex",
             "DEM 0.3 dex", "DEM 0.4 dex", "O/Fe x 3 (vcie)")
    print(f"\n## 4. Spectra one temperature cannot describe (test responses, {n} per row, Galactic "
          "column 0-1e21 given to the fits): median relative L2 error of the intrinsic spectrum, "
          "0.5-7 keV")
    print("\n| spectrum | counts | 1T rejected (p < 0.01) | RIM | 1T cie | 2T cie | Tikhonov | "
          "RIM / 1T (median ratio) | RIM / 1T where 1T rejected |")
    print("|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        for counts in counts_list:
            err = {k: [] for k in ("rim", "1t", "2t", "tik")}
            rejected = []
            for k in range(n):
                R = rs.matrices[rng.integers(len(rs))].astype(float)
                nH = rng.uniform(0.0, 0.1)
                F = multiphase_flux(case, rng, grid) * transmission(nH, lo, hi, rule="centre")
                scale = counts / (R @ F).sum()
                F = F * scale
                S = rng.poisson(R @ F).astype(float)
                sig = np.sqrt(np.maximum(S, 1.0))
                rim = dec.run(S[None], R, sig[None], statistic="cash")[0]
                f1, p1 = baselines.parametric_fit(S, R, sig, lo, hi, return_params=True, nH=nH or None)
                f2 = baselines.parametric_fit(S, R, sig, lo, hi, n_temperatures=2, nH=nH or None)
                tik = baselines.tikhonov(S, R, sig)
                for key, fh in (("rim", rim), ("1t", f1), ("2t", f2), ("tik", tik)):
                    err[key].append(float(metrics.relative_l2(F, fh, lo, hi)))
                rejected.append(fit_pvalue(S, R, p1, 4) < 0.01)
            e = {k: np.asarray(v) for k, v in err.items()}
            rej = np.asarray(rejected)
            ratio = e["rim"] / e["1t"]
            where = f"{np.median(ratio[rej]):.2f}" if rej.any() else "-"
            print(f"| {case} | {counts:.0e} | {100 * rej.mean():.0f} % | {np.median(e['rim']):.3f} | "
                  f"{np.median(e['1t']):.3f} | {np.median(e['2t']):.3f} | {np.median(e['tik']):.3f} | "
                  f"{np.median(ratio):.2f} | {where} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few spectra per cell (minutes)")
    ap.add_argument("--only", nargs="+", choices=("amortised", "band", "gof", "multiphase"))
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--sizes", type=int, nargs=4, metavar=("AMORTISED", "BAND", "GOF", "MULTI"),
                    help="spectra per row / class / cell / cell (default 170 400 60 25; "
                         "--quick 20 40 10 4)")
    ap.add_argument("--kinds", nargs="+", choices=("test", "unlike"), default=["test", "unlike"],
                    help="amortised section: which responses (separate processes, then --merge)")
    ap.add_argument("--save", help="amortised section: write its rows to this JSON as they finish")
    ap.add_argument("--cases", nargs="+", choices=("given", "zero", "free"), default=["given", "zero", "free"],
                    help="amortised section: which absorption cases, in this order")
    ap.add_argument("--merge", nargs="+", help="print the amortised table of saved JSONs, and stop")
    args = ap.parse_args()
    if args.merge:
        rows, times = [], {"exact": [], "sherpa": [], "failed": 0}
        for f in args.merge:
            d = json.loads(pathlib.Path(f).read_text())
            rows += [tuple(r) for r in d["rows"]]
            for k in times:
                times[k] += d["times"][k]
        print(f"## 1. Amortised intervals (merged from {', '.join(args.merge)})")
        return print_amortised(rows, times)
    do = set(args.only or ("amortised", "band", "gof", "multiphase"))
    n_am, n_band, n_gof, n_multi = args.sizes or ((20, 40, 10, 4) if args.quick else (170, 400, 60, 25))
    t0 = time.perf_counter()
    dec = RIMDeconvolver()
    rs = build_response_sets(n_total=1000, seed=0)["test"]
    print(f"# Calibration benchmark (test responses: {len(rs)} from ObsIDs {sorted(set(rs.groups))[:6]}...)")
    if "amortised" in do:
        section_amortised(n_am, args.seed, kinds=[KINDS[0 if k == "test" else 1] for k in args.kinds],
                          save=args.save,
                          cases=[CASES[("given", "zero", "free").index(c)] for c in args.cases])
    if "band" in do:
        section_band(dec, rs, n_band, args.seed + 1)
    if "gof" in do:
        section_gof_decision(dec, n_gof, args.seed + 2)
    if "multiphase" in do:
        section_multiphase(dec, rs, n_multi, args.seed + 3)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPU cores (sizes per row / class / cell: "
          f"{n_am} {n_band} {n_gof} {n_multi})")


if __name__ == "__main__":
    main()
