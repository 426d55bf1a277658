"""What each ``sherpa-rim`` sub-command does (the arguments are in :mod:`sherpa_rim.cli`)."""
from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import time

from .. import runtime
from ..amortised.params import estimate_files
from ..demo import run as run_demo
from ..errors import OutputError
from ..emission import table_info
from ..response.library import ResponseLibrary
from ..response.ogip import read_spectrum
from ..rim.deconvolver import deconvolve_files
from ..sim.responses import build_response_sets
from ..sim.spectra import SimConfig, simulate, write_set
from ..spi.sampler import run_spi

__all__ = ["info", "responses", "simulate_set", "deconvolve", "estimate", "spi", "train", "demo",
           "check_output"]


def _save_plot(result, path, say) -> None:
    """``result.plot()`` written to ``path`` as a PNG (no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = result.plot()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    say(f"written {path}")


def _versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("sherpa_rim", "sherpa", "numpy", "scipy", "astropy", "emcee", "h5py",
                 "matplotlib", "onnxruntime", "onnxruntime-gpu", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import sherpa.astro.xspec  # noqa: F401
        out["xspec"] = "available"
    except ImportError:
        out["xspec"] = "not available (sherpa_rim's own cie model is used)"
    return out


def info(args) -> int:
    info = {"versions": _versions()}
    try:
        info["onnxruntime_providers"] = runtime.available_providers()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        info["onnxruntime_providers"] = f"unavailable: {exc}"
    dists = runtime.onnxruntime_distributions()
    info["onnxruntime_wheels"] = dists
    man = runtime.read_manifest()
    info["models_dir"] = str(runtime.models_dir())
    info["models"] = {k: {kk: v.get(kk) for kk in ("file", "sha256", "kind", "description")}
                      for k, v in man.get("models", {}).items()}
    try:
        info["emission_table"] = table_info()
    except Exception as exc:  # noqa: BLE001
        info["emission_table"] = f"unavailable: {exc}"
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    v = info["versions"]
    print(f"sherpa_rim {v['sherpa_rim']}  (Python {v['python']}, {v['platform']})")
    print("versions:")
    for k, val in v.items():
        if k not in ("python", "platform", "sherpa_rim"):
            print(f"  {k:16s} {val if val is not None else '-'}")
    print(f"ONNX Runtime providers: {info['onnxruntime_providers']}")
    if len(dists) > 1:
        print(f"WARNING: several ONNX Runtime wheels are installed ({', '.join(dists)}); the CPU "
              "one shadows the GPU one: pip uninstall -y onnxruntime onnxruntime-gpu and "
              "reinstall one of them")
    print(f"shipped models ({info['models_dir']}):")
    if not info["models"]:
        print("  none")
    for k, m in info["models"].items():
        print(f"  {k:20s} {m.get('file')}  sha256 {str(m.get('sha256'))[:16]}...  {m.get('description') or ''}")
    et = info["emission_table"]
    if isinstance(et, dict):
        print(f"emission table: {et.get('file')}  CHIANTI {et.get('chianti_version')}, "
              f"fiasco {et.get('fiasco_version')}, {et.get('n_lines')} lines, "
              f"kT {et.get('kT_range_keV')} keV")
    else:
        print(f"emission table: {et}")
    return 0


def responses(args) -> int:
    print(ResponseLibrary.default().describe())
    return 0


def simulate_set(args) -> int:
    check_folder(args.out, args.clobber, f"{args.split}_config.json")
    cfg = SimConfig(n=args.n, split=args.split, seed=args.seed, noise=args.noise,
                    two_temperature_fraction=args.two_temperature,
                    nH_range=(0.0, args.nH_max))
    t0 = time.perf_counter()
    sets = build_response_sets(n_total=cfg.n_responses, seed=cfg.response_seed)
    t1 = time.perf_counter()
    data = simulate(cfg, sets[args.split], progress=True)
    t2 = time.perf_counter()
    paths = write_set(args.out, cfg, data, sets[args.split], overwrite=args.clobber)
    t3 = time.perf_counter()
    rate = args.n / (t2 - t1)
    print(f"{args.n} {args.split} spectra ({args.noise} noise) on {len(sets[args.split])} "
          f"held-apart responses -> {args.out} ({len(paths)} shards)")
    print(f"responses {t1 - t0:.1f} s, simulation {t2 - t1:.1f} s ({rate:,.0f} spectra/s), "
          f"writing {t3 - t2:.1f} s")
    return 0


def check_output(path, clobber: bool, what: str = "--out") -> pathlib.Path:
    """An output file the command may write: refused before any work if it exists (without
    --clobber), or if its folder is missing or not writable."""
    path = pathlib.Path(path)
    if path.exists() and not clobber:
        raise OutputError(f"{what} {path} exists; pass --clobber to overwrite it, or another name")
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise OutputError(f"{what} {path}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{what} {path}: the folder {folder} is not writable; choose another")
    return path


def check_folder(folder, clobber: bool, writes: str) -> pathlib.Path:
    """An output folder the command creates (or adds ``writes`` to): its parent must exist and
    be writable, and ``writes`` in it must not exist unless --clobber."""
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--out {folder} is a file; give a folder name")
    if folder.is_dir():
        check_output(folder / writes, clobber)
    else:
        check_output(folder, clobber=False)              # its parent exists and is writable
    return folder


def deconvolve(args) -> int:
    out = check_output(args.out, args.clobber)
    if out.suffix.lower() not in (".fits", ".fit", ".fts", ".ecsv"):
        raise OutputError(f"--out {out}: give a .fits or .ecsv file name")
    plot = check_output(args.plot, args.clobber, "--plot") if args.plot else None
    res = deconvolve_files(args.pha, arf=args.arf, rmf=args.rmf, bkg=args.bkg, model=args.model,
                           n_samples=args.samples, nH=args.nH, allow_instrument=args.any_instrument)
    res.write(out, overwrite=args.clobber)
    print(res.summary())
    print(f"written {out}")
    if plot is not None:
        _save_plot(res, plot, print)
    return 0


def estimate(args) -> int:
    out = None
    if args.out:
        if args.method != "exact" or len(args.pha) != 1:
            raise OutputError("--out writes the exact posterior's draws of one spectrum: give one "
                              "PHA and --method exact")
        out = check_output(args.out, args.clobber)
    rows = []
    for pha in args.pha:
        est = estimate_files(pha, arf=args.arf, rmf=args.rmf, model=args.model, nH=args.nH,
                             allow_instrument=args.any_instrument, method=args.method,
                             bkg=args.bkg, band=tuple(args.band))
        if out is not None:
            est.write(out, overwrite=args.clobber)
        d = est.to_dict() if hasattr(est, "to_dict") else {k: v for k, v in est.items()
                                                           if k != "proposal"}
        if args.json:
            print(json.dumps({"file": pha, **d}))
        else:
            rows.append((pha, d))
    if not args.json:
        for pha, d in rows:
            how = ("exact posterior: " + d["path"] + f"; ESS {d['ess']:.0f}"
                   + (f", k-hat {d['khat']:.2f}" if d.get("khat") is not None else "")
                   + f"; {d['statistic']}" if d["method"] == "exact" else "parameter network alone")
            print(f"{pha}  ({how}; norm of mmabs(nH={d['nH']:g}) * cie)")
            for k in ("kT", "abundance", "redshift", "norm"):
                e = d[k]
                print(f"  {k:9s} {e['median']:.4g}  68%: [{e['lo68']:.4g}, {e['hi68']:.4g}]  "
                      f"90%: [{e['lo90']:.4g}, {e['hi90']:.4g}]")
            for w in d.get("warnings", []):
                print(f"  WARNING: {w}")
        if out is not None:
            print(f"written {out}")
    return 0


def batch(args) -> int:
    from ..batch import run_batch
    if not args.inputs and not args.table:
        raise ValueError("batch needs PHA files (or quoted patterns) or --table")
    s = run_batch(args.inputs, table=args.table, tasks=tuple(args.tasks), out=args.out,
                  method=args.method, band=tuple(args.band), nH=args.nH, workers=args.workers,
                  scheduler=args.scheduler, chunk=args.chunk, clobber=args.clobber,
                  progress=not args.no_progress, any_instrument=args.any_instrument)
    if args.json:
        print(json.dumps(s.to_dict()))
    else:
        print(s.line())
        for e in s.errors[:5]:
            print(f"  failed: {e}")
    return 130 if s.interrupted else 0


def crosscal(args) -> int:
    from ..crosscal import compare_files
    if len(args.pha) < 2:
        raise ValueError("crosscal needs two or more PHA files of one source (the first is the "
                         "reference)")
    out = check_output(args.out, args.clobber) if args.out else None
    if out is not None and out.suffix.lower() not in (".fits", ".fit", ".fts", ".ecsv"):
        raise OutputError(f"--out {out}: give a .fits or .ecsv file name")
    plot = check_output(args.plot, args.clobber, "--plot") if args.plot else None
    rep = compare_files(args.pha, routes=tuple(args.routes), nH=args.nH, band=tuple(args.band),
                        gain=args.gain, area=args.area, arfs=args.arf, rmfs=args.rmf,
                        source=args.source, n_boot=args.n_boot, seed=args.seed)
    # with --json the JSON is alone on stdout; notes go to stderr
    say = (lambda m: print(m, file=sys.stderr)) if args.json else print
    if args.json:
        print(json.dumps(rep.to_dict()))
    else:
        print(rep.summary())
    if out is not None:
        rep.write(out, overwrite=args.clobber)
        say(f"written {out}")
    if plot is not None:
        _save_plot(rep, plot, say)
    return 0


def spi(args) -> int:
    from sherpa.astro import ui

    check_output(args.out, clobber=True)             # an existing run file is resumed
    # the same file checks as deconvolve and estimate (readable PHA, its ARF/RMF, counts)
    read_spectrum(args.pha, arf=args.arf, rmf=args.rmf)
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
                  redshift=args.redshift, nH=args.nH)
    print(res.report())
    print(f"chains and blobs in {args.out}")
    return 0


def train(args) -> int:
    root = pathlib.Path(__file__).resolve().parents[2]
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


def demo(args) -> int:
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; the demo writes a folder: give another name")
    check_folder(out, True, "demo_summary.txt")      # creatable / writable (demo checks its files)
    res = run_demo(out=args.out, clobber=args.clobber, seed=args.seed)
    print(res["text"])
    print(f"\nwritten to {pathlib.Path(args.out).resolve()}")
    return 0
