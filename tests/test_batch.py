"""The batch runner: a 2-process LocalCluster, error rows, resuming, killed workers."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.table import Table

from badfiles import truncated
from fakes import thermal_set
from sherpa_rim.batch import run_batch
from sherpa_rim.errors import OutputError

VALUES = ["NET_KT_MEDIAN", "NET_ABUND_LO68", "NET_NORM_HI90", "RIM_GOF_P", "RIM_FeL_FLUX"]


@pytest.fixture(scope="module")
def spectra(tmp_path_factory):
    """24 thermal spectra, a truncated file and a spectrum whose RMF does not exist."""
    folder = tmp_path_factory.mktemp("batch")
    paths = thermal_set(folder, 24, seed=3)
    truncated(paths[0], folder / "s0900_truncated.pi")
    from badfiles import spectrum
    spectrum(folder / "s0901_noresponse.pi", counts=np.ones(1024, int), ancrfile="none",
             respfile=str(folder / "missing.rmf"))
    return folder


@pytest.fixture(scope="module")
def reference(spectra, tmp_path_factory):
    """An uninterrupted run in this process (no Dask)."""
    out = tmp_path_factory.mktemp("ref") / "ref.fits"
    s = run_batch([str(spectra / "s*.pi")], tasks=("estimate", "deconvolve"), out=out,
                  workers=0, progress=False, chunk=4)
    assert s.done == 26 and s.failed == 2
    return Table.read(out)


def _v(col):
    """A column's values with the NaN that astropy reads back as masked."""
    return np.asarray(np.ma.filled(col, np.nan), float)


def _same(a, b):
    assert list(a["KEY"]) == list(b["KEY"]) and len(set(a["KEY"])) == len(a)
    for c in VALUES:
        np.testing.assert_allclose(np.nan_to_num(_v(a[c])), np.nan_to_num(_v(b[c])), rtol=1e-9,
                                   err_msg=c)


def test_reference_rows_and_error_rows(reference):
    t = reference
    assert len(t) == 26 and list(t["INDEX"]) == list(range(26))
    bad = t[t["STATUS"] == "error"]
    assert len(bad) == 2
    msgs = " ".join(bad["ERROR"])
    assert "not truncated" in msgs and "missing.rmf" in msgs
    ok = t[t["STATUS"] == "ok"]
    assert np.all(np.isfinite(_v(ok["NET_KT_MEDIAN"]))) and np.all(ok["RIM_IN_PRIOR"] >= 0)
    assert np.all(_v(ok["NET_KT_LO68"]) <= _v(ok["NET_KT_MEDIAN"]))
    assert np.all(np.isnan(_v(bad["NET_KT_MEDIAN"])))


def test_local_cluster_of_two_equals_the_plain_run(spectra, reference, tmp_path):
    out = tmp_path / "two.fits"
    s = run_batch([str(spectra / "s*.pi")], tasks=("estimate", "deconvolve"), out=out,
                  workers=2, progress=False, chunk=4)
    assert s.workers == 2 and s.done == 26 and s.failed == 2
    t = Table.read(out)
    assert len(set(t["WORKER"])) == 2          # both workers did some
    _same(t, reference)


def test_resume_after_a_stop_computes_each_spectrum_once(spectra, reference, tmp_path):
    out = tmp_path / "r.fits"
    s = run_batch([str(spectra / "s*.pi")], tasks=("estimate", "deconvolve"), out=out,
                  workers=0, progress=False, chunk=4, stop_after=8)
    assert s.interrupted and s.done == 8 and len(Table.read(out)) == 8
    s = run_batch([str(spectra / "s*.pi")], tasks=("estimate", "deconvolve"), out=out,
                  workers=0, progress=False, chunk=4)
    assert s.skipped == 8 and s.done == 18 and not s.interrupted
    _same(Table.read(out), reference)
    lines = (tmp_path / "r.fits.journal").read_text().splitlines()
    assert len(lines) == 1 + 26                   # the config line and one line per spectrum


def test_refuses_to_overwrite_and_to_mix_settings(spectra, tmp_path):
    out = tmp_path / "user.fits"
    out.write_text("not ours")
    with pytest.raises(OutputError, match="--clobber"):
        run_batch([str(spectra / "s000*.pi")], out=out, workers=0, progress=False)
    assert out.read_text() == "not ours"
    out2 = tmp_path / "b.fits"
    run_batch([str(spectra / "s000*.pi")], out=out2, workers=0, progress=False)
    with pytest.raises(OutputError, match="other settings"):
        run_batch([str(spectra / "s000*.pi")], tasks=("deconvolve",), out=out2, workers=0,
                  progress=False)


def test_killed_worker_and_interrupted_cli(spectra, reference, tmp_path):
    """The CLI on a 2-process LocalCluster: one worker SIGKILLed mid-run (Dask replaces it
    and reruns its tasks), then the whole run SIGINTed and rerun: the table holds every
    spectrum once, with the uninterrupted run's numbers (same chunks: a batch of another size
    changes the float32 network's last digits, 1e-8 relative)."""
    out = tmp_path / "k.fits"
    journal = tmp_path / "k.fits.journal"
    cmd = [sys.executable, "-m", "sherpa_rim.cli", "batch", str(spectra / "s*.pi"), "--tasks",
           "estimate", "deconvolve", "--out", str(out), "--workers", "2", "--chunk", "4",
           "--no-progress"]          # the reference's chunk: the network sees the same batches
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = interrupted = False
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 300:
        time.sleep(0.2)
        rows = journal.read_text().splitlines()[1:] if journal.exists() else []
        if not killed and len(rows) >= 4:
            pid = json.loads(rows[-1])["WORKER"]
            os.kill(pid, signal.SIGKILL)
            killed = True
        elif killed and not interrupted and len(rows) >= 12:
            p.send_signal(signal.SIGINT)
            interrupted = True
    out_text, err = p.communicate(timeout=120)
    assert killed
    if interrupted:
        assert p.returncode == 130, err[-2000:]
        assert "Traceback" not in err
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    _same(Table.read(out), reference)


def test_a_spectrums_numbers_do_not_depend_on_its_place_in_the_list(spectra):
    """The seed comes from the spectrum's key (its files), not its index: a glob that gains a
    file earlier in the list leaves every recomputed spectrum's numbers as they were."""
    from sherpa_rim.batch import read_inputs
    from sherpa_rim.batch.work import process_chunk
    row = read_inputs([str(spectra / "s0000*.pi")])[0]
    moved = dict(row, index=row["index"] + 7)
    a = process_chunk([row], ("deconvolve",), {"method": "network"})[0]
    b = process_chunk([moved], ("deconvolve",), {"method": "network"})[0]
    assert a["STATUS"] == b["STATUS"] == "ok" and b["INDEX"] == a["INDEX"] + 7
    for c in ("RIM_FeL_LO68", "RIM_FeL_HI68", "RIM_FeK_LO68", "RIM_GOF_P"):
        assert a[c] == b[c], c


def _worker_state():
    import os

    from sherpa_rim import runtime
    from sherpa_rim.batch import work
    work._worker_threads({})
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), runtime._THREADS, list(work._MALLOC_SET)


def test_local_cluster_workers_run_single_threaded_without_dasks_malloc_setting(monkeypatch):
    """Each worker process runs the models on its one thread and without Dask's default
    MALLOC_TRIM_THRESHOLD_ (which halves the work's speed: docs/batch.md); the setting is
    only dropped for the cluster the batch starts, not from Dask's configuration; a worker
    started with it gets fixed malloc thresholds instead."""
    import dask
    from dask.distributed import Client, LocalCluster

    from sherpa_rim.batch.run import _worker_environ
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")   # as an earlier cluster's nanny leaves it
    before = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    with _worker_environ():
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == before
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"      # put back
    try:
        with Client(cluster) as client:
            malloc, threads, patched = client.submit(_worker_state, pure=False).result()
    finally:
        cluster.close()
    assert malloc is None and threads == 1 and patched == []
    # a worker started with Dask's default (an existing cluster): its thresholds are fixed
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        with Client(cluster) as client:
            malloc, threads, patched = client.submit(_worker_state, pure=False).result()
    finally:
        cluster.close()
    assert malloc is not None and threads == 1 and patched == [True]
