"""Calibrate the RIM route's gain error on the validation ObsIDs.

    python -m training.calibrate_crosscal [--n 150] [--seed 43] [--name rim_default]

The RIM route of a cross-calibration (:mod:`sherpa_rim.crosscal.routes`) measures a gain as
the shift in log E that best aligns two reconstructions, with a 1-sigma error from the
curvature of its chi2. That chi2 takes the bins as independent, which the RIM's errors are
not (neighbouring bins share most of theirs), so the curvature error is too small. This
script simulates pairs of observations of one thermal source (mmabs * cie, kT 1-6 keV,
abundance 0.2-1, z 0-0.2, Galactic column 0-1e21 given) through two different real
responses of the *validation* ObsIDs, the second with a gain slope 1 + g (g drawn from 0,
0.25, 0.5, 1, 2 %; XSPEC's definition, ``gainshift``), at 1e4, 1e5 and 1e6 counts, runs
the RIM route on each pair, and records per count class of the pair (the class of its
fainter spectrum, :data:`sherpa_rim.rim.band.CLASSES`) the 68.3 % quantile of |z|, z the
error of the slope over its curvature error. The route multiplies its error by that
factor. Stored in the model's manifest entry under ``crosscal_gain_calibration``; the
coverage on the *test* ObsIDs is measured by ``./dev.sh bench crosscal``.
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


def one_pair(pairs, g, counts, rng, dec, n_samples=32):
    """(class, slope, curvature sigma) of the RIM route on one simulated pair."""
    from common import fake_spectrum

    from sherpa_rim.crosscal.routes import fainter_class, rim_route
    from sherpa_rim.models import GainShift
    from sherpa_rim.observation import observation_from_data
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
    d2 = fake_spectrum(arf2, rmf2, truth, None, rng, wrap=wrap)
    res = [dec.deconvolve(observation_from_data(d, dec.grid), n_samples=n_samples, seed=k,
                          nH=truth["nH"]) for k, d in enumerate((d1, d2))]
    o = rim_route(res, 0, truth["redshift"], gain_calibration=None)["observations"][1]
    return fainter_class(res), o["slope"], o["sigma_slope"]


def calibrate(n: int = 150, seed: int = 43, name: str = "rim_default") -> dict:
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    rng = np.random.default_rng(seed)
    pairs = val_responses()
    dec = RIMDeconvolver(name)
    z_by = {}
    for k in range(n):
        g = GAINS[k % len(GAINS)]
        c = COUNTS[(k // len(GAINS)) % len(COUNTS)]
        cls, slope, sigma = one_pair(pairs, g, c, rng, dec)
        if np.isfinite(sigma) and sigma > 0:
            z_by.setdefault(cls, []).append((slope - (1.0 + g)) / sigma)
        if (k + 1) % 25 == 0:
            print(f"  {k + 1}/{n} pairs", flush=True)
    pooled = np.abs(np.concatenate([np.asarray(v) for v in z_by.values()]))
    out = {"pooled": round(float(np.quantile(pooled, 0.683)), 3), "classes": {}, "n": {}}
    for cls, z in z_by.items():
        z = np.abs(np.asarray(z))
        out["n"][cls] = int(z.size)
        if z.size >= MIN_PAIRS:
            out["classes"][cls] = round(float(np.quantile(z, 0.683)), 3)
    for cls, f in out["classes"].items():
        print(f"{cls:>9s}: 68.3 % of |z| below {f:.2f} ({out['n'][cls]} pairs)")
    print(f"   pooled: {out['pooled']:.2f} ({pooled.size} pairs)")
    out.update({
        "quantity": "68.3 % quantile of |slope - true| / curvature sigma of the RIM route's gain",
        "class_of_pair": "the class of the fainter spectrum", "split": "val", "n_samples": 32,
        "gains": list(GAINS), "counts": list(COUNTS), "n_pairs": n,
        "made_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "reproduce": f"python -m training.calibrate_crosscal --n {n} --seed {seed} --name {name}"})
    return out


def main(argv=None):
    import logging
    import warnings

    import sherpa_rim  # noqa: F401  (registers the models; imports Sherpa)
    from sherpa_rim.runtime import models_dir
    logging.getLogger("sherpa").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150, help="simulated pairs")
    ap.add_argument("--seed", type=int, default=43)
    ap.add_argument("--name", default="rim_default")
    ap.add_argument("--folder", default=None)
    args = ap.parse_args(argv)
    cal = calibrate(args.n, args.seed, args.name)
    path = (pathlib.Path(args.folder) if args.folder else models_dir()) / "manifest.json"
    man = json.loads(path.read_text())
    man["models"][args.name]["crosscal_gain_calibration"] = cal
    path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")
    print(f"-> {path} (models.{args.name}.crosscal_gain_calibration)")


if __name__ == "__main__":
    main()
