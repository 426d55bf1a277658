"""SPI timing, side by side in one run.

    ./dev.sh bench spi [--paper]

Prints, for 100, 300 and 700 particles: the time of one likelihood evaluation
(vectorised, per walker) and of one sweep (every particle updated once, 16
walkers), next to the same statistic through Sherpa's machinery (``spi`` model
+ ``calc_stat``). With ``--paper``: the wall time of the paper's setting (700
particles, 1000 iterations) for spectral SPI, and of spatial SPI on the
155,000-photon double cluster.
"""
import argparse
import logging
import os
import time

import numpy as np


from sherpa.astro import ui  # noqa: E402

import sherpa_rim  # noqa: E402,F401
from sherpa_rim.response.library import sherpa_data_dir  # noqa: E402
from sherpa_rim.spi.likelihood import SpectralData, SpectralLikelihood  # noqa: E402
from sherpa_rim.spi.sampler import run_spi  # noqa: E402


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def setup():
    ui.clean()
    ui.load_pha(1, str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits"))
    p1 = ui.create_model_component("cie", "p1")
    p2 = ui.create_model_component("cie", "p2")
    p1.kT, p1.Abundanc, p1.norm = 1.5, 0.4, 2e-3
    p2.kT, p2.Abundanc, p2.norm = 5.0, 0.4, 2e-3
    ui.set_source(1, p1 + p2)
    np.random.seed(0)
    ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=50e3, grouped=False, bkg=None)
    ui.notice(0.5, 7.0)
    ui.set_stat("cstat")


def timeit(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--paper", action="store_true", help="also run 700 particles x 1000 iterations")
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    setup()
    data = SpectralData.from_session(1)
    rng = np.random.default_rng(0)
    print(f"data: {data.counts.sum():.0f} counts in {data.counts.size} channels (0.5-7 keV), cstat")
    print(f"{'particles':>9s} {'logL/walker [ms]':>17s} {'sweep, 16 walkers [ms]':>23s} "
          f"{'Sherpa calc_stat [ms]':>22s} {'Sherpa / ours':>14s}")
    for P in (100, 300, 700):
        lik = SpectralLikelihood(data, P)
        X = np.column_stack([np.log(rng.uniform(0.5, 8, (16, P))).ravel(), rng.uniform(0.2, 1, 16 * P),
                             np.log10(rng.uniform(1e-6, 1e-5, 16 * P))]).reshape(16, 3 * P)
        one = timeit(lambda: lik.stat(X[:1]), 200)
        blocks = int(np.ceil(P / 10)) + 1          # one sweep: P/10 particle blocks + globals
        sweep = timeit(lambda: [lik(X) for _ in range(blocks)], 3)
        s1 = ui.create_model_component("spi", "s1")
        s1.particles = X[0].reshape(P, 3)
        ui.set_source(1, s1)
        sh = timeit(lambda: ui.calc_stat(1), 20)
        print(f"{P:9d} {1e3 * one:17.3f} {1e3 * sweep:23.1f} {1e3 * sh:22.3f} {sh / one:13.1f}x")
    if args.paper:
        t0 = time.perf_counter()
        res = run_spi(id=1, n_particles=700, n_steps=args.steps, n_walkers=16, n_ensembles=1,
                      block=50)
        print(f"\nspectral SPI, the paper's setting: 700 particles, {args.steps} iterations "
              f"(sweeps), 16 walkers: {time.perf_counter() - t0:.0f} s on {os.cpu_count()} CPU cores")
        print(res.report())
        from sherpa_rim.response import load_response
        from sherpa_rim.spi.paper import simulate_double_cluster
        from sherpa_rim.spi.spatial import run_spatial_spi
        rsp = load_response(id=1)
        ev, truth = simulate_double_cluster(rsp, 155_000)
        t0 = time.perf_counter()
        sres = run_spatial_spi(ev, rsp, n_particles=700, n_sweeps=args.steps // 10, redshift=0.2,
                               nH=0.04, max_counts=50)
        dt = time.perf_counter() - t0
        print(f"spatial SPI, 155,000 photons, {sres.n_bins} adaptive bins, 700 particles: "
              f"{dt / (args.steps // 10):.2f} s per iteration -> {dt / (args.steps // 10) * args.steps:.0f} s "
              f"for {args.steps} iterations (extrapolated from {args.steps // 10})")


if __name__ == "__main__":
    main()
