"""Implementations of the ``sherpa-rim`` sub-commands that run engines."""
from __future__ import annotations

import json
import pathlib
import subprocess
import sys


def deconvolve(args) -> int:
    from .deconvolution import deconvolve_files

    out = pathlib.Path(args.out)
    if out.exists() and not args.clobber:
        print(f"sherpa-rim: error: {out} exists; pass --clobber to overwrite it", file=sys.stderr)
        return 2
    res = deconvolve_files(args.pha, arf=args.arf, rmf=args.rmf, bkg=args.bkg, model=args.model,
                           n_samples=args.samples, nH=args.nH)
    res.write(out, overwrite=args.clobber)
    print(res.summary())
    print(f"written {out}")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig = res.plot()
        fig.savefig(args.plot, dpi=110)
        plt.close(fig)
        print(f"written {args.plot}")
    return 0


def estimate(args) -> int:
    from .amortised import estimate_files

    rows = []
    for pha in args.pha:
        est = estimate_files(pha, arf=args.arf, rmf=args.rmf, model=args.model)
        if args.json:
            print(json.dumps({"file": pha, **est}))
        else:
            rows.append((pha, est))
    if not args.json:
        for pha, est in rows:
            print(pha)
            for k in ("kT", "abundance", "redshift", "norm"):
                e = est[k]
                print(f"  {k:9s} {e['median']:.4g}  68%: [{e['lo68']:.4g}, {e['hi68']:.4g}]  "
                      f"90%: [{e['lo90']:.4g}, {e['hi90']:.4g}]")
    return 0


def spi(args) -> int:
    import logging
    from sherpa.astro import ui

    from .spi.sampler import run_spi

    logging.getLogger("sherpa").setLevel(logging.WARNING)
    ui.clean()
    ui.load_pha("spi", args.pha)
    if args.arf:
        ui.load_arf("spi", args.arf)
    if args.rmf:
        ui.load_rmf("spi", args.rmf)
    if ui.get_data("spi").subtracted:
        ui.unsubtract("spi")
    ui.notice_id("spi", *args.band)
    ui.set_stat("wstat" if ui.get_data("spi").background_ids else "cstat")
    res = run_spi(id="spi", n_particles=args.particles, n_steps=args.steps, n_walkers=args.walkers,
                  n_ensembles=args.ensembles, out=args.out, seed=args.seed, progress=True,
                  redshift=args.redshift, nH=args.nh)
    print(res.report())
    print(f"chains and blobs in {args.out}")
    return 0


def train(args) -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    if not (root / "training").is_dir():
        print("sherpa-rim: error: training needs a source checkout (the training/ folder is not "
              "installed with the package)", file=sys.stderr)
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("sherpa-rim: error: training needs PyTorch: pip install 'sherpa_rim[training]' "
              "(torch==2.13.0)", file=sys.stderr)
        return 2
    cfg = args.config or str(root / "training" / "configs" / f"{args.what}_cpu.json")
    if args.what == "rim":
        cmd = [sys.executable, "-m", "training.train_rim", "--config", cfg]
    else:
        cmd = [sys.executable, "-m", "training.amortised", args.what, "--config", cfg]
    cmd += [a for a in args.extra if a != "--"]
    return subprocess.call(cmd, cwd=root)
