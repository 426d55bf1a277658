"""Catalogue scale: many spectra through estimate, deconvolve and a cie fit, on Dask.

    from sherpa_rim.batch import run_batch
    s = run_batch(["obs/*.pi"], tasks=("estimate", "deconvolve"), out="cat.fits")
    print(s.line())

    sherpa-rim batch 'obs/*.pi' --tasks estimate deconvolve fit --out cat.fits [--workers 2]
    sherpa-rim batch --table spectra.ecsv --method exact --scheduler tcp://host:8786 --out cat.fits

One row per spectrum in one table (FITS, or Parquet with pyarrow): parameters and intervals,
flags (in_prior, goodness of fit, ESS), warnings, seconds, and the error of a spectrum that
failed (a failed spectrum never stops the run). Rerunning the same command resumes
(:mod:`.run`); docs/batch.md has the set-up for SLURM / PBS through dask-jobqueue.
"""
from .run import BatchSummary, read_inputs, run_batch
from .work import TASKS, columns, process_chunk

__all__ = ["run_batch", "read_inputs", "BatchSummary", "TASKS", "columns", "process_chunk"]
