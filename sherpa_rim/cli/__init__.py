"""The ``sherpa-rim`` command line: every sub-command's arguments here, what each does in
:mod:`sherpa_rim.cli.commands`.

Flag names are shared across sub-commands: ``--out`` (output file or folder), ``--clobber``
(overwrite existing output), ``--nH`` (Galactic column, 1e22 cm^-2), ``--json``
(machine-readable output on stdout), ``--seed``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from .._logging import sherpa_output_to
from ..errors import SherpaRimError
from . import commands

log = logging.getLogger(__name__)

__all__ = ["main", "build_parser"]

NH_HELP = "Galactic column, 1e22 cm^-2 (e.g. from CIAO prop_colden)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sherpa-rim",
                                description="RIM deconvolution, amortised networks and SPI for "
                                            "X-ray spectra, alongside Sherpa")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="versions, ONNX Runtime providers, shipped models")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=commands.info)

    s = sub.add_parser("demo", help="the main job on built-in data: simulate a group spectrum "
                                    "through a real Chandra response and analyse it")
    s.add_argument("--out", default="sherpa_rim_demo", help="output folder (created; files in "
                                                            "it are never overwritten without --clobber)")
    s.add_argument("--clobber", action="store_true", help="overwrite existing output files")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=commands.demo)

    s = sub.add_parser("responses", help="list the real response library (ARF/RMF pairs)")
    s.set_defaults(func=commands.responses)

    s = sub.add_parser("simulate", help="simulate a training/validation/test set S = R F + noise")
    s.add_argument("--n", type=int, default=10_000, help="number of spectra")
    s.add_argument("--out", required=True, help="output folder (npz shards + config)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=("train", "val", "test"), default="train")
    s.add_argument("--noise", choices=("gaussian", "poisson"), default="gaussian")
    s.add_argument("--two-temperature", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of two-phase spectra")
    s.add_argument("--nH-max", type=float, default=0.0, metavar="NH",
                   help="Galactic nH drawn uniformly up to this (1e22 cm^-2)")
    s.add_argument("--clobber", action="store_true", help="overwrite an existing set")
    s.set_defaults(func=commands.simulate_set)

    s = sub.add_parser("deconvolve", help="RIM deconvolution of a PHA file -> FITS/ECSV table")
    s.add_argument("pha")
    s.add_argument("--arf")
    s.add_argument("--rmf")
    s.add_argument("--bkg", help="background PHA (scaled by exposure, BACKSCAL, AREASCAL)")
    s.add_argument("--out", required=True, help="OUT.fits or OUT.ecsv")
    s.add_argument("--plot", help="also write a PNG of the reconstruction")
    s.add_argument("--samples", type=int, default=32, help="Poisson resamplings for the band")
    s.add_argument("--model", default="rim_default")
    s.add_argument("--nH", type=float, default=None, metavar="NH",
                   help=NH_HELP + ", held fixed in the out-of-prior check")
    s.add_argument("--clobber", action="store_true", help="overwrite existing output")
    s.set_defaults(func=commands.deconvolve)

    s = sub.add_parser("estimate", help="amortised kT, abundance, redshift, norm for PHA files")
    s.add_argument("pha", nargs="+")
    s.add_argument("--arf")
    s.add_argument("--rmf")
    s.add_argument("--json", action="store_true", help="one JSON object per spectrum")
    s.add_argument("--model", default="param_default")
    s.add_argument("--nH", type=float, default=0.0, metavar="NH",
                   help=NH_HELP + "; norm is that of mmabs(NH) * cie (default 0: unabsorbed)")
    s.set_defaults(func=commands.estimate)

    s = sub.add_parser("spi", help="spectral Smoothed Particle Inference of a PHA file (emcee)")
    s.add_argument("pha")
    s.add_argument("--arf")
    s.add_argument("--rmf")
    s.add_argument("--particles", type=int, default=100)
    s.add_argument("--steps", type=int, default=500)
    s.add_argument("--walkers", type=int, default=16)
    s.add_argument("--ensembles", type=int, default=4)
    s.add_argument("--redshift", type=float, default=0.0)
    s.add_argument("--nH", type=float, default=0.0, metavar="NH", help=NH_HELP)
    s.add_argument("--band", nargs=2, type=float, default=(0.5, 7.0), metavar=("EMIN", "EMAX"))
    s.add_argument("--out", required=True, help="RUN.h5 (resumed if it exists)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=commands.spi)

    s = sub.add_parser("train", help="train a network (needs a source checkout and sherpa_rim[training])")
    s.add_argument("what", choices=("rim", "param", "dae"))
    s.add_argument("--config", help="JSON config (default: training/configs/<what>_cpu.json)")
    s.add_argument("extra", nargs=argparse.REMAINDER, help="passed to the training module")
    s.set_defaults(func=commands.train)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    sherpa_log = logging.getLogger("sherpa")
    sherpa_log.setLevel(max(level, logging.WARNING))
    # Sherpa has its own handler: its messages must not also reach the root handler (twice)
    propagate, sherpa_log.propagate = sherpa_log.propagate, False
    try:
        # stdout carries the command's output only (e.g. --json); Sherpa talks on stderr
        with sherpa_output_to(sys.stderr):
            return int(args.func(args) or 0)
    except SherpaRimError as exc:      # one clear line for the user
        print(f"sherpa-rim: error: {exc}", file=sys.stderr)
        return 2
    finally:
        sherpa_log.propagate = propagate
