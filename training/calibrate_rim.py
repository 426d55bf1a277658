"""Calibrate the RIM's errors on the validation responses, for the RIM prior.

    python -m training.calibrate_rim [--n 4000] [--name rim_default]

The RIM prior (:mod:`sherpa_rim.stats`) compares a fitted model with the RIM
reconstruction in a few broad energy bands. Its width must be the RIM's real
error, not the spread of its output under Poisson resampling: at low counts the
network leans on its training prior and that bias dominates. So the shipped
deconvolver (network + data-consistency step, Poisson likelihood) is run on
Poisson spectra drawn from the RIM's training prior on the *validation* ObsIDs
(never the test ones), with 1e2-3e5 counts, and per class of total counts the
mean and covariance of ln(true band flux / RIM band flux) are stored in the
model's manifest entry under ``prior_calibration``.

Needs only numpy and ONNX Runtime (and Sherpa's FITS reading, through the
response library).
"""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib

import numpy as np

from sherpa_rim.rim.deconvolver import RIMDeconvolver
from sherpa_rim.runtime import models_dir
from sherpa_rim.sim import SimConfig, build_response_sets, simulate
from sherpa_rim.stats import band_matrix

# eight bands, log-spaced over 0.5-7 keV (Fe-L in the 2nd-3rd, Fe-K in the last)
BAND_EDGES = tuple(float(x) for x in np.round(np.geomspace(0.5, 7.0, 9), 4))
# classes of total counts (the data set's noticed counts)
COUNT_EDGES = (0.0, 300.0, 1000.0, 3000.0, 1e4, 3e4, 1e5, np.inf)


def calibrate(n: int = 4000, seed: int = 31, name: str = "rim_default", shrink: float = 0.05):
    sets = build_response_sets(n_total=1000, seed=0)
    rs = sets["val"]
    cfg = SimConfig(n=n, split="val", seed=seed, noise="poisson", counts_range=(1e2, 3e5),
                    two_temperature_fraction=0.3, nH_range=(0.0, 0.1))
    data = simulate(cfg, rs)
    dec = RIMDeconvolver(name)
    R = rs.matrices[data["response_index"]]
    F_hat = dec.run(data["S"], R, data["sigma"], statistic="cash")
    Bm = band_matrix(rs.grid.energy_lo, rs.grid.energy_hi, BAND_EDGES)
    d = np.log(np.maximum(data["F"] @ Bm.T, 1e-300)) - np.log(np.maximum(F_hat @ Bm.T, 1e-300))
    total = np.clip(data["S"], 0, None).sum(1)
    classes = []
    for lo, hi in zip(COUNT_EDGES[:-1], COUNT_EDGES[1:]):
        m = (total >= lo) & (total < hi)
        if m.sum() < 50:
            raise RuntimeError(f"only {m.sum()} calibration spectra with {lo:g}-{hi:g} counts; raise --n")
        x = d[m]
        mu = x.mean(0)
        C = np.cov(x, rowvar=False)
        C = (1 - shrink) * C + shrink * np.diag(np.diag(C))
        classes.append({"counts": [lo, hi if np.isfinite(hi) else None], "n": int(m.sum()),
                        "mean": mu.tolist(), "cov": C.tolist(),
                        "rms": np.sqrt(np.diag(C)).tolist()})
    return {"band_edges_keV": list(BAND_EDGES), "classes": classes,
            "quantity": "ln(true band photon flux / RIM band photon flux)",
            "data": json.loads(cfg.to_json()),
            "deconvolver": "network + data_consistency(statistic='cash')",
            "covariance_shrinkage_to_diagonal": shrink,
            "made_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "reproduce": f"python -m training.calibrate_rim --n {n} --seed {seed} --name {name}"}


def main(argv=None):

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--name", default="rim_default")
    ap.add_argument("--folder", default=None)
    args = ap.parse_args(argv)
    cal = calibrate(args.n, args.seed, args.name)
    folder = pathlib.Path(args.folder) if args.folder else models_dir()
    path = folder / "manifest.json"
    man = json.loads(path.read_text())
    man["models"][args.name]["prior_calibration"] = cal
    path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")
    print(f"{'counts':>14s} {'n':>5s}  rms of ln(true/RIM) per band ({', '.join(f'{e:g}' for e in BAND_EDGES)} keV)")
    for c in cal["classes"]:
        hi = c["counts"][1]
        print(f"{c['counts'][0]:7.0f}-{(hi if hi else np.inf):<7g}{c['n']:5d}  "
              + " ".join(f"{r:.3f}" for r in c["rms"]))
    print(f"-> {path} (models.{args.name}.prior_calibration)")


if __name__ == "__main__":
    main()
