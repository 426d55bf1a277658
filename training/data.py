"""Training sets for the networks, generated with sherpa_rim.sim (numpy only).

The real responses enter as :class:`sherpa_rim.sim.responses.BaseComponents` (an npz
written by ``python -m training.data --base OUT``, which needs Sherpa to read
the FITS files); everything after that runs without Sherpa, e.g. on a GPU
machine.
"""
from __future__ import annotations

import argparse
import logging
from typing import Dict

import numpy as np

from sherpa_rim.sim import (BaseComponents, SimConfig, base_components, build_response_sets,
                                 simulate)

log = logging.getLogger(__name__)

# the training mixture: half Gaussian SNR 30-100, half Poisson; some two-phase, some absorbed
MIXTURE = (
    dict(noise="gaussian", two_temperature_fraction=0.3, nH_range=(0.0, 0.1), weight=0.5),
    dict(noise="poisson", two_temperature_fraction=0.3, nH_range=(0.0, 0.1), weight=0.5),
)


def _simulate_chunk(args):
    cfg, rs = args
    return simulate(cfg, rs)


def make_split(base: BaseComponents, split: str, n: int, seed: int, n_responses: int = 1000,
               response_seed: int = 0, mixture=MIXTURE, workers: int = 1) -> Dict[str, np.ndarray]:
    """A mixed set on one split's responses: arrays S, sigma, F, response_index, params, and R.

    With ``workers`` > 1 the set is simulated in chunks by a process pool (each
    chunk has its own seed, so the result depends on ``workers``).
    """
    sets = build_response_sets(n_total=n_responses, seed=response_seed, base=base)
    rs = sets[split]
    jobs, flags = [], []
    for k, m in enumerate(mixture):
        nk = int(round(n * m["weight"]))
        n_chunks = max(1, min(workers * 2, nk // 2000)) if workers > 1 else 1
        sizes = np.diff(np.linspace(0, nk, n_chunks + 1).astype(int))
        for c, nc in enumerate(sizes):
            extra = {key: tuple(m[key]) for key in ("counts_range", "snr_range") if key in m}
            cfg = SimConfig(n=int(nc), split=split, seed=(seed * 100 + k) * 1000 + c,
                            noise=m["noise"], two_temperature_fraction=m["two_temperature_fraction"],
                            nH_range=tuple(m["nH_range"]), n_responses=n_responses,
                            response_seed=response_seed, **extra)
            jobs.append((cfg, rs))
            flags.append(m["noise"] == "poisson")
    if workers > 1:
        import multiprocessing as mp
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_simulate_chunk, jobs)
    else:
        parts = [_simulate_chunk(j) for j in jobs]
    for p, f in zip(parts, flags):
        p["is_poisson"] = np.full(p["S"].shape[0], f)
    data = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    perm = np.random.default_rng(seed).permutation(data["S"].shape[0])
    data = {key: v[perm] for key, v in data.items()}
    data["R"] = rs.matrices
    return data


def main(argv=None):
    ap = argparse.ArgumentParser(description="write the regridded real responses for training")
    ap.add_argument("--base", required=True, help="output npz of base components")
    args = ap.parse_args(argv)
    bc = base_components()
    bc.save(args.base)
    print(f"{len(bc.keys)} distinct ARF/RMF pairs on the canonical grid -> {args.base}")


if __name__ == "__main__":
    main()
