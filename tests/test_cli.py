"""The sherpa-rim command line."""
import json
import pathlib
import subprocess
import sys

import pytest

from sherpa_rim.cli import main

SCRIPT = str(pathlib.Path(sys.executable).parent / "sherpa-rim")


def test_info_lists_versions_providers_models(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "sherpa_rim 0.1.0" in out
    assert "sherpa " in out and "numpy" in out
    assert "CPUExecutionProvider" in out
    assert "shipped models" in out


def test_info_json_is_machine_readable(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["sherpa"]
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert isinstance(info["models"], dict)


def test_installed_console_script_runs():
    """The sherpa-rim script pip installed (not python -m) runs and finds the shipped models."""
    assert pathlib.Path(SCRIPT).is_file()
    r = subprocess.run([SCRIPT, "info"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ONNX Runtime providers" in r.stdout and "rim_default" in r.stdout


def test_responses_command(capsys):
    assert main(["responses"]) == 0
    out = capsys.readouterr().out
    assert "ARF/RMF pairs" in out and "sherpa:acisf07867" in out


def test_simulate_command_writes_a_set_and_prints_the_rate(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "simulate", "--n", "300", "--out",
                        str(tmp_path), "--split", "train", "--seed", "3"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "spectra/s" in r.stdout
    from sherpa_rim.sim import read_set
    data, rs, meta = read_set(tmp_path, "train")
    assert data["S"].shape == (300, rs.grid.n_channels) and meta["config"]["seed"] == 3


def test_estimate_command_json(tmp_path):
    from sherpa_rim.response.library import sherpa_data_dir
    pha = str(sherpa_data_dir() / "acisf04938_000N002_r0043_pha3.fits")
    r = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "estimate", pha, "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    obj = json.loads(r.stdout.strip().splitlines()[-1])
    # the command prints what the Python API computes for the same file
    from sherpa_rim.amortised.params import estimate_files
    api = estimate_files(pha)
    for k in ("kT", "abundance", "redshift", "norm"):
        for q in ("median", "lo68", "hi68", "lo90", "hi90"):
            assert obj[k][q] == pytest.approx(api[k][q], rel=1e-6), (k, q)


def test_spi_command_runs_and_reports(tmp_path):
    from sherpa_rim.response.library import sherpa_data_dir
    pha = str(sherpa_data_dir() / "acisf04938_000N002_r0043_pha3.fits")
    out = tmp_path / "run.h5"
    r = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "spi", pha, "--particles", "5",
                        "--steps", "30", "--walkers", "8", "--ensembles", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:]
    assert "emission-weighted kT" in r.stdout and "R-hat" in r.stdout and out.exists()




def test_installed_script_estimate_json_is_the_only_thing_on_stdout():
    """`sherpa-rim estimate a.pi --json | python -m json.tool` works: Sherpa's import-time
    warnings (ds9, XSPEC) and its reading messages go to stderr, not before the JSON."""
    from sherpa_rim.response.library import sherpa_data_dir
    pha = str(sherpa_data_dir() / "acisf04938_000N002_r0043_pha3.fits")
    r = subprocess.run([SCRIPT, "estimate", pha, "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    obj = json.loads(r.stdout)                      # the whole of stdout is one JSON document
    assert obj["file"] == pha and set(obj) >= {"kT", "abundance", "redshift", "norm"}
    piped = subprocess.run([sys.executable, "-m", "json.tool"], input=r.stdout,
                           capture_output=True, text=True)
    assert piped.returncode == 0


def test_a_normal_run_prints_no_warning_that_is_not_about_the_data(tmp_path):
    """The installed script on a clean bright ACIS spectrum: info, estimate, deconvolve, a
    short SPI run and a small simulation print no warning at all (Sherpa's notices about its
    optional parts, ds9 and XSPEC, are at INFO level; emcee's chatter is ours to report)."""
    import numpy as np

    import badfiles as bf
    from sherpa_rim.emission import spectrum
    from sherpa_rim.response import load_response
    good = bf.good_set(tmp_path)
    rsp = load_response(pha=good)
    lam = rsp.fold(spectrum(2.0, 0.4, 0.02, 1.0, rsp.energy_lo, rsp.energy_hi))
    bright = bf.spectrum(tmp_path / "bright.pi", counts=np.random.default_rng(3).poisson(
        lam / lam.sum() * 2e4))
    runs = [["info"], ["estimate", str(bright)],
            ["deconvolve", str(bright), "--out", str(tmp_path / "r.fits"), "--samples", "4"],
            ["spi", str(bright), "--particles", "4", "--steps", "20", "--walkers", "8",
             "--ensembles", "2", "--out", str(tmp_path / "run.h5")],
            ["simulate", "--n", "20", "--out", str(tmp_path / "sims"), "--split", "train"]]
    for argv in runs:
        r = subprocess.run([SCRIPT, *argv], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, (argv, r.stderr[-1500:])
        for stream in (r.stdout, r.stderr):
            noisy = [ln for ln in stream.splitlines() if "warn" in ln.lower() or "Traceback" in ln
                     or "N/50" in ln or "tau:" in ln]
            assert not noisy, (argv, noisy)
