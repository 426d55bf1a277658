"""Calibrate the RIM's band and its goodness of fit on the validation responses.

    python -m training.calibrate_band [--n 600] [--name rim_default]

For each count class of :data:`sherpa_rim.rim.band.CLASSES` (Poisson spectra with
1e2-1e3, 1e3-1e4, 1e4-1e5 and 1e5-3e5 counts, log-uniform, and Gaussian-noise spectra with
peak SNR 30-100), ``--n`` spectra are drawn from the RIM's training prior (kT 0.5-8 keV,
30 % with a second phase, Galactic column 0-1e21 cm^-2) through the *validation* ObsIDs'
responses (never the test ones), and deconvolved exactly as ``deconvolve()`` does (the
network on the data and 32 resamplings, then the data-consistency step). Stored in the
model's manifest entry under ``band_calibration``:

- per class and energy bin, the 68.3 % and 90 % quantiles of |ln(true / RIM)| / s, s the
  resampling spread of ln(RIM) in that bin (pooled over +-2 bins; bins whose true flux is
  below 1e-6 of the spectrum's peak are left out, as they are in the coverage measurement);
- the same for the photon flux in each band of ``BANDS``;
- per class, the mean and width of the refolded reconstruction's z: for counts the
  C-statistic against its expectation for the model, (C - E[C]) / sd[C] (Kaastra 2017); for
  Gaussian noise (chi2 - n) / sqrt(2 n).

``--only CLASS`` recomputes one class and replaces it in the manifest (the same seed gives
the same spectra).
"""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib

import numpy as np

from sherpa_rim.observation import Observation
from sherpa_rim.poisson import cstat, cstat_expectation
from sherpa_rim.rim.band import (BANDS, CLASSES, S_FLOOR, band_matrix_named, calibrated_band,
                                 log_spread, refold_pvalue)
from sherpa_rim.rim.deconvolver import RIMDeconvolver
from sherpa_rim.runtime import models_dir
from sherpa_rim.sim import SimConfig, build_response_sets, simulate

#: Poisson counts drawn per class (the class edges; the top class stops at the trained 3e5)
DRAW_RANGE = {"1e2-1e3": (1e2, 1e3), "1e3-1e4": (1e3, 1e4), "1e4-1e5": (1e4, 1e5),
              ">1e5": (1e5, 3e5)}
FLUX_FLOOR = 1e-6            # bins below this fraction of the spectrum's peak are not scored
POOL = 2                     # bins either side pooled into one bin's quantile


def class_config(cls: str, n: int, seed: int, split: str) -> SimConfig:
    """The simulated set of one count class (the RIM's training prior)."""
    common = dict(n=n, split=split, seed=seed, two_temperature_fraction=0.3, nH_range=(0.0, 0.1))
    if cls == "gaussian":
        return SimConfig(noise="gaussian", snr_range=(30.0, 100.0), **common)
    return SimConfig(noise="poisson", counts_range=DRAW_RANGE[cls], **common)


def observation(data, i, rs, noise) -> Observation:
    S = data["S"][i].astype(float)
    R = rs.matrices[data["response_index"][i]].astype(float)
    return Observation(S=S, sigma=data["sigma"][i].astype(float), R=R,
                       noticed=np.ones(S.size, bool), grid=rs.grid, exposure=1.0,
                       counts_total=float(S.sum()), counts_noticed=float(S.sum()), noise=noise)


def run_class(dec: RIMDeconvolver, cls: str, n: int, seed: int, split: str, rs, n_samples=32,
              cal=None):
    """Deconvolve one class's set. Returns per spectrum: the true spectrum, the RIM, the
    resampling spreads (per bin and band), the band fluxes, and the refolded Kaastra z.
    With a calibration ``cal``, also what ``deconvolve()`` reports from it (the same
    functions): the calibrated intervals per bin ("lo68", ..., "hi90") and per band
    ("band_lo68", ...), and the goodness-of-fit p-value ("p")."""
    cfg = class_config(cls, n, seed, split)
    data = simulate(cfg, rs)
    B = band_matrix_named(rs.grid.energy_lo, rs.grid.energy_hi)
    keys = ("F_true", "F", "s", "sb", "z", "counts")
    if cal is not None:
        keys += ("lo68", "hi68", "lo90", "hi90", "band_lo68", "band_hi68", "band_lo90",
                 "band_hi90", "p")
    out = {k: [] for k in keys}
    for i in range(n):
        obs = observation(data, i, rs, cfg.noise)
        F, samples = dec.reconstruct(obs, n_samples, seed=i)
        out["F_true"].append(data["F"][i].astype(float))
        out["F"].append(F)
        out["s"].append(log_spread(samples))
        out["sb"].append(log_spread(samples @ B.T))
        out["counts"].append(obs.counts_noticed)
        if cfg.noise == "poisson":
            mu = np.clip(obs.R @ F, 1e-10, None)
            e, v = cstat_expectation(mu)
            out["z"].append((cstat(np.clip(obs.S, 0, None), mu) - e) / np.sqrt(v))
        else:                       # chi2 against its expectation, in the same units
            chi2 = float((((obs.S - obs.R @ F) / obs.sigma) ** 2).sum())
            out["z"].append((chi2 - obs.S.size) / np.sqrt(2.0 * obs.S.size))
        if cal is not None:
            got = calibrated_band(F, samples, rs.grid.energy_lo, rs.grid.energy_hi, cal, cls)
            for k in ("lo68", "hi68", "lo90", "hi90"):
                out[k].append(got[k])
                out["band_" + k].append([got["bands"][b][k] for b in BANDS])
            out["p"].append(refold_pvalue(obs.S, obs.R @ F, obs.noticed, cal, cls, cfg.noise,
                                          obs.sigma)["p"])
    res = {k: np.asarray(v) for k, v in out.items()}
    res["B"] = B
    return res, cfg


def scores(res):
    """|ln(true / RIM)| / s per bin (NaN where not scored) and per band."""
    Ft, F = res["F_true"], res["F"]
    r = np.abs(np.log(np.maximum(Ft, 1e-300)) - np.log(np.maximum(F, 1e-300)))
    r = r / np.maximum(res["s"], S_FLOOR)
    r[Ft < FLUX_FLOOR * Ft.max(axis=1, keepdims=True)] = np.nan
    B = res["B"]
    rb = np.abs(np.log(np.maximum(Ft @ B.T, 1e-300)) - np.log(np.maximum(F @ B.T, 1e-300)))
    rb = rb / np.maximum(res["sb"], S_FLOOR)
    return r, rb


def quantiles(r, rb, levels=(0.683, 0.90)):
    """Per-bin quantiles (pooled over +-POOL bins; the class-wide one where a bin has fewer
    than 50 scored values) and per-band quantiles."""
    n_e = r.shape[1]
    out = {}
    for lev in levels:
        whole = float(np.nanquantile(r, lev))
        qb = np.empty(n_e)
        for j in range(n_e):
            x = r[:, max(0, j - POOL): j + POOL + 1]
            x = x[np.isfinite(x)]
            qb[j] = np.quantile(x, lev) if x.size >= 50 else whole
        key = "68" if lev < 0.7 else "90"
        out[f"q{key}_bin"] = [round(float(v), 4) for v in qb]
        out[f"q{key}_band"] = {name: round(float(np.quantile(rb[:, k], lev)), 4)
                               for k, name in enumerate(BANDS)}
    return out


def calibrate(n: int = 600, seed: int = 41, name: str = "rim_default", only=None):
    rs = build_response_sets(n_total=1000, seed=0)["val"]
    dec = RIMDeconvolver(name)
    classes, gof = {}, {}
    for cls in ([only] if only else CLASSES):
        res, cfg = run_class(dec, cls, n, seed, "val", rs)
        r, rb = scores(res)
        classes[cls] = {"n": n, **quantiles(r, rb)}
        if res["z"].size:
            z = res["z"]
            gof[cls] = {"z_mean": round(float(z.mean()), 4), "z_sd": round(float(z.std(ddof=1)), 4),
                        "n": int(z.size)}
        print(f"{cls:>9s}: median 68 % scale {np.median(classes[cls]['q68_bin']):.2f}, "
              f"90 % {np.median(classes[cls]['q90_bin']):.2f}"
              + (f"; z {gof[cls]['z_mean']:+.2f} +- {gof[cls]['z_sd']:.2f}" if cls in gof else ""),
              flush=True)
    return {"classes": classes, "gof": gof, "bands": {k: list(v) for k, v in BANDS.items()},
            "quantity": "quantiles of |ln(true / RIM)| / (resampling spread of ln RIM)",
            "split": "val", "n_samples": 32, "flux_floor": FLUX_FLOOR, "pool_bins": POOL,
            "data": {cls: json.loads(class_config(cls, n, seed, "val").to_json()) for cls in CLASSES},
            "made_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "reproduce": f"python -m training.calibrate_band --n {n} --seed {seed} --name {name}"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="spectra per count class")
    ap.add_argument("--seed", type=int, default=41)
    ap.add_argument("--name", default="rim_default")
    ap.add_argument("--folder", default=None)
    ap.add_argument("--only", choices=list(CLASSES), help="recompute one class only")
    args = ap.parse_args(argv)
    cal = calibrate(args.n, args.seed, args.name, args.only)
    folder = pathlib.Path(args.folder) if args.folder else models_dir()
    path = folder / "manifest.json"
    man = json.loads(path.read_text())
    if args.only:
        old = man["models"][args.name]["band_calibration"]
        old["classes"][args.only] = cal["classes"][args.only]
        if args.only in cal["gof"]:
            old["gof"][args.only] = cal["gof"][args.only]
        old["made_utc"] = cal["made_utc"]
        cal = old
    man["models"][args.name]["band_calibration"] = cal
    path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")
    print(f"-> {path} (models.{args.name}.band_calibration)")


if __name__ == "__main__":
    main()
