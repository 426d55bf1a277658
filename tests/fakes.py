"""Simulated PHA files through Sherpa's real ACIS set (ObsID 7867), for batch runs."""
import pathlib

import numpy as np

from badfiles import ARF, RMF, spectrum


def thermal_set(folder, n, seed=0, counts=(3e3, 3e4)):
    """``n`` PHA files of absorbed one-temperature plasmas (kT 0.7-6 keV), each naming the
    7867 ARF and RMF by absolute path; returns their paths."""
    from sherpa.astro.data import DataPHA
    from sherpa.astro.instrument import Response1D
    from sherpa.astro.io import read_arf, read_rmf

    from sherpa_rim.amortised.posterior import check_model
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arf, rmf = read_arf(str(ARF)), read_rmf(str(RMF))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        d = DataPHA("x", np.arange(1, 1025, dtype=float), np.zeros(1024), exposure=3e4)
        d.set_arf(arf)
        d.set_rmf(rmf)
        kT = float(np.exp(rng.uniform(np.log(0.7), np.log(6.0))))
        mu = d.eval_model(Response1D(d)(check_model(kT, rng.uniform(0.2, 1.0),
                                                    rng.uniform(0.0, 0.2), 1.0, 0.02)))
        mu *= float(np.exp(rng.uniform(*np.log(counts)))) / mu.sum()
        out.append(spectrum(folder / f"s{i:04d}.pi", counts=rng.poisson(mu), exposure=3e4,
                            ancrfile=str(ARF), respfile=str(RMF)))
    return out
