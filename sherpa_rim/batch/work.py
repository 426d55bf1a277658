"""What a worker does with a chunk of spectra: load each (an error row when it cannot), run
the network on the whole chunk in one ONNX Runtime call, then the per-spectrum tasks.

Every result is one flat row (the same columns for every spectrum of a run, NaN or "" where
a task did not apply or failed), so that a run's rows make one table.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Dict, List, Sequence

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["TASKS", "columns", "process_chunk"]

TASKS = ("estimate", "deconvolve", "fit")
PARAMS = {"kT": "KT", "abundance": "ABUND", "redshift": "Z", "norm": "NORM"}
INTERVALS = ("median", "lo68", "hi68", "lo90", "hi90")
RIM_BANDS = ("Fe-L", "Fe-K")


def seed_of(key: str) -> int:
    """A spectrum's random seed, from its input key (the hash of its files and column): the
    same wherever it stands in the list, so a rerun with more inputs gives the same numbers."""
    return int(str(key)[:8], 16)


def columns(tasks: Sequence[str], method: str) -> Dict[str, object]:
    """The run's columns and their empty values (NaN, "" or -1)."""
    cols = {"INDEX": -1, "KEY": "", "PHA": "", "ARF": "", "RMF": "", "BKG": "", "NH": np.nan,
            "STATUS": "", "ERROR": "", "WARNINGS": "", "SECONDS": np.nan, "COUNTS": np.nan,
            "PROVIDER": ""}
    if "estimate" in tasks:
        pre = "EXACT" if method == "exact" else "NET"
        for p in PARAMS.values():
            for q in INTERVALS:
                cols[f"{pre}_{p}_{q.upper()}"] = np.nan
        if method == "exact":
            cols.update({"EXACT_ESS": np.nan, "EXACT_KHAT": np.nan, "EXACT_GOF_P": np.nan,
                         "EXACT_PATH": ""})
    if "deconvolve" in tasks:
        cols.update({"RIM_GOF_P": np.nan, "RIM_IN_PRIOR": -1, "RIM_CLASS": ""})
        for b in RIM_BANDS:
            key = b.replace("-", "")
            cols.update({f"RIM_{key}_FLUX": np.nan, f"RIM_{key}_LO68": np.nan,
                         f"RIM_{key}_HI68": np.nan})
    if "fit" in tasks:
        for p in PARAMS.values():
            cols.update({f"FIT_{p}": np.nan, f"FIT_{p}_LO68": np.nan, f"FIT_{p}_HI68": np.nan})
        cols.update({"FIT_STAT": np.nan, "FIT_DOF": -1, "FIT_GOF_P": np.nan})
    return cols


def process_chunk(rows: List[dict], tasks: Sequence[str], options: dict) -> List[dict]:
    """Rows of results for ``rows`` (dicts with index, key, pha, arf, rmf, bkg, nH)."""
    from ..amortised.params import ParameterEstimator, load_for_fit
    from ..observation import observation_from_data
    from ..runtime import shared

    _worker_threads(options)
    empty = columns(tasks, options.get("method", "network"))
    band = tuple(options.get("band", (0.5, 7.0)))
    out, loaded = [], []
    for r in rows:
        res = dict(empty)
        res.update(INDEX=int(r["index"]), KEY=r["key"], PHA=str(r["pha"]), ARF=str(r.get("arf") or ""),
                   RMF=str(r.get("rmf") or ""), BKG=str(r.get("bkg") or ""),
                   NH=float(r.get("nH") or 0.0), STATUS="ok")
        t0 = time.perf_counter()
        try:
            d, rsp = load_for_fit(r["pha"], arf=r.get("arf") or None, rmf=r.get("rmf") or None,
                                  bkg=r.get("bkg") or None, band=band, with_response=True)
            res["COUNTS"] = float(np.sum(d.get_dep(filter=True)))
            res["SECONDS"] = time.perf_counter() - t0          # loading
            loaded.append((res, d, rsp, t0))
        except Exception as exc:        # noqa: BLE001 - one error row, never a stopped run
            _fail(res, exc, t0)
        out.append(res)
    if loaded and ("estimate" in tasks or "fit" in tasks):
        est = shared(ParameterEstimator, "param_default")
        obs, ok = [], []
        for res, d, rsp, t0 in loaded:
            try:
                obs.append(observation_from_data(d, est.grid, rsp=rsp))
                ok.append((res, d, rsp, t0))
            except Exception as exc:    # noqa: BLE001
                _fail(res, exc, t0)
        loaded = ok
        if loaded:
            t_net = time.perf_counter()
            try:                        # the whole chunk in one ONNX Runtime call
                nets = est.estimate_many(obs, [res["NH"] for res, _, _, _ in loaded],
                                         allow_instrument=bool(options.get("any_instrument")))
            except Exception:           # noqa: BLE001 - then spectrum by spectrum
                nets = []
                for o, (res, d, rsp, t0) in zip(obs, loaded):
                    try:
                        nets.append(est.estimate(o, res["NH"], bool(options.get("any_instrument"))))
                    except Exception as exc1:   # noqa: BLE001
                        _fail(res, exc1, t0)
                        nets.append(None)
            share = (time.perf_counter() - t_net) / len(loaded)
            for (res, d, rsp, t0), net in zip(loaded, nets):
                res["SECONDS"] += share                         # its share of the chunk's call
                res["PROVIDER"] = est.session.provider
                if net is not None:
                    res["_net"] = net
    for res, d, rsp, t0 in loaded:
        if res["STATUS"] != "ok":
            continue
        t1 = time.perf_counter()
        try:
            _tasks(res, d, rsp, tasks, options)
        except Exception as exc:        # noqa: BLE001
            _fail(res, exc, t1)
            continue
        res["SECONDS"] += time.perf_counter() - t1
    for res in out:
        res.pop("_net", None)
        res["WORKER"] = os.getpid()
    return out


def _worker_threads(options: dict) -> None:
    """Inside a Dask worker, run the models on one thread per task, not on ONNX Runtime's one
    spinning thread per core in each of several worker processes (and the same numbers as
    ``--workers 0``); and undo Dask's default ``MALLOC_TRIM_THRESHOLD_`` where a worker was
    started with it."""
    from ..runtime import set_threads
    n = options.get("threads")
    if n is None:
        try:
            from distributed import get_worker
            get_worker()
        except (ImportError, ValueError):       # not in a worker: ONNX Runtime's default
            return
        n = 1               # one model thread per task, whatever the worker's thread count
        _malloc_thresholds()
    if n:
        set_threads(int(n))


_MALLOC_SET = []


def _malloc_thresholds() -> None:
    """glibc with MALLOC_TRIM_THRESHOLD_ set (Dask's workers by default) no longer adapts its
    mmap threshold: every array above 128 kB is mapped and zeroed afresh, which halves this
    work's speed (docs/batch.md). Fixed thresholds that keep arrays up to 32 MiB on the heap
    (and the heap from being trimmed below 256 MiB) give the speed back. Once per process;
    nothing where the variable is unset or the C library is not glibc."""
    if _MALLOC_SET or "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        ok = (libc.mallopt(-3, 32 << 20) == 1     # M_MMAP_THRESHOLD (glibc's largest)
              and libc.mallopt(-1, 256 << 20) == 1)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):           # not glibc
        ok = False
    _MALLOC_SET.append(ok)


def _fail(res, exc, t0):
    res["STATUS"] = "error"
    res["ERROR"] = f"{type(exc).__name__}: {exc}"[:500]
    prev = res["SECONDS"] if np.isfinite(res["SECONDS"]) else 0.0
    res["SECONDS"] = prev + time.perf_counter() - t0


def _warn(res, ws):
    ws = [w for w in ws if w]
    if ws:
        res["WARNINGS"] = "; ".join(filter(None, [res["WARNINGS"]] + list(ws)))[:2000]


def _tasks(res, d, rsp, tasks, options):
    from ..amortised.params import ParameterEstimator
    from ..runtime import shared
    method = options.get("method", "network")
    net = res.get("_net")
    if "estimate" in tasks:
        if method == "exact":
            from ..amortised.posterior import exact_posterior
            from ..emission.abundances import get_abund
            from ..poisson import SpectralData
            stat = "wstat" if d.background_ids else "cstat"
            post = exact_posterior(SpectralData.from_data(d, stat=stat), net["proposal"],
                                   nH=res["NH"], seed=seed_of(res["KEY"]), abund_table=get_abund())
            summary, pre = post.summary, "EXACT"
            res.update(EXACT_ESS=float(post.ess), EXACT_KHAT=np.nan if post.khat is None else float(post.khat),
                       EXACT_GOF_P=np.nan if post.gof_p is None else float(post.gof_p),
                       EXACT_PATH=post.path[:80])
            _warn(res, list(net["warnings"]) + post.warnings)
        else:
            summary, pre = net, "NET"
            _warn(res, net["warnings"])
        for name, col in PARAMS.items():
            for q in INTERVALS:
                res[f"{pre}_{col}_{q.upper()}"] = float(summary[name][q])
    if "deconvolve" in tasks:
        from ..observation import observation_from_data
        from ..rim.deconvolver import RIMDeconvolver
        dec = shared(RIMDeconvolver, "rim_default")
        r = dec.deconvolve(observation_from_data(d, dec.grid, rsp=rsp), n_samples=32, seed=seed_of(res["KEY"]),
                           nH=res["NH"], allow_instrument=bool(options.get("any_instrument")))
        res.update(RIM_GOF_P=float(r.gof["p"]), RIM_CLASS=r.band_class, PROVIDER=r.provider,
                   RIM_IN_PRIOR={True: 1, False: 0, None: -1}[r.in_prior])
        for b in RIM_BANDS:
            key = b.replace("-", "")
            v = r.bands[b]
            res.update({f"RIM_{key}_FLUX": v["flux"], f"RIM_{key}_LO68": v["lo68"],
                        f"RIM_{key}_HI68": v["hi68"]})
        _warn(res, r.warnings)
    if "fit" in tasks:
        _fit(res, d, net)
    shared(ParameterEstimator, "param_default")          # keep the session warm


def _fit(res, d, net):
    """A Sherpa fit of mmabs(NH, frozen) * cie (kT, abundance, redshift, norm free; cstat,
    or wstat with a background), started at the network's estimate, and conf() (1 sigma)."""
    import contextlib
    import io

    from sherpa.astro.instrument import Response1D
    from sherpa.estmethods import Confidence
    from sherpa.fit import Fit
    from sherpa.optmethods import LevMar
    from sherpa.stats import CStat, WStat

    from ..models import CIE, MMAbs
    from ..poisson import cstat_pvalue
    gal, c = MMAbs("gal"), CIE("c")
    gal.nH = res["NH"]
    gal.nH.frozen = True
    c.Abundanc.frozen = False
    c.redshift.frozen = False
    if net is not None:
        for p, key in ((c.kT, "kT"), (c.Abundanc, "abundance"), (c.redshift, "redshift"),
                       (c.norm, "norm")):
            p.val = float(np.clip(net[key]["median"], p.min, p.max))
    f = Fit(d, Response1D(d)(gal * c), stat=WStat() if d.background_ids else CStat(),
            method=LevMar(), estmethod=Confidence())
    with contextlib.redirect_stdout(io.StringIO()):
        r = f.fit()
        e = f.est_errors()
    for p, col in ((c.kT, "KT"), (c.Abundanc, "ABUND"), (c.redshift, "Z"), (c.norm, "NORM")):
        k = e.parnames.index(p.fullname)
        lo, hi = e.parmins[k], e.parmaxes[k]
        res[f"FIT_{col}"] = float(p.val)
        res[f"FIT_{col}_LO68"] = float(p.val + lo) if lo is not None else np.nan
        res[f"FIT_{col}_HI68"] = float(p.val + hi) if hi is not None else np.nan
    res.update(FIT_STAT=float(r.statval), FIT_DOF=int(r.dof))
    if not d.background_ids:
        mu = d.eval_model_to_fit(Response1D(d)(gal * c))
        res["FIT_GOF_P"] = float(cstat_pvalue(float(r.statval), mu, n_free=4))
