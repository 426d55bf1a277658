"""Does the RIM prior help a conventional cie fit at low counts? Measured, side by side.

    ./dev.sh bench prior [--n 20] [--counts 150 400]

For spectra whose true (kT, Z, z) are drawn from the training prior and simulated through
a real ACIS-S response with a fixed number of counts, fits ``cie`` (NelderMead) with plain
cstat and with cstat + the RIM prior (``RIMPriorCStat``), and prints the median absolute
errors of ln kT and abundance, and how often the prior fit is the closer one.
"""
import argparse
import logging

import numpy as np

logging.getLogger("sherpa").setLevel(logging.ERROR)

from sherpa.astro import ui  # noqa: E402

import sherpa_rim  # noqa: E402,F401
from sherpa_rim.library import sherpa_data_dir  # noqa: E402
from sherpa_rim.prior import RIMPriorCStat  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--counts", type=float, nargs="+", default=[150, 400, 1500])
    ap.add_argument("--weight", type=float, default=1.0)
    args = ap.parse_args()
    pha = str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")
    print(f"{'counts':>7s} {'plain |dlnkT|':>13s} {'prior |dlnkT|':>13s} {'plain |dZ|':>10s} "
          f"{'prior |dZ|':>10s} {'prior closer (kT, Z)':>21s}")
    for target in args.counts:
        rng = np.random.default_rng(0)
        plain, prior = [], []
        for seed in range(args.n):
            kT = float(np.exp(rng.uniform(np.log(0.5), np.log(8))))
            Z = float(rng.uniform(0.2, 1.2))
            z = float(rng.uniform(0, 0.25))
            ui.clean()
            ui.load_pha(1, pha)
            d = ui.get_data(1)
            for b in list(d.background_ids):
                d.delete_background(b)
            t = ui.create_model_component("cie", "t")
            t.kT, t.Abundanc, t.redshift, t.norm = kT, Z, z, 1e-3
            ui.set_source(1, t)
            rate = ui.get_response(1)(t)(np.arange(1, 1025)).sum() / ui.get_exposure(1)
            np.random.seed(100 + seed)
            ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=target / rate,
                        grouped=False, bkg=None)
            ui.notice(0.5, 7.0)
            c = ui.create_model_component("cie", "c")
            ui.set_source(1, c)
            for use_prior, store in ((False, plain), (True, prior)):
                c.kT, c.Abundanc, c.norm, c.redshift = 3.0, 1.0, 1e-3, z
                c.Abundanc.thaw()
                ui.set_stat(RIMPriorCStat(id=1, weight=args.weight) if use_prior else "cstat")
                ui.set_method("neldermead")
                ui.fit()
                store.append((abs(np.log(c.kT.val / kT)), abs(c.Abundanc.val - Z)))
        p, q = np.array(plain), np.array(prior)
        print(f"{target:7.0f} {np.median(p[:, 0]):13.3f} {np.median(q[:, 0]):13.3f} "
              f"{np.median(p[:, 1]):10.3f} {np.median(q[:, 1]):10.3f} "
              f"{np.mean(q[:, 0] < p[:, 0]):10.2f} {np.mean(q[:, 1] < p[:, 1]):10.2f}")


if __name__ == "__main__":
    main()
