"""The ``sherpa-rim`` command line: every sub-command's arguments here, what each does in
:mod:`sherpa_rim.cli.commands`.

Flag names are shared across sub-commands: ``--out`` (output file or folder), ``--clobber``
(overwrite existing output), ``--nH`` (Galactic column, 1e22 cm^-2), ``--json``
(machine-readable output on stdout), ``--seed``.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from typing import List, Optional

from .._logging import sherpa_output_to
from ..errors import SherpaRimError
from . import commands

log = logging.getLogger(__name__)

__all__ = ["main", "build_parser"]

NH_HELP = "Galactic column, 1e22 cm^-2 (e.g. from CIAO prop_colden)"
ANY_HELP = ("run the networks on a response of another instrument than Chandra ACIS (they were "
            "trained on ACIS only): the output is an extrapolation and says so")


def _number(kind, lo=None, hi=None, strict_lo=False, what=""):
    """An argparse type: a finite number of ``kind`` within [lo, hi] (lo excluded if
    ``strict_lo``), refused with a message that says what is allowed."""
    def conv(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}")
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{text!r} must be finite")
        if lo is not None and (v < lo or (strict_lo and v == lo)):
            raise argparse.ArgumentTypeError(f"{text} must be {'>' if strict_lo else '>='} {lo}{what}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"{text} must be <= {hi}{what}")
        return v
    return conv


COUNT = _number(int, 1)                  # a positive integer


def _n_boot(text):
    """--n-boot: 0 (no simulated null) or at least crosscal.bootstrap.MIN_BOOT."""
    from ..crosscal.bootstrap import MIN_BOOT
    v = _number(int, 0)(text)
    if 0 < v < MIN_BOOT:
        raise argparse.ArgumentTypeError(f"{text}: give 0 (no simulated null) or at least "
                                         f"{MIN_BOOT} simulated pairs")
    return v
COLUMN = _number(float, 0.0, 100.0, what=" (1e22 cm^-2)")
ENERGY = _number(float, 0.0, 100.0, strict_lo=True, what=" keV")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sherpa-rim",
                                description="RIM deconvolution, amortised networks and SPI for "
                                            "X-ray spectra, alongside Sherpa")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    p.add_argument("--debug", action="store_true",
                   help="show the Python traceback of an error (default: one line)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("info", help="versions, ONNX Runtime providers, shipped models")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=commands.info)

    s = sub.add_parser("demo", help="the main job on built-in data: simulate a group spectrum "
                                    "through a real Chandra response and analyse it")
    s.add_argument("--out", default="sherpa_rim_demo", help="output folder (created; files in "
                                                            "it are never overwritten without --clobber)")
    s.add_argument("--clobber", action="store_true", help="overwrite existing output files")
    s.add_argument("--seed", type=_number(int, 0), default=1)
    s.set_defaults(func=commands.demo)

    s = sub.add_parser("responses", help="list the real response library (ARF/RMF pairs)")
    s.set_defaults(func=commands.responses)

    s = sub.add_parser("simulate", help="simulate a training/validation/test set S = R F + noise")
    s.add_argument("--n", type=COUNT, default=10_000, help="number of spectra")
    s.add_argument("--out", required=True, help="output folder (npz shards + config)")
    s.add_argument("--seed", type=_number(int, 0), default=0)
    s.add_argument("--split", choices=("train", "val", "test"), default="train")
    s.add_argument("--noise", choices=("gaussian", "poisson"), default="gaussian")
    s.add_argument("--two-temperature", type=_number(float, 0.0, 1.0), default=0.0,
                   metavar="FRACTION", help="fraction of two-phase spectra")
    s.add_argument("--nH-max", type=COLUMN, default=0.0, metavar="NH",
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
    s.add_argument("--samples", type=_number(int, 2), default=32,
                   help="Poisson resamplings for the band (at least 2)")
    s.add_argument("--model", default="rim_default")
    s.add_argument("--nH", type=COLUMN, default=None, metavar="NH",
                   help=NH_HELP + ", held fixed in the out-of-prior check")
    s.add_argument("--any-instrument", action="store_true", help=ANY_HELP)
    s.add_argument("--clobber", action="store_true", help="overwrite existing output")
    s.set_defaults(func=commands.deconvolve)

    s = sub.add_parser("estimate", help="amortised kT, abundance, redshift, norm for PHA files")
    s.add_argument("pha", nargs="+")
    s.add_argument("--arf")
    s.add_argument("--rmf")
    s.add_argument("--json", action="store_true", help="one JSON object per spectrum")
    s.add_argument("--model", default="param_default")
    s.add_argument("--nH", type=COLUMN, default=0.0, metavar="NH",
                   help=NH_HELP + "; norm is that of mmabs(NH) * cie (default 0: unabsorbed)")
    s.add_argument("--any-instrument", action="store_true", help=ANY_HELP)
    s.add_argument("--method", choices=("exact", "network"), default="exact",
                   help="exact: the posterior under the spectrum's own cstat (wstat with --bkg), "
                        "the network as proposal (about a second); network: the network alone "
                        "(milliseconds)")
    s.add_argument("--bkg", help="background PHA (the exact posterior then uses wstat)")
    s.add_argument("--band", nargs=2, type=ENERGY, default=(0.3, 10.0), metavar=("EMIN", "EMAX"),
                   help="channels used by the exact posterior (keV)")
    s.add_argument("--out", help="with --method exact and one PHA: write the weighted draws "
                                 "to this FITS file")
    s.add_argument("--clobber", action="store_true", help="overwrite an existing --out")
    s.set_defaults(func=commands.estimate)

    s = sub.add_parser("crosscal", help="calibration cross-check: one source in several PHA "
                                        "files (gain shift, area ratio per band, consistency)")
    s.add_argument("pha", nargs="+", help="two or more PHA files (ARF/RMF from their headers); "
                                          "the first is the reference")
    s.add_argument("--arf", nargs="+", help="one ARF per PHA file, in order (default: headers)")
    s.add_argument("--rmf", nargs="+", help="one RMF per PHA file, in order (default: headers)")
    s.add_argument("--routes", nargs="+", choices=("joint", "rim", "network", "crossnet"),
                   default=["joint", "rim", "network", "crossnet"],
                   help="joint forward fit, RIM reconstructions, parameter network, "
                        "cross-calibration network (default: all; the last three only for "
                        "thermal sources)")
    s.add_argument("--nH", type=COLUMN, default=None, metavar="NH",
                   help=NH_HELP + ", frozen in the joint fit's mmabs * cie")
    s.add_argument("--band", nargs=2, type=ENERGY, default=(0.5, 7.0), metavar=("EMIN", "EMAX"),
                   help="channels used (keV)")
    s.add_argument("--source", help="the joint fit's source model, as for Sherpa's set_source "
                                    "(e.g. 'xsphabs.gal * powlaw1d.pl'); default mmabs * cie")
    s.add_argument("--gain", choices=("slope", "slope+offset"), default="slope",
                   help="gain parameters freed in the joint fit")
    s.add_argument("--area", choices=("knots", "constant"), default="knots",
                   help="area correction of the joint fit: 5 knots in log E, or a constant")
    s.add_argument("--n-boot", type=_n_boot, default=200, metavar="N",
                   help="pairs simulated through the observations' own responses for the "
                        "network and crossnet routes' bias, errors and p (default 200; 0: their "
                        "nulls from the validation ObsIDs, not calibrated across responses)")
    s.add_argument("--seed", type=int, default=0, help="seed of those simulations")
    s.add_argument("--out", help="table of the results (.fits or .ecsv)")
    s.add_argument("--plot", help="PNG of the area ratios per band")
    s.add_argument("--json", action="store_true", help="the report as one JSON object on stdout")
    s.add_argument("--clobber", action="store_true", help="overwrite existing output")
    s.set_defaults(func=commands.crosscal)

    s = sub.add_parser("batch", help="many spectra through estimate / deconvolve / a cie fit "
                                     "on Dask, into one resumable table")
    s.add_argument("inputs", nargs="*", help="PHA files or quoted glob patterns ('obs/*.pi'); "
                                             "ARF/RMF from their headers")
    s.add_argument("--table", help="a table (ECSV, CSV, FITS) with columns PHA and optionally "
                                   "ARF, RMF, BKG, NH, one row per spectrum")
    s.add_argument("--tasks", nargs="+", choices=("estimate", "deconvolve", "fit"),
                   default=["estimate"], help="what to run on each spectrum (default estimate)")
    s.add_argument("--method", choices=("network", "exact"), default="network",
                   help="estimate: the network alone (milliseconds) or the exact posterior")
    s.add_argument("--out", required=True, help="the table (.fits, or .parquet with pyarrow); "
                                                "rerunning the same command resumes it")
    s.add_argument("--workers", type=_number(int, 0), default=None,
                   help="local Dask worker processes (default: one per core; 0: no "
                        "Dask, in this process)")
    s.add_argument("--scheduler", help="address of a running Dask scheduler (e.g. one from "
                                       "dask-jobqueue): use its workers")
    s.add_argument("--chunk", type=_number(int, 1), default=16,
                   help="spectra per task (the network runs on a chunk in one call)")
    s.add_argument("--band", nargs=2, type=ENERGY, default=(0.5, 7.0), metavar=("EMIN", "EMAX"),
                   help="channels used (keV)")
    s.add_argument("--nH", type=COLUMN, default=0.0, metavar="NH",
                   help=NH_HELP + " for every spectrum (a table's NH column overrides)")
    s.add_argument("--any-instrument", action="store_true", help=ANY_HELP)
    s.add_argument("--json", action="store_true", help="the closing summary as JSON on stdout")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (stderr)")
    s.add_argument("--clobber", action="store_true",
                   help="overwrite an existing table, or restart a run with other settings")
    s.set_defaults(func=commands.batch)

    s = sub.add_parser("spi", help="spectral Smoothed Particle Inference of a PHA file (emcee)")
    s.add_argument("pha")
    s.add_argument("--arf")
    s.add_argument("--rmf")
    s.add_argument("--particles", type=COUNT, default=100)
    s.add_argument("--steps", type=COUNT, default=500, help="sweeps per ensemble")
    s.add_argument("--walkers", type=_number(int, 2), default=16)
    s.add_argument("--ensembles", type=_number(int, 2, what=": R-hat compares independent "
                                                             "ensembles"), default=4)
    s.add_argument("--redshift", type=_number(float, 0.0, 10.0), default=0.0)
    s.add_argument("--nH", type=COLUMN, default=0.0, metavar="NH", help=NH_HELP)
    s.add_argument("--band", nargs=2, type=ENERGY, default=(0.5, 7.0), metavar=("EMIN", "EMAX"))
    s.add_argument("--out", required=True, help="RUN.h5 (resumed if it exists)")
    s.add_argument("--seed", type=_number(int, 0), default=0)
    s.set_defaults(func=commands.spi)

    s = sub.add_parser("train", help="train a network (needs a source checkout and sherpa_rim[training])")
    s.add_argument("what", choices=("rim", "param", "dae"))
    s.add_argument("--config", help="JSON config (default: training/configs/<what>_cpu.json)")
    s.add_argument("extra", nargs=argparse.REMAINDER, help="passed to the training module")
    s.set_defaults(func=commands.train)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run one sub-command. Every error ends as one line on stderr that names the problem
    (and the fix), with a non-zero exit code: 2 for bad input, 1 for anything else, 130 for
    an interrupt; ``--debug`` shows the traceback instead."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "band", None) is not None and args.band[0] >= args.band[1]:
        parser.error(f"--band {args.band[0]:g} {args.band[1]:g}: EMIN must be below EMAX")
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
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        print(f"sherpa-rim: interrupted{': ' + str(exc) if str(exc) else ''}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for the user (--debug: traceback)
        if args.debug:
            raise
        print(f"sherpa-rim: error: {_one_line(exc)}", file=sys.stderr)
        return 2 if _is_input_error(exc) else 1
    finally:
        sherpa_log.propagate = propagate


def _is_input_error(exc) -> bool:
    from sherpa.utils.err import SherpaErr
    return isinstance(exc, (SherpaRimError, SherpaErr, OSError, ValueError))


def _one_line(exc) -> str:
    """The message of an error as one line, with what kind it is when the message alone does
    not say (an error of the plugin's own names the problem and the fix already)."""
    from sherpa.utils.err import SherpaErr
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SherpaRimError):
        return msg
    if isinstance(exc, SherpaErr):
        return f"Sherpa: {msg}"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or msg}: no such file; check the path"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or msg}: permission denied; choose a file you can read or write"
    if isinstance(exc, OSError):
        return f"{msg} (a file could not be read or written)"
    if isinstance(exc, (ValueError, TypeError)):
        return msg
    return (f"{type(exc).__name__}: {msg} (an unexpected error; run with --debug for the "
            "traceback and report it)")
