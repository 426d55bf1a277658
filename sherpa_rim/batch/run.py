"""Running a batch: inputs, the journal that makes a run resumable, Dask, the table.

**Inputs**: PHA files (paths or glob patterns; ARF / RMF from their headers), or a table
(ECSV, CSV or FITS) with a column PHA and optional ARF, RMF, BKG, NH (one row per spectrum).

**Journal**: every finished spectrum is appended, as one JSON line flushed to disk, to
``OUT.journal`` beside the output table, whose first line records the run's configuration.
Rerunning the same command reads it and skips what is done; a run killed at any point loses
only the spectra in flight, which the rerun computes (once: results are recorded when they
arrive, and every spectrum's random numbers are seeded by its key, the hash of its input
files and column, so a recomputed spectrum gives the same numbers wherever it stands in the
input list). The table (FITS, or Parquet when the output ends in
``.parquet`` and pyarrow is installed) is rewritten from the journal as results arrive
(atomically: a temporary file renamed) and at the end.

**Dask**: a ``LocalCluster`` with one single-threaded worker process per core by default
(``workers=``), or an existing scheduler (``scheduler="tcp://..."``, e.g. one started by
dask-jobqueue on SLURM / PBS: docs/batch.md); ``workers=0`` runs in this process without
Dask. Each worker process opens each ONNX model once (``runtime.shared``) and runs the
network on a whole chunk of spectra in one call.
"""
from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import pathlib
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..errors import DataError, OutputError
from ..runtime import get_threads, set_threads
from .work import TASKS, columns, process_chunk

log = logging.getLogger(__name__)

__all__ = ["read_inputs", "run_batch", "BatchSummary"]


def read_inputs(inputs: Sequence = (), table=None, nH: float = 0.0) -> List[dict]:
    """One dict per spectrum (index, key, pha, arf, rmf, bkg, nH), in a stable order."""
    rows = []
    if table is not None:
        from astropy.table import Table
        path = pathlib.Path(table)
        if not path.is_file():
            raise DataError(f"input table {str(path)!r} not found")
        fmt = {".csv": "ascii.csv", ".ecsv": "ascii.ecsv"}.get(path.suffix.lower())
        t = Table.read(path, format=fmt) if fmt else Table.read(path)
        names = {c.upper(): c for c in t.colnames}
        if "PHA" not in names:
            raise DataError(f"input table {str(path)!r} has no PHA column (columns: "
                            f"{', '.join(t.colnames)}); give PHA and optionally ARF, RMF, BKG, NH")
        base = path.parent

        def cell(row, name):
            if name not in names:
                return None
            v = row[names[name]]
            if v is None or (isinstance(v, float) and not np.isfinite(v)) or str(v).strip() in ("", "--"):
                return None
            return v
        for row in t:
            def p(name):
                v = cell(row, name)
                return None if v is None else str(base / str(v)) if not os.path.isabs(str(v)) else str(v)
            nh = cell(row, "NH")
            rows.append({"pha": p("PHA"), "arf": p("ARF"), "rmf": p("RMF"), "bkg": p("BKG"),
                         "nH": float(nH if nh is None else nh)})
    for pattern in inputs:
        hits = sorted(glob.glob(str(pattern))) if any(ch in str(pattern) for ch in "*?[") else [str(pattern)]
        if not hits:
            raise DataError(f"no file matches {str(pattern)!r}")
        rows += [{"pha": h, "arf": None, "rmf": None, "bkg": None, "nH": float(nH)} for h in hits]
    if not rows:
        raise DataError("no spectra to run: give PHA files (or patterns) or a table (--table)")
    for i, r in enumerate(rows):
        r["index"] = i
        r["key"] = hashlib.sha1("|".join(str(r[k]) for k in ("pha", "arf", "rmf", "bkg", "nH"))
                                .encode()).hexdigest()[:16]
    return rows


@dataclass
class BatchSummary:
    total: int
    done: int = 0                     # this run
    skipped: int = 0                  # already in the journal
    failed: int = 0                   # error rows in the table (all runs)
    seconds: float = 0.0
    out: str = ""
    workers: int = 0
    interrupted: bool = False
    errors: List[str] = field(default_factory=list)

    @property
    def per_hour(self) -> float:
        return 3600.0 * self.done / self.seconds if self.seconds > 0 else float("nan")

    def line(self) -> str:
        return (f"{self.done} done, {self.failed} failed, {self.skipped} skipped (already in "
                f"{self.out}), of {self.total}; {self.per_hour:.0f} spectra per hour with "
                f"{self.workers or 'no'} worker{'s' if self.workers != 1 else ''}"
                + ("; interrupted: rerun the same command to finish" if self.interrupted else ""))

    def to_dict(self) -> dict:
        return {"total": self.total, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "seconds": round(self.seconds, 2),
                "spectra_per_hour": self.per_hour, "out": self.out, "workers": self.workers,
                "interrupted": self.interrupted}


def _journal_path(out: pathlib.Path) -> pathlib.Path:
    return out.with_name(out.name + ".journal")


def _read_journal(path: pathlib.Path):
    config, results = None, {}
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:          # a line cut by a kill: not a result
                continue
            if "config" in rec:
                config = rec["config"]
            else:
                results[rec["KEY"]] = rec
    return config, results


def write_table(results: Dict[str, dict], out: pathlib.Path, config: dict):
    """The table of every result so far (by INDEX), written atomically."""
    from astropy.table import Table
    rows = sorted(results.values(), key=lambda r: r["INDEX"])
    if not rows:
        return
    empty = {**columns(config["tasks"], config["method"]), "WORKER": -1}
    names = list(empty)

    def value(r, n):
        v = r.get(n)
        return empty[n] if v is None else v
    t = Table(rows=[[value(r, n) for n in names] for r in rows], names=names)
    t.meta.update({"EXTNAME": "BATCH", "CREATOR": "sherpa_rim", "TASKS": ",".join(config["tasks"]),
                   "METHOD": config["method"], "NROWS": len(rows)})
    t.meta["comments"] = [f"config: {json.dumps(config, sort_keys=True)}"[:2000],
                          "intervals: *_LO68/_HI68 and *_LO90/_HI90 are 68.3 and 90 percent "
                          "(FIT_*: Sherpa conf, 1 sigma); STATUS error rows carry ERROR"]
    tmp = out.with_name(out.name + ".tmp" + out.suffix)
    if out.suffix.lower() == ".parquet":
        t.meta.pop("comments")
        t.write(tmp, format="parquet", overwrite=True)
    else:
        t.write(tmp, format="fits", overwrite=True)
    os.replace(tmp, out)


def run_batch(inputs: Sequence = (), table=None, tasks: Sequence[str] = ("estimate",),
              out="batch.fits", method: str = "network", band=(0.5, 7.0), nH: float = 0.0,
              workers: Optional[int] = None, scheduler: Optional[str] = None, chunk: int = 16,
              clobber: bool = False, progress: bool = True, any_instrument: bool = False,
              stop_after: Optional[int] = None) -> BatchSummary:
    """Run ``tasks`` (of ``estimate``, ``deconvolve``, ``fit``) over the inputs (module
    docstring); ``method`` for estimate: ``network`` or ``exact``. ``stop_after``: stop once
    that many spectra are done in this run (as an interrupted run stops)."""
    tasks = tuple(dict.fromkeys(tasks))
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"tasks: {bad or tasks!r}; choose from {TASKS}")
    if method not in ("network", "exact"):
        raise ValueError(f"method={method!r}: choose 'network' or 'exact'")
    if int(chunk) < 1:
        raise ValueError(f"chunk = {chunk}: give at least 1 spectrum per task")
    out = pathlib.Path(out)
    if out.suffix.lower() not in (".fits", ".fit", ".parquet"):
        raise OutputError(f"--out {out}: give a .fits (or .parquet) file name")
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OutputError(f"--out {out}: Parquet needs pyarrow (pip install pyarrow); or "
                              "give a .fits name") from None
    rows = read_inputs(inputs, table, nH)
    from importlib.metadata import PackageNotFoundError, version
    try:
        __version__ = version("sherpa_rim")
    except PackageNotFoundError:          # a source tree that is not installed
        __version__ = "unknown"
    from ..runtime import models_dir, read_manifest
    man = read_manifest(models_dir())["models"]
    config = {"tasks": list(tasks), "method": method, "band": [float(b) for b in band],
              "any_instrument": bool(any_instrument), "version": __version__,
              "models": {k: v.get("sha256", "") for k, v in man.items()}}
    journal = _journal_path(out)
    done: Dict[str, dict] = {}
    if journal.exists():
        old, done = _read_journal(journal)
        if old != config:
            if not clobber:
                raise OutputError(f"{journal} holds a run with other settings "
                                  f"({_diff(old, config)}); pass --clobber to start again, or "
                                  "another --out")
            journal.unlink()
            done = {}
    elif out.exists() and not clobber:
        raise OutputError(f"{out} exists and is not a batch run's table in progress (no "
                          f"{journal.name} beside it); pass --clobber to overwrite it, or "
                          "another --out")
    if not journal.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(journal, "w") as f:
            f.write(json.dumps({"config": config}) + "\n")
    keys = {r["key"] for r in rows}
    done = {k: v for k, v in done.items() if k in keys}
    todo = [r for r in rows if r["key"] not in done]
    summ = BatchSummary(total=len(rows), skipped=len(rows) - len(todo), out=str(out))
    options = {"method": method, "band": list(band), "any_instrument": bool(any_instrument)}
    chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(rows), initial=summ.skipped, unit="spectrum", file=sys.stderr,
                   desc="sherpa-rim batch")
    last_write = [time.perf_counter()]

    def record(results):
        with open(journal, "a") as f:
            for res in results:
                f.write(json.dumps(_jsonable(res)) + "\n")
                done[res["KEY"]] = _jsonable(res)
            f.flush()
            os.fsync(f.fileno())
        summ.done += len(results)
        if bar is not None:
            bar.update(len(results))
        if time.perf_counter() - last_write[0] > 30:
            write_table(done, out, config)
            last_write[0] = time.perf_counter()
        return stop_after is not None and summ.done >= stop_after

    try:
        if workers == 0 and scheduler is None:
            summ.workers = 0
            # one ONNX Runtime thread, as in a worker: float32 sums in another order give other
            # last digits, and a spectrum's numbers should not depend on how the run was spread
            prev = get_threads()
            try:
                for c in chunks:
                    if record(process_chunk(c, tasks, dict(options, threads=1))):
                        summ.interrupted = True
                        break
            finally:
                set_threads(prev)
        else:
            summ.workers = _run_dask(chunks, tasks, options, workers, scheduler, record, summ)
    except KeyboardInterrupt:
        summ.interrupted = True
    finally:
        if bar is not None:
            bar.close()
        summ.seconds = time.perf_counter() - t0
        write_table(done, out, config)
    summ.failed = sum(1 for r in done.values() if r["STATUS"] != "ok")
    summ.errors = [f"{r['PHA']}: {r['ERROR']}" for r in done.values() if r["STATUS"] != "ok"][:20]
    return summ


def _run_dask(chunks, tasks, options, workers, scheduler, record, summ) -> int:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise OutputError("the batch runs on dask.distributed: pip install 'dask[distributed]' "
                          "(or run with --workers 0, in this process)") from None
    logging.getLogger("distributed").setLevel(logging.WARNING)     # its INFO chatter
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        n = workers or os.cpu_count() or 1
        with _worker_environ():
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.WARNING)
        client = Client(cluster)
    nw = len(client.scheduler_info()["workers"])
    previous = signal.getsignal(signal.SIGINT)
    try:
        futures = [client.submit(process_chunk, c, tasks, options, pure=False) for c in chunks]
        for fut in as_completed(futures):
            if record(fut.result()):
                summ.interrupted = True
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        client.close()
        if cluster is not None:
            cluster.close()
    return nw


def _worker_environ():
    """Dask's configuration for the LocalCluster's worker processes, less the glibc setting
    ``MALLOC_TRIM_THRESHOLD_`` that Dask sets by default: setting it turns off glibc's
    adaptive mmap threshold, so every array above 128 kB is mapped and zeroed afresh, which
    halves this work's speed (docs/batch.md). The nanny reads it when it is created; a worker it
    restarts later inherits this process's environment, and fixes its thresholds itself
    (``work._malloc_thresholds``)."""
    import contextlib

    import dask
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    stack = contextlib.ExitStack()
    stack.enter_context(dask.config.set({"distributed.nanny.pre-spawn-environ": env}))
    # a nanny writes its variables into this process's environment, which workers inherit:
    # one from an earlier cluster is left out while this one starts, then put back
    held = os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    if held is not None:
        stack.callback(os.environ.__setitem__, "MALLOC_TRIM_THRESHOLD_", held)
    return stack


def _jsonable(res: dict) -> dict:
    out = {}
    for k, v in res.items():
        if isinstance(v, (np.floating, float)):
            v = float(v)
            out[k] = None if not np.isfinite(v) else v
        elif isinstance(v, (np.integer,)):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def _diff(a, b) -> str:
    if not isinstance(a, dict):
        return "unreadable"
    keys = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
    return ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(keys))[:300]
