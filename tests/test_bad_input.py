"""The bad-input matrix: every case gets a clear error naming the problem and the fix (or a
correct answer), never a traceback on the command line, a wrong result with exit 0, or an
overwritten file. docs/errors.md lists what each case gets (tools/errors_table.py writes it
from this table)."""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import badfiles as bf
from sherpa_rim.cli import main

SCRIPT = str(pathlib.Path(sys.executable).parent / "sherpa-rim")


@dataclass
class Outcome:
    code: int = 0                 # CLI exit code (API: 0 = returned, 1 = raised)
    out: str = ""
    err: str = ""
    exc: BaseException = None
    value: object = None

    @property
    def message(self):
        return str(self.exc) if self.exc is not None else (self.err or self.out)


@dataclass
class Case:
    id: str
    what: str                     # the input, in words
    run: Callable                 # (ctx) -> Outcome
    expect: str                   # "error" or "ok"
    match: str                    # regex the message (or, for "ok", the output) must hold


class Ctx:
    """Bad and good files in one folder, made once."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.good = bf.good_set(root)                                   # spec.pi + spec.arf/.rmf
        self.arf, self.rmf = root / "spec.arf", root / "spec.rmf"
        d = root / "lonely"
        d.mkdir()
        self.no_rmf = bf.spectrum(d / "a.pi")                            # RESPFILE, ANCRFILE absent
        d = root / "noarf"
        d.mkdir()
        shutil.copy(self.rmf, d / "spec.rmf")
        self.no_arf = bf.spectrum(d / "a.pi")                            # ANCRFILE absent
        self.none_arf = bf.spectrum(root / "nonearf.pi", ancrfile="none")
        self.trunc = bf.truncated(self.good, root / "trunc.pi")
        self.rand = bf.random_bytes(root / "rand.pi")
        self.trunc_arf = bf.truncated(self.arf, root / "trunc.arf")
        self.rand_rmf = bf.random_bytes(root / "rand.rmf")
        real = np.asarray(bf.fits.getdata(bf.PHA, 1)["COUNTS"], float)
        self.short = bf.spectrum(root / "short.pi", counts=real[:512].astype(int))
        self.short_bare = bf.spectrum(root / "short_bare.pi", counts=real[:512].astype(int),
                                      ancrfile="none", respfile="none")
        # a bright thermal spectrum (20,000 counts) through the same response
        from sherpa_rim.emission import spectrum
        from sherpa_rim.response import load_response
        rsp = load_response(pha=self.good)
        lam = rsp.fold(spectrum(2.0, 0.4, 0.02, 1.0, rsp.energy_lo, rsp.energy_hi))
        self.bright = bf.spectrum(root / "bright.pi", counts=np.random.default_rng(3).poisson(
            lam / lam.sum() * 2e4))
        nan = real.copy()
        nan[100:110] = np.nan
        self.nan = bf.spectrum(root / "nan.pi", counts=nan, float_counts=True)
        self.neg = bf.spectrum(root / "neg.pi", counts=real - 3, float_counts=True)
        self.zero = bf.spectrum(root / "zero.pi", counts=np.zeros(1024, int))
        spike = np.zeros(1024, int)
        spike[300] = 5000
        self.spike = bf.spectrum(root / "spike.pi", counts=spike)
        self.few = bf.spectrum(root / "few.pi", counts=np.random.default_rng(1).poisson(
            real / real.sum() * 150).astype(int))
        q = np.zeros(1024, int)
        q[:40] = 5
        q[600:] = 2
        self.quality = bf.spectrum(root / "quality.pi", quality=q)
        self.expo0 = bf.spectrum(root / "expo0.pi", exposure=0.0)
        for stem, tel, ins, ch in (("xmm", "XMM", "EPN", None), ("swift", "SWIFT", "XRT", 0.01),
                                   ("nustar", "NUSTAR", "FPMA", None)):
            bf.response(root, stem, telescop=tel, instrume=ins, channel_kev=ch)
            setattr(self, stem, bf.spectrum(root / f"{stem}.pi", ancrfile=f"{stem}.arf",
                                            respfile=f"{stem}.rmf", telescop=tel, instrume=ins))
        bf.response(root, "noeb", ebounds=False)
        self.noeb = root / "noeb.rmf"
        self.huge_rmf = bf.huge_rmf(root / "huge.rmf")
        self.huge = bf.spectrum(root / "huge.pi", counts=np.random.default_rng(2).poisson(
            0.3, 60000), ancrfile="none", respfile="huge.rmf", telescop="XRISM", instrume="RESOLVE")
        self.type2 = bf.type2(root / "type2.pi")
        self.existing = root / "existing.fits"
        self.existing.write_text("a user's file")
        self.not_h5 = root / "notes.h5"
        self.not_h5.write_text("not an HDF5 file")
        self.models = root / "models"             # a copy of the shipped models to break
        from sherpa_rim.runtime import models_dir
        self.models.mkdir()
        for f in models_dir().iterdir():
            if f.suffix in (".onnx", ".json"):
                shutil.copy(f, self.models / f.name)
        self.out = root / "out"
        self.out.mkdir()

    def fresh(self, name):
        p = self.out / name
        if p.exists():
            p.unlink()
        return p


def cli(*argv, env=None):
    """Run the command line in this process (stdout and stderr captured), as the installed
    script does."""
    def run(ctx):
        import contextlib
        import io
        out, err = io.StringIO(), io.StringIO()
        from sherpa_rim import runtime
        runtime._SHARED.clear()                       # models opened afresh, as by a new process
        args = [str(a(ctx) if callable(a) else a) for a in argv]
        extra = env(ctx) if callable(env) else (env or {})
        old = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(args)
                except SystemExit as e:           # argparse
                    code = e.code
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            runtime._SHARED.clear()
        return Outcome(code=code, out=out.getvalue(), err=err.getvalue())
    return run


def api(fn):
    def run(ctx):
        try:
            return Outcome(code=0, value=fn(ctx))
        except Exception as exc:   # noqa: BLE001 - what the case is about
            return Outcome(code=1, exc=exc)
    return run


def session(setup, call):
    """A Sherpa session built by ``setup(ui, ctx)``, then ``call(ui, ctx)``."""
    def fn(ctx):
        from sherpa.astro import ui

        import sherpa_rim
        ui.clean()
        sherpa_rim.register()
        try:
            setup(ui, ctx)
            return call(ui, ctx)
        finally:
            ui.clean()
            sherpa_rim.register()
    return api(fn)


def _loaded(ui, ctx, pha=None):
    ui.load_pha(1, str(pha or ctx.good))


def _ignored_all(ui, ctx):
    _loaded(ui, ctx)
    ui.ignore()


def _two_responses(ui, ctx):
    _loaded(ui, ctx)
    ui.load_rmf(1, str(ctx.rmf), resp_id=2)
    ui.load_arf(1, str(ctx.arf), resp_id=2)


def _zero_exposure(ui, ctx):
    _loaded(ui, ctx)
    ui.set_exposure(1, 0.0)


def _wave(ui, ctx):
    _loaded(ui, ctx)
    ui.set_analysis(1, "wave")


def _grouped(ui, ctx):
    _loaded(ui, ctx)
    ui.group_counts(1, 20)
    ui.notice(0.5, 7.0)


def _no_response(ui, ctx):
    from sherpa.astro.data import DataPHA
    ui.set_data(1, DataPHA("bare", np.arange(1, 1025), np.ones(1024), exposure=1e4))


def _failed_check(ctx):
    """The out-of-prior check's plasma fit raising: the result says the check failed."""
    from sherpa_rim.rim import checks

    def boom(*a, **k):
        raise RuntimeError("no fit")
    keep = checks.parametric_fit
    checks.parametric_fit = boom
    try:
        from sherpa_rim.rim.deconvolver import deconvolve_files
        res = deconvolve_files(ctx.bright, n_samples=4)
        path = ctx.fresh("failed_check.fits")
        res.write(path)
        hdr = bf.fits.getheader(path, 1)
        return res.in_prior, res.summary(), hdr["INPRIOR"], " ".join(hdr.get("COMMENT", []))
    finally:
        checks.parametric_fit = keep


def _spi_reused(ctx):
    """An SPI run file of one spectrum given for another: refused."""
    out = ctx.fresh("reuse.h5")
    code1 = main(["spi", str(ctx.good), "--particles", "3", "--steps", "4", "--walkers", "8",
                  "--ensembles", "2", "--out", str(out)])
    assert code1 == 0
    return cli("spi", lambda c: c.few, "--particles", "3", "--steps", "4", "--walkers", "8",
               "--ensembles", "2", "--out", str(out))(ctx)


def _spi_interrupted(ctx):
    """Ctrl-C during an SPI run (the installed script): one line, exit 130, the file usable;
    the same command again finishes the run."""
    out = ctx.fresh("interrupted.h5")
    args = [SCRIPT, "spi", str(ctx.good), "--particles", "20", "--steps", "400", "--walkers", "8",
            "--ensembles", "2", "--out", str(out)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not out.exists() and time.time() - t0 < 120:
        time.sleep(0.2)
    time.sleep(3.0)
    p.send_signal(signal.SIGINT)
    sout, serr = p.communicate(timeout=300)
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    return Outcome(code=p.returncode, out=sout, err=serr,
                   value=(again.returncode, again.stdout))


def _estimate_value(key, path_attr, **kw):
    def fn(ctx):
        from sherpa_rim.amortised.params import estimate_files
        return estimate_files(getattr(ctx, path_attr), **kw)[key]
    return fn


CASES = [
    # --- files that cannot be read -----------------------------------------------------
    Case("pha-missing", "a PHA path that does not exist",
         cli("deconvolve", "nosuch.pi", "--out", lambda c: c.fresh("a.fits")), "error",
         r"does not exist; check the path"),
    Case("pha-truncated", "a truncated PHA file",
         cli("estimate", lambda c: c.trunc), "error", r"cannot read .* not truncated"),
    Case("pha-random", "a file of random bytes given as the PHA",
         cli("deconvolve", lambda c: c.rand, "--out", lambda c: c.fresh("a.fits")), "error",
         r"cannot read .*as an OGIP PHA"),
    Case("arf-truncated", "a truncated ARF",
         cli("estimate", lambda c: c.good, "--arf", lambda c: c.trunc_arf), "error",
         r"cannot read .* ARF"),
    Case("rmf-random", "random bytes given as the RMF",
         cli("estimate", lambda c: c.good, "--rmf", lambda c: c.rand_rmf), "error",
         r"cannot read .* RMF"),
    Case("arf-missing-arg", "--arf naming a file that does not exist",
         cli("estimate", lambda c: c.good, "--arf", "nosuch.arf"), "error",
         r"ARF file .* does not exist"),
    Case("rmf-missing-arg", "--rmf naming a file that does not exist",
         cli("deconvolve", lambda c: c.good, "--rmf", "nosuch.rmf", "--out",
             lambda c: c.fresh("a.fits")), "error", r"RMF file .* does not exist"),
    Case("bkg-missing-arg", "--bkg naming a file that does not exist",
         cli("deconvolve", lambda c: c.good, "--bkg", "nosuch_bkg.pi", "--out",
             lambda c: c.fresh("a.fits")), "error", r"PHA file .*nosuch_bkg.* does not exist"),
    Case("respfile-missing", "a PHA whose RESPFILE names a file that is not there",
         cli("estimate", lambda c: c.no_rmf), "error", r"RESPFILE .* pass rmf=PATH \(--rmf"),
    Case("ancrfile-missing", "a PHA whose ANCRFILE names a file that is not there (the RMF is there)",
         cli("estimate", lambda c: c.no_arf), "error", r"ANCRFILE .* pass arf=PATH \(--arf"),
    Case("ancrfile-none", "ANCRFILE = 'none' (an RMF that holds the area): read with the RMF alone",
         api(lambda c: bf.fits.getheader(c.none_arf, 1)["ANCRFILE"] == "none"
             and __import__("sherpa_rim").load_response(pha=c.none_arf).arf_name is None),
         "ok", r"True"),
    Case("type2-pha", "a type II PHA (several spectra in one file)",
         cli("estimate", lambda c: c.type2), "error", r"type II PHA .* dmtype2split"),
    Case("rmf-no-ebounds", "an RMF without its EBOUNDS extension",
         cli("estimate", lambda c: c.good, "--rmf", lambda c: c.noeb), "error",
         r"EBOUNDS"),
    # --- spectra that do not fit their response, or hold no usable counts -----------------
    Case("channels-mismatch", "a 512-channel PHA with a 1024-channel RMF",
         cli("estimate", lambda c: c.short), "error",
         r"does not match the response its header names .* pass the matching rmf=PATH"),
    Case("channels-mismatch-arg", "a 512-channel PHA with --rmf of 1024 channels",
         cli("estimate", lambda c: c.short_bare, "--rmf", lambda c: c.rmf, "--arf", lambda c: c.arf),
         "error", r"512 channels but the RMF .* DETCHANS=1024"),
    Case("counts-nan", "NaN counts in 10 channels",
         cli("deconvolve", lambda c: c.nan, "--out", lambda c: c.fresh("a.fits")), "error",
         r"NaN/inf counts in 10 channels"),
    Case("counts-negative", "negative counts (a background-subtracted spectrum)",
         cli("estimate", lambda c: c.neg), "error", r"negative counts.*background"),
    Case("counts-zero", "a spectrum of zeros",
         cli("deconvolve", lambda c: c.zero, "--out", lambda c: c.fresh("a.fits")), "error",
         r"no counts in its .* noticed channels"),
    Case("counts-zero-estimate", "a spectrum of zeros, estimate",
         cli("estimate", lambda c: c.zero), "error", r"no counts"),
    Case("counts-spike", "all counts in one channel: estimate warns that it is not a spectrum",
         api(_estimate_value("warnings", "spike")), "ok", r"sit in 1 channel"),
    Case("counts-few", "150 counts: estimate warns below the counts it was trained on",
         api(_estimate_value("warnings", "few")), "ok", r"outside the 3000-300000"),
    Case("quality-flags", "QUALITY flags: bad channels are left out, as ignore_bad() does",
         api(lambda c: (__import__("sherpa_rim.observation", fromlist=["x"])
                        .observation_from_files(c.quality).meta["notes"])),
         "ok", r"464 channels with QUALITY != 0 left out"),
    Case("exposure-zero", "EXPOSURE = 0 in the PHA",
         cli("estimate", lambda c: c.expo0), "error", r"EXPOSURE = 0.0: .* dmhedit"),
    Case("exposure-arg-zero", "load_response(..., exposure=0)",
         api(lambda c: __import__("sherpa_rim").load_response(arf=c.arf, rmf=c.rmf, exposure=0)),
         "error", r"EXPOSURE = 0"),
    # --- other instruments ----------------------------------------------------------------
    Case("instrument-xmm", "an XMM-Newton EPIC-pn response",
         cli("estimate", lambda c: c.xmm), "error",
         r"TELESCOP = 'XMM', INSTRUME = 'EPN'.*trained on CHANDRA/CXC ACIS.*--any-instrument"),
    Case("instrument-swift", "a Swift-XRT response (1024 channels of 10 eV, not ACIS PI)",
         cli("deconvolve", lambda c: c.swift, "--out", lambda c: c.fresh("a.fits")), "error",
         r"'SWIFT', INSTRUME = 'XRT'"),
    Case("instrument-nustar", "a NuSTAR response",
         cli("estimate", lambda c: c.nustar), "error", r"'NUSTAR'"),
    Case("instrument-override", "--any-instrument: it runs, and says so in the output",
         cli("estimate", lambda c: c.xmm, "--any-instrument"), "ok",
         r"WARNING: the response is from TELESCOP = 'XMM'.*extrapolation"),
    Case("instrument-override-fits", "--any-instrument on deconvolve: the warning in the FITS header",
         api(lambda c: (main(["deconvolve", str(c.xmm), "--any-instrument", "--samples", "4",
                              "--out", str(c.fresh("xmm.fits"))]),
                        " ".join(bf.fits.getheader(c.out / "xmm.fits", 1)["COMMENT"]))[1]),
         "ok", r"WARNING: the response is from TELESCOP = 'XMM'"),
    Case("rmf-huge", "a 60,000-channel microcalorimeter RMF (27 GiB dense)",
         cli("estimate", lambda c: c.huge), "error", r"60000 channels x 60000 .* 26\.8 GiB"),
    # --- models -----------------------------------------------------------------------------
    Case("onnx-corrupted", "a shipped ONNX file replaced by other bytes",
         cli("estimate", lambda c: c.good,
             env=lambda c: (c.models.joinpath("param_default.onnx").write_bytes(b"broken"),
                            {"SHERPA_RIM_MODELS": str(c.models)})[1]), "error",
         r"does not match its manifest .* reinstall"),
    Case("onnx-missing", "a shipped ONNX file missing",
         cli("estimate", lambda c: c.good,
             env=lambda c: (c.models.joinpath("param_default.onnx").unlink(missing_ok=True),
                            {"SHERPA_RIM_MODELS": str(c.models)})[1]), "error",
         r"model file .* is missing; reinstall"),
    Case("manifest-broken", "a manifest that is not JSON",
         cli("estimate", lambda c: c.good,
             env=lambda c: (c.models.joinpath("manifest.json").write_text("{broken"),
                            {"SHERPA_RIM_MODELS": str(c.models)})[1]), "error",
         r"not valid JSON .*reinstall"),
    # --- outputs ------------------------------------------------------------------------------
    Case("out-exists", "--out names an existing file, no --clobber (it is left as it was)",
         cli("deconvolve", lambda c: c.good, "--out", lambda c: c.existing), "error",
         r"exists; pass --clobber"),
    Case("out-folder-missing", "--out in a folder that does not exist (checked before the work)",
         cli("deconvolve", lambda c: c.good, "--out", "nosuchdir/a.fits"), "error",
         r"folder nosuchdir does not exist"),
    Case("out-folder-is-file", "--out under a path that is a file",
         cli("deconvolve", lambda c: c.good, "--out", lambda c: c.existing / "a.fits"), "error",
         r"does not exist; create it first"),
    Case("out-bad-suffix", "--out with a suffix that is neither FITS nor ECSV",
         cli("deconvolve", lambda c: c.good, "--out", lambda c: c.fresh("a.txt")), "error",
         r"give a \.fits or \.ecsv file name"),
    Case("plot-exists", "--plot names an existing file, no --clobber",
         cli("deconvolve", lambda c: c.good, "--out", lambda c: c.fresh("b.fits"), "--plot",
             lambda c: c.existing), "error", r"--plot .* exists; pass --clobber"),
    Case("demo-out-exists", "demo outputs already in --out, no --clobber",
         cli("demo", "--out", lambda c: (c.out.joinpath("demo_summary.txt").write_text("mine"),
                                         c.out)[1]), "error", r"demo_summary.txt; pass --clobber"),
    Case("demo-out-is-file", "demo --out naming a file",
         cli("demo", "--out", lambda c: c.existing), "error", r"is a file; the demo writes a folder"),
    Case("simulate-out-exists", "simulate into a folder that holds that set, no --clobber",
         cli("simulate", "--n", "5", "--out",
             lambda c: (c.out.joinpath("train_config.json").write_text("{}"), c.out)[1]),
         "error", r"train_config.json exists; pass --clobber"),
    # --- numbers ---------------------------------------------------------------------------------
    Case("samples-zero", "deconvolve --samples 0",
         cli("deconvolve", lambda c: c.good, "--out", "x.fits", "--samples", "0"), "error",
         r"--samples: 0 must be >= 2"),
    Case("samples-text", "deconvolve --samples abc",
         cli("deconvolve", lambda c: c.good, "--out", "x.fits", "--samples", "abc"), "error",
         r"'abc' is not an integer"),
    Case("nh-negative", "deconvolve --nH -1",
         cli("deconvolve", lambda c: c.good, "--out", "x.fits", "--nH", "-1"), "error",
         r"--nH: -1 must be >= 0.0"),
    Case("nh-nan", "estimate --nH nan",
         cli("estimate", lambda c: c.good, "--nH", "nan"), "error", r"'nan' must be finite"),
    Case("nh-api", "deconvolve(nH=-0.1) in the API",
         session(_loaded, lambda ui, c: __import__("sherpa_rim").deconvolve(1, nH=-0.1)),
         "error", r"nH = -0.1 must be finite and >= 0"),
    Case("particles-zero", "spi --particles 0",
         cli("spi", lambda c: c.good, "--particles", "0", "--out", "x.h5"), "error",
         r"--particles: 0 must be >= 1"),
    Case("steps-zero", "spi --steps 0",
         cli("spi", lambda c: c.good, "--steps", "0", "--out", "x.h5"), "error",
         r"--steps: 0 must be >= 1"),
    Case("walkers-one", "spi --walkers 1",
         cli("spi", lambda c: c.good, "--walkers", "1", "--out", "x.h5"), "error",
         r"--walkers: 1 must be >= 2"),
    Case("ensembles-one", "spi --ensembles 1 (R-hat needs two)",
         cli("spi", lambda c: c.good, "--ensembles", "1", "--out", "x.h5"), "error",
         r"--ensembles: 1 must be >= 2: R-hat compares independent ensembles"),
    Case("crosscal-n-boot", "crosscal --n-boot 5 (too few simulated pairs)",
         cli("crosscal", lambda c: c.good, lambda c: c.good, "--n-boot", "5"), "error",
         r"--n-boot: 5: give 0 \(no simulated null\) or at least 20"),
    Case("band-reversed", "spi --band 7 0.5",
         cli("spi", lambda c: c.good, "--band", "7", "0.5", "--out", "x.h5"), "error",
         r"EMIN must be below EMAX"),
    Case("band-zero", "spi --band 0 7",
         cli("spi", lambda c: c.good, "--band", "0", "7", "--out", "x.h5"), "error",
         r"--band: 0 must be > 0.0 keV"),
    Case("redshift-negative", "spi --redshift -1",
         cli("spi", lambda c: c.good, "--redshift", "-1", "--out", "x.h5"), "error",
         r"--redshift: -1 must be >= 0.0"),
    Case("seed-negative", "demo --seed -2",
         cli("demo", "--seed", "-2", "--out", "x"), "error", r"--seed: -2 must be >= 0"),
    Case("n-zero", "simulate --n 0",
         cli("simulate", "--n", "0", "--out", "x"), "error", r"--n: 0 must be >= 1"),
    Case("two-temperature-above-1", "simulate --two-temperature 1.5",
         cli("simulate", "--two-temperature", "1.5", "--out", "x"), "error",
         r"1.5 must be <= 1.0"),
    Case("spi-steps-api", "run_spi(n_steps=0) in the API",
         api(lambda c: __import__("sherpa_rim.spi.sampler", fromlist=["x"]).run_spi(n_steps=0)),
         "error", r"n_steps = 0: it must be at least 1"),
    Case("prior-weight", "RIMPriorCStat(weight=-1)",
         api(lambda c: __import__("sherpa_rim.stats", fromlist=["x"]).RIMPriorCStat(weight=-1)),
         "error", r"weight = -1 must be a finite number >= 0"),
    Case("samples-api", "deconvolve(n_samples=1) in the API",
         session(_loaded, lambda ui, c: __import__("sherpa_rim").deconvolve(1, n_samples=1)),
         "error", r"n_samples = 1: the band needs at least 2"),
    # --- Sherpa sessions -------------------------------------------------------------------------
    Case("session-no-data", "deconvolve(id) with no such data set",
         session(lambda ui, c: None, lambda ui, c: __import__("sherpa_rim").deconvolve(7)),
         "error", r"no data set 7 .*load_pha"),
    Case("session-all-ignored", "every channel ignored",
         session(_ignored_all, lambda ui, c: __import__("sherpa_rim").deconvolve(1)), "error",
         r"every channel of data set 1 is ignored; notice a band"),
    Case("session-two-responses", "a data set with two responses (e.g. grating orders)",
         session(_two_responses, lambda ui, c: __import__("sherpa_rim").estimate(1)), "error",
         r"has 2 responses .* pass resp_id="),
    Case("session-exposure-zero", "a data set with exposure 0",
         session(_zero_exposure, lambda ui, c: __import__("sherpa_rim").estimate(1)), "error",
         r"EXPOSURE = 0.0"),
    Case("session-no-response", "a data set without a response",
         session(_no_response, lambda ui, c: __import__("sherpa_rim").deconvolve(1)), "error",
         r"has no response; use load_rmf"),
    Case("session-wavelength", "wavelength analysis: the same reconstruction as in energy",
         session(_wave, lambda ui, c: float(__import__("sherpa_rim").deconvolve(1, n_samples=4)
                                            .flux.sum())),
         "ok", r"\d"),
    Case("session-grouped", "grouped data: deconvolved on the ungrouped channels it covers",
         session(_grouped, lambda ui, c: __import__("sherpa_rim").deconvolve(1, n_samples=4).in_prior),
         "ok", r"True|False"),
    Case("session-fill-no-column", "fill_missing on a source without an absorber, no nH=",
         session(lambda ui, c: (_loaded(ui, c), ui.notice(0.7, 7.0),
                                ui.set_source(1, ui.create_model_component("cie", "c"))),
                 lambda ui, c: __import__("sherpa_rim").fill_missing(1)), "error",
         r"needs the Galactic column .* nH="),
    Case("session-stat-by-name", "set_stat of a prior statistic with other settings, by name",
         session(lambda ui, c: None, lambda ui, c: ui.set_stat("rimprior_cstat(weight=2.0)")),
         "error", r"rimprior_cstat\(weight=2.0\).* not a valid statistic"),
    Case("out-of-prior-check-failed", "the out-of-prior check's fit fails: said, never a pass",
         api(_failed_check), "ok", r"None.*not known .*UNKNOWN.*out-of-prior check failed"),
    Case("spi-out-reused", "an SPI run file of another spectrum given with --out",
         _spi_reused, "error", r"holds SPI chains of other data or settings"),
    Case("spi-out-not-h5", "an SPI --out that is not an HDF5 file",
         cli("spi", lambda c: c.good, "--particles", "3", "--steps", "4", "--out",
             lambda c: c.not_h5), "error", r"not an SPI run file"),
]


def _one_ensemble(ctx):
    """run_spi with one ensemble (the API allows it): the report says convergence was not
    assessed, never 'converged'."""
    from sherpa.astro import ui

    from sherpa_rim.spi.sampler import run_spi
    ui.clean()
    ui.load_pha("one", str(ctx.bright))
    ui.notice_id("one", 0.5, 7.0)
    ui.set_stat("cstat")
    try:
        res = run_spi(id="one", n_particles=3, n_steps=12, n_walkers=8, n_ensembles=1)
        return res.converged(), res.report()
    finally:
        ui.clean()


def _dae_other_grid(ctx):
    """The DAE asked to fill an observation on a grid other than its own: refused (it used to
    return zeros without a word)."""
    from dataclasses import replace

    from sherpa_rim.amortised.dae import fill_ignored
    from sherpa_rim.observation import observation_from_files
    from sherpa_rim.response.grid import rim_grid
    obs = observation_from_files(ctx.bright, grid=rim_grid(n_energy=100, channel_group=4))
    gap = obs.noticed.copy()
    gap[:20] = False
    return fill_ignored(replace(obs, noticed=gap))


def _demo_fails(ctx):
    """The demo's main job failing (here the RIM): the command fails, one line, exit != 0."""
    from sherpa_rim import demo

    def broken(*a, **k):
        raise RuntimeError("the RIM could not run")
    keep = demo.deconvolve
    demo.deconvolve = broken
    try:
        return cli("demo", "--out", lambda c: c.root / "demo_fails")(ctx)
    finally:
        demo.deconvolve = keep


CASES += [
    Case("spi-one-ensemble-api", "run_spi(n_ensembles=1): convergence not assessed",
         api(_one_ensemble), "ok", r"None.*convergence NOT ASSESSED"),
    Case("demo-main-job-fails", "the demo's RIM step failing: the demo fails, not exit 0",
         _demo_fails, "error", r"RuntimeError: the RIM could not run \(an unexpected error"),
    Case("dae-other-grid", "fill_ignored on an observation of another canonical grid",
         api(_dae_other_grid), "error", r"GridError: the DAE works on its own canonical grid"),
]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return Ctx(tmp_path_factory.mktemp("bad"))


def check(case: Case, o: Outcome):
    if case.expect == "error":
        if isinstance(o.code, int) and o.exc is None:           # the command line
            assert o.code not in (0, None), (case.id, o.out[-500:])
            assert "Traceback" not in o.err, (case.id, o.err)
            lines = [ln for ln in o.err.strip().splitlines()
                     if ln.startswith(("sherpa-rim: error:", "sherpa-rim: interrupted"))
                     or ": error:" in ln]
            assert len(lines) == 1, (case.id, o.err)
            msg = lines[0]
        else:
            assert o.exc is not None, (case.id, o.value)
            msg = f"{type(o.exc).__name__}: {o.exc}"
        assert re.search(case.match, msg, re.S), (case.id, msg)
        return msg
    assert o.exc is None and o.code == 0, (case.id, o.message[-800:])
    text = o.out if o.value is None else str(o.value)
    assert re.search(case.match, text, re.S), (case.id, text[-800:])
    return text


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, ctx):
    before = ctx.existing.read_text()
    o = case.run(ctx)
    check(case, o)
    assert ctx.existing.read_text() == before          # nothing a user wrote is overwritten


def test_the_matrix_is_large_and_documented():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    doc = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text()
    missing = [c.id for c in CASES if f"`{c.id}`" not in doc]
    assert not missing, f"docs/errors.md lacks {missing} (python tools/errors_table.py)"


def test_an_interrupted_spi_run_says_so_and_resumes(ctx):
    o = _spi_interrupted(ctx)
    assert o.code == 130, (o.code, o.err[-800:])
    import h5py
    with h5py.File(ctx.out / "interrupted.h5", "r") as f:     # the adapted step sizes kept
        assert "spi_scales" in f["ensemble0"].attrs
    assert "Traceback" not in o.err and "Exception ignored" not in o.err
    assert re.search(r"sherpa-rim: interrupted: SPI interrupted after \d+ of 400 sweeps .* "
                     r"run the same command again to resume", o.err), o.err[-800:]
    code, out = o.value
    assert code == 0 and "emission-weighted kT" in out


def test_unexpected_errors_are_one_line_too(ctx, monkeypatch):
    """A bug (any exception) is one line naming its type, with --debug to see the traceback."""
    from sherpa_rim.cli import commands

    def boom(args):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(commands, "info", boom)
    o = cli("info")(ctx)
    assert o.code == 1 and o.err.strip().splitlines() == [
        "sherpa-rim: error: ZeroDivisionError: division by zero (an unexpected error; run with "
        "--debug for the traceback and report it)"]
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    o = cli("deconvolve", ctx.good, "--out", ctx.fresh("c.fits"))(ctx)
    assert o.code == 2 and "is not writable" in o.err


def test_spi_saves_its_step_sizes_when_the_burn_in_ends(ctx, monkeypatch):
    """A run stopped any time after the burn-in resumes with the adapted step sizes: they are
    written when the burn-in ends, not only when the ensemble finishes."""
    from sherpa.astro import ui

    from sherpa_rim.spi import sampler
    saved = []
    keep = sampler._save_scales
    monkeypatch.setattr(sampler, "_save_scales",
                        lambda path, e, move: (saved.append((e, len(move.acc_local))),
                                               keep(path, e, move)))
    ui.clean()
    ui.load_pha("b", str(ctx.bright))
    ui.notice_id("b", 0.5, 7.0)
    ui.set_stat("cstat")
    try:
        sampler.run_spi(id="b", n_particles=3, n_steps=40, burn=10, n_walkers=8, n_ensembles=2,
                        out=ctx.fresh("burn.h5"))
    finally:
        ui.clean()
    # per ensemble: once at the end of the burn-in (10 sweeps), once at the end (40)
    assert [e for e, _ in saved] == [0, 0, 1, 1]
    assert saved[0][1] < saved[1][1]
