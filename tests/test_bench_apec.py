"""The APEC emulator reader of benchmarks/apec.py, on small files with nnapec 0.1.1's layout."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_apec", ROOT / "benchmarks" / "apec.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path, layers, n_e=4, activation="gelu", names=("abund", "kT")):
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as f:
        f.attrs["activation_function"] = activation
        f.attrs["architecture"] = np.array([w.shape[0] for w, _ in layers[:-1]])
        f.attrs["use_scoring_rule"] = True
        t = f.create_group("transformer")
        for i, n in enumerate(names):
            t.attrs[f"par_{i}"] = n
        t.attrs["use_log10"] = True
        t.attrs["use_vFv"] = False
        t["energies"] = np.geomspace(1.0, 8.0, n_e)
        t["param_shift"] = np.array([1.0, 4.0])
        t["param_scale"] = np.array([0.5, 2.0])
        t["param_min"] = np.array([0.0, 0.1])
        t["param_max"] = np.array([5.0, 64.0])
        t["value_shift"] = rng.normal(size=n_e)
        t["value_scale"] = rng.uniform(0.1, 0.3, n_e)
        sd = f.create_group("state_dict")
        for i, (w, b) in enumerate(layers):
            sd[f"layers.layers.{2 * i}.weight"] = w.astype(np.float32)
            sd[f"layers.layers.{2 * i}.bias"] = b.astype(np.float32)
        return t["value_shift"][()], t["value_scale"][()]


def test_forward_pass_matches_the_layout(tmp_path):
    bench = _bench()
    rng = np.random.default_rng(0)
    n_e = 4
    w1, b1 = rng.normal(size=(3, 2)), rng.normal(size=3)
    w2, b2 = rng.normal(size=(2 * n_e, 3)), rng.normal(size=2 * n_e)
    shift, scale = _write(tmp_path / "e.h5", [(w1, b1), (w2, b2)], n_e)
    emu = bench.APECEmulator(tmp_path / "e.h5")
    flux, sigma = emu(0.7, 3.0)
    x = (np.array([0.7, 3.0]) - [1.0, 4.0]) / [0.5, 2.0]
    h = w1.astype(np.float32).astype(float) @ x + b1.astype(np.float32)
    h = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in h])       # exact GELU
    out = w2.astype(np.float32).astype(float) @ h + b2.astype(np.float32)
    np.testing.assert_allclose(flux, 10 ** (out[:n_e] * scale + shift), rtol=1e-10)
    np.testing.assert_allclose(sigma, np.exp(0.5 * out[n_e:]) * scale, rtol=1e-10)
    # log-centred bins: each energy sits at its bin's geometric centre
    np.testing.assert_allclose(np.sqrt(emu.edges[:-1] * emu.edges[1:]), emu.energies, rtol=1e-12)
    with pytest.raises(ValueError, match="outside the emulator's range"):
        emu(6.0, 3.0)


def test_other_layouts_are_refused(tmp_path):
    bench = _bench()
    rng = np.random.default_rng(1)
    layers = [(rng.normal(size=(3, 2)), rng.normal(size=3)), (rng.normal(size=(8, 3)), rng.normal(size=8))]
    _write(tmp_path / "relu.h5", layers, activation="relu")
    with pytest.raises(bench.Refusal, match="layout"):
        bench.APECEmulator(tmp_path / "relu.h5")
    _write(tmp_path / "names.h5", layers, names=("kT", "abund"))
    with pytest.raises(bench.Refusal, match="layout"):
        bench.APECEmulator(tmp_path / "names.h5")
    with pytest.raises(bench.Refusal, match="no such file"):
        bench.emulator_weights(str(tmp_path / "absent.h5"))
