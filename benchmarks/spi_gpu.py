"""Spectral SPI with the likelihood in PyTorch, on CPU and (when present) CUDA, in one run.

    python benchmarks/spi_gpu.py [--data runs/spi_data.npz] [--steps 1000]

The data (the 1.5 + 5 keV test spectrum through ACIS-S, noticed and folded) come from
``--write-data`` on a machine with Sherpa; the run itself needs only numpy, emcee and torch.
"""
import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


def write_data(path):
    """The 1.5 + 5 keV spectrum of benchmarks/spi.py, folded, for machines without Sherpa."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from spi import setup           # benchmarks/spi.py: the same simulated data set
    from sherpa_rim.spi.likelihood import SpectralData
    setup()
    d = SpectralData.from_session(1)
    np.savez(path, counts=d.counts, matrix=d.matrix, energy_lo=d.energy_lo, energy_hi=d.energy_hi)
    print("written", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="runs/spi_data.npz")
    ap.add_argument("--write-data", action="store_true")
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    if args.write_data:
        write_data(args.data)
        return
    import torch
    from sherpa_rim.spi.gpu import TorchLikelihood
    from sherpa_rim.spi.likelihood import SpectralData, SpectralLikelihood
    from sherpa_rim.spi.sampler import run_spi
    z = np.load(args.data)
    data = SpectralData(z["counts"], z["matrix"], z["energy_lo"], z["energy_hi"], stat="cstat")
    devices = ["numpy"] + ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("device:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu only",
          f"| torch {torch.__version__} | {data.counts.sum():.0f} counts in {data.counts.size} channels")
    rng = np.random.default_rng(0)
    for P in (100, 300, 700):
        base = SpectralLikelihood(data, P)
        X = np.column_stack([np.log(rng.uniform(0.5, 8, (16, P))).ravel(), rng.uniform(0.2, 1, 16 * P),
                             np.log10(rng.uniform(1e-6, 1e-5, 16 * P))]).reshape(16, 3 * P)
        row = []
        for dev in devices:
            lik = base if dev == "numpy" else TorchLikelihood(base, dev)
            lik.stat(X)
            t0 = time.perf_counter()
            for _ in range(50):
                lik.stat(X)
            row.append(f"{dev} {1e3 * (time.perf_counter() - t0) / 50:.3f} ms")
        print(f"{P:4d} particles, 16 walkers, one likelihood call: " + ", ".join(row))
    for dev in devices:
        base = SpectralLikelihood(data, 700)
        lik = base if dev == "numpy" else TorchLikelihood(base, dev)
        t0 = time.perf_counter()
        res = run_spi(data=data, n_particles=700, n_steps=args.steps, n_walkers=16, n_ensembles=1,
                      block=50, likelihood=lik, seed=0)
        print(f"paper setting (700 particles x {args.steps} iterations, 16 walkers) on {dev}: "
              f"{time.perf_counter() - t0:.1f} s; kT_ew {res.kT_ew()[0]:.3f} keV")


if __name__ == "__main__":
    main()
