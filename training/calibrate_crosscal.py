"""Calibrate the learned routes of a cross-calibration on the validation ObsIDs.

    python -m training.calibrate_crosscal [--n 150] [--n-null 300] [--seed 43]
    python -m training.calibrate_crosscal --crossnet [--n 150] [--n-null 500] [--seed 45]

The RIM route and the network route of a cross-calibration (:mod:`sherpa_rim.crosscal.routes`)
compare two observations of one source; their statistics take errors as independent and
exact, which they are not (a reconstruction's bins share most of their error; the networks'
systematic errors differ from response to response). This script simulates pairs of
observations of one thermal source (mmabs * cie, kT 1-6 keV, abundance 0.2-1, z 0-0.2,
Galactic column 0-1e21 given) through two different real responses of the *validation*
ObsIDs and runs both routes on each pair:

* ``--n`` pairs with a gain slope 1 + g on the second (g from 0, 0.25, 0.5, 1, 2 %; XSPEC's
  definition, ``gainshift``) at 1e4, 1e5 and 1e6 counts: per count class of the pair (the
  class of its fainter spectrum, :data:`sherpa_rim.rim.band.CLASSES`), the 68.3 % quantile
  of |z|, z the error of the slope over the route's 1-sigma error; the route multiplies its
  error by that factor;
* ``--n-null`` pairs with no shift, counts log-uniform over 3e3-3e5: per count class, the
  null distribution of each route's chi2, from which the routes compute their p-values.

Stored in the manifest: the RIM's entry (``crosscal_gain_calibration``,
``crosscal_null_calibration``) and the parameter network's (``crosscal_null_calibration``,
holding ``null`` and ``gain``). With ``--crossnet`` the same for the cross-calibration
network alone (``sherpa_rim.crosscal.pairnet``; null counts 3e3-1e6, the range it was trained
on, in its own count classes, ``pairnet.CLASSES``): its entry's ``crosscal_null_calibration``. Coverage and false alarms on the *test* ObsIDs are measured
by ``./dev.sh bench crosscal``.
"""
import argparse
import datetime
import json
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))     # common.py: spectra simulated by Sherpa

GAINS = (0.0, 0.0025, 0.005, 0.01, 0.02)
COUNTS = (1e4, 1e5, 1e6)
MIN_PAIRS = 20                  # a class with fewer pairs takes the pooled factor


def val_responses():
    """(key, ObsID, ARF, RMF) Sherpa objects of the validation ObsIDs' real pairs."""
    from sherpa.astro.io import read_arf, read_rmf

    from sherpa_rim.response.library import ResponseLibrary
    from sherpa_rim.sim.responses import recorded_split
    val = set(recorded_split()["val"])
    out = [(p.key, p.group, read_arf(str(p.arf)), read_rmf(str(p.rmf)))
           for p in ResponseLibrary.default() if p.group in val and p.arf is not None]
    if len(out) < 2:
        raise SystemExit("fewer than two validation ObsIDs in the response library: this needs "
                         "../shared/data/chandra (or SHERPA_RIM_DATA)")
    return out


def simulate_pair(pairs, g, counts, rng):
    """(d1, d2, truth): one source through two different responses of ``pairs``, ``counts``
    expected in the first, the same norm in the second, which has a gain slope 1 + g."""
    from common import fake_spectrum

    from sherpa_rim.models import GainShift
    i = rng.integers(len(pairs))
    j = (i + 1 + rng.integers(len(pairs) - 1)) % len(pairs)
    truth = {"kT": float(np.exp(rng.uniform(np.log(1.0), np.log(6.0)))),
             "abundance": float(rng.uniform(0.2, 1.0)), "redshift": float(rng.uniform(0.0, 0.2)),
             "nH": float(rng.uniform(0.0, 0.1))}
    _, _, arf1, rmf1 = pairs[i]
    _, _, arf2, rmf2 = pairs[j]
    d1 = fake_spectrum(arf1, rmf1, truth, counts, rng)

    def wrap(src):
        gs = GainShift("inj").attach(arf=arf2)
        gs.slope = 1.0 + g
        return gs(src)
    return d1, fake_spectrum(arf2, rmf2, truth, None, rng, wrap=wrap), truth


def one_pair(pairs, g, counts, rng, dec, est, n_samples=32):
    """(class, RIM route row, network route row) on one simulated pair."""
    from sherpa_rim.crosscal.routes import fainter_class, network_route, rim_route
    from sherpa_rim.observation import observation_from_data
    d1, d2, truth = simulate_pair(pairs, g, counts, rng)
    res = [dec.deconvolve(observation_from_data(d, dec.grid), n_samples=n_samples, seed=k,
                          nH=truth["nH"]) for k, d in enumerate((d1, d2))]
    ests = [est.estimate(observation_from_data(d, est.grid), truth["nH"]) for d in (d1, d2)]
    o = rim_route(res, 0, truth["redshift"])["observations"][1]
    n = network_route(ests, 0)["observations"][1]
    return fainter_class(res), o, n, all(r.in_prior is not False for r in res)


def crossnet_pair(pairs, g, counts, rng, cn):
    """(class, row) of the crossnet route on one simulated pair (as :func:`one_pair`)."""
    from sherpa_rim.crosscal.pairnet import consistency_chi2, pair_class
    from sherpa_rim.observation import observation_from_data
    d1, d2, truth = simulate_pair(pairs, g, counts, rng)
    o1, o2 = (observation_from_data(d, cn.grid) for d in (d1, d2))
    m, s = cn.pair(o1, o2, truth["nH"])
    cls = pair_class(o1, o2)
    return cls, {"chi2": consistency_chi2(m, s),
                 "z_slope": float((np.exp(m[3]) - (1.0 + g)) / (np.exp(m[3]) * s[3]))}


def calibrate_crossnet(n: int = 150, n_null: int = 500, seed: int = 45,
                       name: str = "crossnet_default", folder=None):
    """The cross-calibration network's ``crosscal_null_calibration``: ``null`` (chi2 of its
    nine calibration outputs on null pairs, counts log-uniform 3e3-1e6) and ``gain`` (the
    factor on its slope's width per class, from ``n`` pairs with a gain)."""
    from sherpa_rim.crosscal.pairnet import CrossNetEstimator
    rng = np.random.default_rng(seed)
    pairs = val_responses()
    cn = CrossNetEstimator(name, folder=folder)
    z_by, chi_by = {}, {}
    for k in range(n + n_null):
        if k < n:
            g, c = GAINS[k % len(GAINS)], COUNTS[(k // len(GAINS)) % len(COUNTS)]
        else:
            g, c = 0.0, float(np.exp(rng.uniform(np.log(3e3), np.log(1e6))))
        cls, row = crossnet_pair(pairs, g, c, rng, cn)
        if k < n:
            z_by.setdefault(cls, []).append(row["z_slope"])
        else:
            chi_by.setdefault(cls, []).append(row["chi2"])
        if (k + 1) % 50 == 0:
            print(f"  {k + 1}/{n + n_null} pairs", flush=True)
    made = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    common = {"split": "val", "made_utc": made,
              "reproduce": f"python -m training.calibrate_crosscal --crossnet --n {n} "
                           f"--n-null {n_null} --seed {seed} --crossnet-name {name}"}
    out = {"null": _nulls(chi_by), "gain": _factors(z_by)}
    if out["null"]:
        out["null"].update(common, quantity="chi2 of the crossnet route's nine calibration "
                           "outputs on null pairs (no shift; two different responses)",
                           counts="log-uniform 3e3-1e6", n_pairs=n_null)
        print("crossnet null chi2: 95 % quantile " + ", ".join(
            f"{c} {np.quantile(v, 0.95):.1f} ({len(v)})" for c, v in out["null"]["classes"].items()))
    if out["gain"]:
        out["gain"].update(common, quantity="68.3 % quantile of |slope - true| / sigma of the "
                           "crossnet route's gain (its widths already carry the training "
                           "calibration)", gains=list(GAINS), counts=list(COUNTS), n_pairs=n)
        print("crossnet gain: 68.3 % of |z| below " + ", ".join(
            f"{c} {f:.2f} ({out['gain']['n'][c]})" for c, f in out["gain"]["classes"].items())
            + f"; pooled {out['gain']['pooled']:.2f}")
    return {k: v for k, v in out.items() if v is not None}


def _factors(z_by: dict):
    if not z_by:
        return None
    pooled = np.abs(np.concatenate([np.asarray(v) for v in z_by.values()]))
    out = {"pooled": round(float(np.quantile(pooled, 0.683)), 3), "classes": {}, "n": {}}
    for cls, z in z_by.items():
        z = np.abs(np.asarray(z))
        out["n"][cls] = int(z.size)
        if z.size >= MIN_PAIRS:
            out["classes"][cls] = round(float(np.quantile(z, 0.683)), 3)
    return out


def _nulls(chi_by: dict):
    """Sorted null chi2 per class (4 significant digits) and pooled."""
    if not chi_by:
        return None

    def r(v):
        return [float(f"{x:.4g}") for x in sorted(v)]
    return {"classes": {c: r(v) for c, v in chi_by.items()},
            "pooled": r([x for v in chi_by.values() for x in v]),
            "n": {c: len(v) for c, v in chi_by.items()}}


def calibrate(n: int = 150, n_null: int = 300, seed: int = 43, name: str = "rim_default",
              param_name: str = "param_default"):
    """(RIM gain calibration, RIM null calibration, network calibration)."""
    from sherpa_rim.amortised.params import ParameterEstimator
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    rng = np.random.default_rng(seed)
    pairs = val_responses()
    dec = RIMDeconvolver(name)
    est = ParameterEstimator(param_name)
    z_rim, z_net, chi_rim, chi_net = {}, {}, {}, {}
    for k in range(n + n_null):
        if k < n:
            g = GAINS[k % len(GAINS)]
            c = COUNTS[(k // len(GAINS)) % len(COUNTS)]
        else:
            g, c = 0.0, float(np.exp(rng.uniform(np.log(3e3), np.log(3e5))))
        cls, o, w, in_prior = one_pair(pairs, g, c, rng, dec, est)
        if k < n and in_prior:          # the routes refuse pairs outside the RIM's prior
            for row, zs in ((o, z_rim), (w, z_net)):
                if np.isfinite(row["sigma_slope"]) and row["sigma_slope"] > 0:
                    # the row's own factor is 1 (no calibration given): sigma is the raw one
                    zs.setdefault(cls, []).append((row["slope"] - (1.0 + g)) / row["sigma_slope"])
        elif k >= n and in_prior:
            chi_rim.setdefault(cls, []).append(o["chi2"])
            chi_net.setdefault(cls, []).append(w["chi2"])
        if (k + 1) % 25 == 0:
            print(f"  {k + 1}/{n + n_null} pairs", flush=True)
    made = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    common = {"split": "val", "n_samples": 32, "made_utc": made,
              "reproduce": f"python -m training.calibrate_crosscal --n {n} --n-null {n_null} "
                           f"--seed {seed} --name {name} --param-name {param_name}"}
    gain_rim, null_rim = _factors(z_rim), _nulls(chi_rim)
    net = {"null": _nulls(chi_net), "gain": _factors(z_net)}
    if gain_rim:
        gain_rim.update(common, quantity="68.3 % quantile of |slope - true| / curvature sigma of "
                        "the RIM route's gain", class_of_pair="the class of the fainter spectrum",
                        gains=list(GAINS), counts=list(COUNTS), n_pairs=n)
        if net["gain"]:
            net["gain"].update(common, quantity="68.3 % quantile of |slope - true| / sigma of "
                               "the network route's gain (from the redshift difference)",
                               gains=list(GAINS), counts=list(COUNTS), n_pairs=n)
        for label, cal in (("RIM gain", gain_rim), ("network gain", net["gain"] or {})):
            if not cal:
                continue
            print(f"{label}: 68.3 % of |z| below " + ", ".join(
                f"{c} {f:.2f} ({cal['n'][c]})" for c, f in cal["classes"].items())
                + f"; pooled {cal['pooled']:.2f}")
    if null_rim:
        null_rim.update(common, quantity="chi2 of the RIM route's band log-ratios on null pairs "
                        "(no shift; two different responses)", counts="log-uniform 3e3-3e5",
                        n_pairs=n_null)
        if net["null"]:
            net["null"].update(common, quantity="chi2 of the network route's four parameter "
                               "differences on null pairs (no shift; two different responses)",
                               counts="log-uniform 3e3-3e5", n_pairs=n_null)
        for label, cal in (("RIM null chi2", null_rim), ("network null chi2", net["null"] or {})):
            if not cal:
                continue
            print(f"{label}: 95 % quantile " + ", ".join(
                f"{c} {np.quantile(v, 0.95):.1f} ({len(v)})" for c, v in cal["classes"].items()))
    return gain_rim, null_rim, net


def main(argv=None):
    import logging
    import warnings

    import sherpa_rim  # noqa: F401  (registers the models; imports Sherpa)
    from sherpa_rim.runtime import models_dir
    logging.getLogger("sherpa").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="simulated pairs with a gain shift")
    ap.add_argument("--n-null", type=int, default=300, help="simulated pairs without a shift")
    ap.add_argument("--seed", type=int, default=43)
    ap.add_argument("--name", default="rim_default")
    ap.add_argument("--param-name", default="param_default")
    ap.add_argument("--folder", default=None)
    ap.add_argument("--crossnet", action="store_true",
                    help="calibrate the cross-calibration network instead (counts 3e3-1e6)")
    ap.add_argument("--crossnet-name", default="crossnet_default")
    args = ap.parse_args(argv)
    path = (pathlib.Path(args.folder) if args.folder else models_dir()) / "manifest.json"
    if args.crossnet:
        cal = calibrate_crossnet(args.n, args.n_null, args.seed, args.crossnet_name, path.parent)
        man = json.loads(path.read_text())
        entry = man["models"][args.crossnet_name]
        entry["crosscal_null_calibration"] = {**entry.get("crosscal_null_calibration", {}), **cal}
        path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")
        print(f"-> {path} (models.{args.crossnet_name}.crosscal_null_calibration)")
        return
    gain_rim, null_rim, net = calibrate(args.n, args.n_null, args.seed, args.name, args.param_name)
    man = json.loads(path.read_text())
    rim, par = man["models"][args.name], man["models"][args.param_name]
    # a run with --n 0 or --n-null 0 computes one part and keeps the other as it is
    if gain_rim:
        rim["crosscal_gain_calibration"] = gain_rim
    if null_rim:
        rim["crosscal_null_calibration"] = null_rim
    old = par.get("crosscal_null_calibration", {})
    par["crosscal_null_calibration"] = {**old, **{k: v for k, v in net.items() if v is not None}}
    path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")
    print(f"-> {path} (models.{args.name}.crosscal_gain_calibration, "
          f".crosscal_null_calibration; models.{args.param_name}.crosscal_null_calibration)")


if __name__ == "__main__":
    main()
