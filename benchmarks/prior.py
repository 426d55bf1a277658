"""Does the RIM prior help a conventional cie fit at low counts? Measured, side by side.

    ./dev.sh bench prior [--n 30] [--counts 300 1000 3000]

For spectra whose true (kT, Z, z) are drawn from the training prior and simulated through
a real ACIS-S response with a fixed number of counts, fits ``cie`` (NelderMead) with plain
cstat and with cstat + the RIM prior (``RIMPriorCStat``), and prints the median absolute
errors of ln kT and abundance, and how often the prior fit is the closer one (with its
binomial standard error). Priors: the calibrated RIM band prior and, beside it, the parameter
network's density (both ``sherpa_rim.stats``).
"""
import argparse
import logging

import numpy as np


from sherpa.astro import ui  # noqa: E402

import sherpa_rim  # noqa: E402,F401
from sherpa_rim.response.library import sherpa_data_dir  # noqa: E402
from sherpa_rim.stats import NetworkPriorCStat, RIMPriorCStat  # noqa: E402


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def main():
    from sherpa.utils.logging import SherpaVerbosity
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--counts", type=float, nargs="+", default=[300, 1000, 3000])
    ap.add_argument("--weight", type=float, default=0.5, help="RIM prior weight (its default)")
    ap.add_argument("--net-weight", type=float, default=1.0, help="network prior weight (its default)")
    args = ap.parse_args()
    pha = str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")
    stats = {"plain cstat": lambda: "cstat",
             "cstat + RIM prior": lambda: RIMPriorCStat(id=1, weight=args.weight),
             "cstat + network prior": lambda: NetworkPriorCStat(id=1, weight=args.net_weight)}
    print(f"{args.n} seeds per count level; truth from the training prior (kT 0.5-8 keV log-uniform, "
          f"Z 0.2-1.2, z 0-0.25), ACIS-S response of ObsID 7867, 0.5-7 keV, NelderMead from kT=3, Z=1")
    print(f"{'counts':>6s} {'statistic':22s} {'med|dlnkT|':>10s} {'mean|dlnkT|':>11s} {'med|dZ|':>8s} "
          f"{'mean|dZ|':>8s} {'bad fits':>8s} {'closer than plain: kT':>22s} {'Z':>10s}")
    for target in args.counts:
        rng = np.random.default_rng(0)
        err = {k: [] for k in stats}
        for seed in range(args.n):
            kT = float(np.exp(rng.uniform(np.log(0.5), np.log(8))))
            Z = float(rng.uniform(0.2, 1.2))
            z = float(rng.uniform(0, 0.25))
            with SherpaVerbosity("ERROR"):
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
                for name, make in stats.items():
                    c.kT, c.Abundanc, c.norm, c.redshift = 3.0, 1.0, 1e-3, z
                    c.Abundanc.thaw()
                    ui.set_stat(make())
                    ui.set_method("neldermead")
                    ui.fit()
                    err[name].append((abs(np.log(c.kT.val / kT)), abs(c.Abundanc.val - Z)))
        p = np.array(err["plain cstat"])
        for name, e in err.items():
            q = np.array(e)
            bad = np.mean((q[:, 0] > 0.5) | (q[:, 1] > 0.5))
            line = (f"{target:6.0f} {name:22s} {np.median(q[:, 0]):10.3f} {np.mean(q[:, 0]):11.3f} "
                    f"{np.median(q[:, 1]):8.3f} {np.mean(q[:, 1]):8.3f} {100 * bad:7.0f}%")
            if name != "plain cstat":
                fk, fz = np.mean(q[:, 0] < p[:, 0]), np.mean(q[:, 1] < p[:, 1])
                se = lambda f: np.sqrt(f * (1 - f) / len(p))     # noqa: E731
                line += f" {fk:15.2f}+-{se(fk):.2f} {fz:6.2f}+-{se(fz):.2f}"
                # paired: mean change of the error, seed by seed (negative: toward the truth)
                dd = q - p
                sd = dd.std(0, ddof=1) / np.sqrt(len(dd))
                line += (f"   paired mean change |dlnkT| {dd[:, 0].mean():+.3f}+-{sd[0]:.3f}, "
                         f"|dZ| {dd[:, 1].mean():+.3f}+-{sd[1]:.3f}")
            print(line, flush=True)
    print("(bad fit: |dln kT| > 0.5 or |dZ| > 0.5; 'closer': fraction of seeds where the fit with the "
          "prior ends nearer the truth than the plain fit, +- its binomial standard error; 'paired mean "
          "change': mean over seeds of (error with prior - error of the plain fit), +- its standard error)")


if __name__ == "__main__":
    main()
