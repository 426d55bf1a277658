"""ONNX models at run time: manifest and checksum checks, parity with torch, the RIM on
held-out responses, honest failure outside the training prior, and the training loop."""
import json
import logging
import shutil

import numpy as np
import pytest

from sherpa_rim import runtime
from sherpa_rim.errors import GridError, ModelFileError

MODELS = runtime.models_dir()
MANIFEST = runtime.read_manifest()


def test_shipped_models_verify_and_open(caplog):
    assert {"rim_default", "param_default", "dae_default"} <= set(MANIFEST["models"])
    with caplog.at_level(logging.INFO, logger="sherpa_rim.runtime"):
        s = runtime.open_model("rim_default")
    assert s.provider in runtime.available_providers()
    assert any("CPUExecutionProvider" in r.message or "CUDAExecutionProvider" in r.message
               for r in caplog.records)
    assert s.input_names == ["S", "R", "sigma"]


def _copy_models(tmp_path):
    dst = tmp_path / "models"
    shutil.copytree(MODELS, dst, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return dst


def test_corrupted_model_is_refused(tmp_path):
    d = _copy_models(tmp_path)
    f = d / MANIFEST["models"]["rim_default"]["file"]
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="corrupted or was replaced"):
        runtime.open_model("rim_default", folder=d)


def test_mismatched_manifest_is_refused(tmp_path):
    d = _copy_models(tmp_path)
    man = json.loads((d / "manifest.json").read_text())
    man["models"]["rim_default"]["inputs"] = ["S", "R"]
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelFileError, match="mismatched"):
        runtime.open_model("rim_default", folder=d)


def test_truncated_model_file_is_refused(tmp_path):
    d = _copy_models(tmp_path)
    f = d / MANIFEST["models"]["rim_default"]["file"]
    f.write_bytes(f.read_bytes()[:1000])
    man = json.loads((d / "manifest.json").read_text())
    man["models"]["rim_default"]["sha256"] = runtime.sha256_file(f)   # checksum "fixed" by hand
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelFileError, match="cannot load"):
        runtime.open_model("rim_default", folder=d)


def test_unknown_model_lists_shipped():
    with pytest.raises(ModelFileError, match="rim_default"):
        runtime.open_model("nope")


def test_missing_onnxruntime_names_the_fix(monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "onnxruntime":
            raise ImportError("no")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    from sherpa_rim.errors import MissingDependencyError
    with pytest.raises(MissingDependencyError, match=r"sherpa_rim\[cpu\]"):
        runtime.available_providers()


def test_wrong_grid_is_refused():
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    dec = RIMDeconvolver()
    with pytest.raises(GridError, match="expects"):
        dec.run(np.ones((1, 100)), np.ones((100, 50)), np.ones((1, 100)))


@pytest.mark.parametrize("name", ["rim_default", "param_default", "dae_default", "crossnet_default"])
def test_torch_and_onnxruntime_agree(name):
    """The shipped weights in torch and the shipped ONNX graph agree to 1e-4 relative."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    entry = MANIFEST["models"][name]
    ck = torch.load(MODELS / entry["file"].replace(".onnx", ".pt"), map_location="cpu",
                    weights_only=False)
    if entry["kind"] == "rim":
        from training.export import example_inputs_rim
        from training.rim import RIM, RIMConfig, RIMExport
        cfg = RIMConfig(**ck["model_config"])
        net = RIM(cfg)
        net.load_state_dict(ck["model"])
        mod = RIMExport(net).eval()
        ex = example_inputs_rim(cfg, batch=4, seed=123)
    elif entry["kind"] == "param":
        from training.params import ParamNet
        from training.export import example_inputs_rim
        from training.rim import RIMConfig
        mod = ParamNet(**ck["model_config"])
        mod.load_state_dict(ck["model"])
        ex = example_inputs_rim(RIMConfig(), batch=4, seed=123)
    elif entry["kind"] == "crossnet":
        from training.crossnet import CrossNet
        from training.export import example_inputs_rim
        from training.rim import RIMConfig
        mod = CrossNet(**ck["model_config"])
        mod.load_state_dict(ck["model"])
        ex = (example_inputs_rim(RIMConfig(), batch=4, seed=123)
              + example_inputs_rim(RIMConfig(), batch=4, seed=124))
    else:
        from training.dae import DAE
        mod = DAE(**ck["model_config"])
        mod.load_state_dict(ck["model"])
        g = torch.Generator().manual_seed(123)
        n = ck["model_config"]["n_channels"]
        ex = (torch.rand(4, n, generator=g) * 3, (torch.rand(4, n, generator=g) > 0.2).float())
        if "log_area" in entry["inputs"]:
            ex = ex + (torch.randn(4, n, generator=g),)
    mod.eval()
    with torch.no_grad():
        ref = mod(*ex)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    sess = ort.InferenceSession(str(MODELS / entry["file"]), providers=["CPUExecutionProvider"])
    got = sess.run(None, dict(zip(entry["inputs"], (e.numpy() for e in ex))))
    for r, g2 in zip(ref, got):
        r = r.numpy()
        assert np.max(np.abs(g2 - r)) / np.max(np.abs(r)) < 1e-4


# --------------------------------------------------------------------------
# The RIM on held-out data
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heldout():
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate
    sets = build_response_sets(n_total=1000, seed=0)
    test = sets["test"]
    if len(test) == 0:
        pytest.skip("no held-out test response without ../shared/data/chandra")
    data = simulate(SimConfig(n=48, split="test", seed=3, snr_range=(50, 50)), test)
    return test, data


def test_rim_beats_tikhonov_on_heldout_responses(heldout):
    from sherpa_rim import baselines, metrics
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    test, d = heldout
    R = test.matrices[d["response_index"]]
    dec = RIMDeconvolver()
    F = dec.run(d["S"], R, d["sigma"])
    g = test.grid
    rim_err = metrics.relative_l2(d["F"], F, g.energy_lo, g.energy_hi)
    tk = np.array([baselines.tikhonov(d["S"][i].astype(float), R[i].astype(float),
                                      d["sigma"][i].astype(float)) for i in range(len(F))])
    tk_err = metrics.relative_l2(d["F"], tk, g.energy_lo, g.energy_hi)
    assert np.median(rim_err) < 0.5 * np.median(tk_err)
    chi2 = metrics.refolded_chi2(d["S"], R.astype(float), F, d["sigma"])
    assert 0.5 < np.median(chi2) < 2.0


def test_data_consistency_step_keeps_the_networks_accuracy(heldout):
    """The shipped deconvolver (network + data-consistency step) is no worse than the bare
    network on held-out spectra: Fe-L (0.7-1.3 keV) flux error, mean and median, within 5 %
    of the network's, and the relative L2 error within 5 %. (With the low-count fine-tuned
    network the step no longer improves Fe-L significantly at SNR 50: 200 held-out spectra,
    mean |error| 0.0090 -> 0.0086, median 0.0059 -> 0.0061, Wilcoxon p = 0.18; see
    docs/rim.md.)"""
    from sherpa_rim import metrics
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    test, d = heldout
    R = test.matrices[d["response_index"]]
    dec = RIMDeconvolver()
    raw = dec.run(d["S"], R, d["sigma"], refine=False)
    fixed = dec.run(d["S"], R, d["sigma"])
    g = test.grid
    e_raw = np.abs(metrics.band_flux_error(d["F"], raw, g.energy_lo, g.energy_hi, metrics.FE_L_BAND))
    e_fix = np.abs(metrics.band_flux_error(d["F"], fixed, g.energy_lo, g.energy_hi, metrics.FE_L_BAND))
    assert np.mean(e_fix) < 1.05 * np.mean(e_raw)
    assert np.median(e_fix) < 1.05 * np.median(e_raw)
    l2_raw = np.median(metrics.relative_l2(d["F"], raw, g.energy_lo, g.energy_hi))
    l2_fix = np.median(metrics.relative_l2(d["F"], fixed, g.energy_lo, g.energy_hi))
    assert l2_fix < 1.05 * l2_raw


@pytest.mark.parametrize("statistic", ["chi2", "cash"])
def test_data_consistency_fixed_point_tilt_and_ignored_channels(heldout, statistic):
    """Noise-free data of F itself leave F unchanged; a smooth tilt of F is taken out;
    ignored channels (sigma = IGNORED_SIGMA) have no influence."""
    from sherpa_rim.observation import IGNORED_SIGMA
    from sherpa_rim.rim.consistency import data_consistency
    test, d = heldout
    g = test.grid
    R = test.matrices[d["response_index"][:4]].astype(float)
    F = d["F"][:4].astype(float) * 1e3
    S = np.einsum("bce,be->bc", R, F)
    sig = np.sqrt(np.maximum(S, 1.0))
    same = data_consistency(F, S, R, sig, g.energy_lo, g.energy_hi, statistic=statistic)
    assert np.allclose(same, F, rtol=1e-6)
    e = np.sqrt(g.energy_lo * g.energy_hi)
    tilted = F * (1.0 + 0.15 * np.log(e / 1.5))[None, :]
    back = data_consistency(tilted, S, R, sig, g.energy_lo, g.energy_hi, statistic=statistic)
    band = (e > 0.7) & (e < 1.3)
    before = np.abs(tilted[:, band].sum(1) / F[:, band].sum(1) - 1)
    after = np.abs(back[:, band].sum(1) / F[:, band].sum(1) - 1)
    assert np.all(after < 0.3 * before)
    ign = np.zeros_like(sig, bool)
    ign[:, :40] = True
    S2, sig2 = S.copy(), np.where(ign, IGNORED_SIGMA, sig)
    a = data_consistency(tilted, S2, R, sig2, g.energy_lo, g.energy_hi, statistic=statistic)
    S2[:, :40] = 1e9
    b = data_consistency(tilted, S2, R, sig2, g.energy_lo, g.energy_hi, statistic=statistic)
    assert np.allclose(a, b, rtol=1e-9)


def test_deconvolve_powerlaw_is_flagged_outside_prior():
    """A non-thermal (power-law, Gamma = 1.7) spectrum with many counts: the RIM cannot
    refold it and says so."""
    from sherpa_rim.observation import prepare_observation
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.response.library import sherpa_data_dir
    from sherpa_rim.response import load_response
    rsp = load_response(pha=sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")
    e = rsp.energy_mid()
    flux = 5e-3 * e ** -1.7 * (rsp.energy_hi - rsp.energy_lo)
    rng = np.random.default_rng(1)
    counts = rng.poisson(rsp.fold(flux)).astype(float)
    dec = RIMDeconvolver()
    obs = prepare_observation(rsp, counts, dec.grid)
    res = dec.deconvolve(obs, n_samples=8)
    assert counts.sum() > 2e4
    assert not res.in_prior
    assert "outside the training prior" in res.summary()


def test_training_loop_checkpoints_and_resumes(tmp_path):
    pytest.importorskip("torch")
    from training.train_rim import load_config, train
    cfg = load_config("training/configs/rim_cpu.json", {
        "data.n_train": 200, "data.n_val": 40, "optim.max_steps": 6, "optim.val_every": 3,
        "optim.checkpoint_every": 3, "optim.batch": 8, "model.c1": 8, "model.c2": 8,
        "model.steps": 2, "out": str(tmp_path / "run")})
    _, best = train(cfg)
    import torch
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["step"] == 6 and np.isfinite(best[0])
    cfg["optim"]["max_steps"] = 9
    train(cfg)
    ck2 = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck2["step"] == 9
    assert len(ck2["history"]) > len(ck["history"])


def test_dae_response_channel_twin_and_needs_response(heldout):
    """The runtime's numpy log-area feature equals the training code's torch one (with and
    without the Galactic column), and a DAE that takes the response and the column refuses
    to run without them (the errors name the fix)."""
    torch = pytest.importorskip("torch")
    from sherpa_rim.amortised.dae import GapFiller, dae_log_area_np
    from sherpa_rim.errors import DataError
    from training.dae import dae_log_area, galactic_transmission
    test, d = heldout
    g = test.grid
    R = test.matrices[d["response_index"][:3]].astype(np.float32)
    mask = np.ones((3, g.n_channels), np.float32)
    mask[:, :30] = 0
    de = torch.as_tensor(g.energy_hi - g.energy_lo, dtype=torch.float32)
    a = dae_log_area_np(R, mask, g)
    b = dae_log_area(torch.as_tensor(R), torch.as_tensor(mask), de).numpy()
    assert np.allclose(a, b, atol=1e-4)
    nH = np.array([0.0, 0.05, 0.2], np.float32)
    R = np.repeat(R[:1], 3, 0)                      # one response, three columns
    a = dae_log_area_np(R, mask, g, nH)
    b = dae_log_area(torch.as_tensor(R), torch.as_tensor(mask), de,
                     galactic_transmission(torch.as_tensor(nH))).numpy()
    assert np.allclose(a, b, atol=1e-4)
    assert a[2, 10] < a[0, 10] - 0.5                # 2e21 cm^-2 removes counts at 0.6 keV
    gf = GapFiller()
    assert gf.needs_response and gf.needs_nH
    with pytest.raises(DataError, match="R=obs.R"):
        gf.fill(d["S"][:1], mask[:1])
    with pytest.raises(DataError, match="nH="):
        gf.fill(d["S"][:1], mask[:1], R=R[0])
    with pytest.raises(DataError, match="nH"):
        gf.fill(d["S"][:1], mask[:1], R=R[0], nH=-0.1)


@pytest.fixture(scope="module")
def absorbed_heldout():
    """Poisson spectra (2e3-1e5 counts) through test ObsIDs, Galactic nH 0-2e21."""
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate
    test = build_response_sets(n_total=1000, seed=0)["test"]
    if len(test) == 0:
        pytest.skip("no held-out test response without ../shared/data/chandra")
    data = simulate(SimConfig(n=64, split="test", seed=8, noise="poisson", counts_range=(2e3, 1e5),
                              nH_range=(0.0, 0.2)), test)
    return test, data


def test_dae_fill_of_a_soft_gap_on_heldout_responses(absorbed_heldout):
    """On held-out ObsIDs, absorbed spectra: the summed counts of a 0.3-0.7 keV gap come back
    within 15 % (median; measured 7 %: the first DAE, blind to the response, missed by ~45 %,
    the one blind to the column by ~15-20 %), and the column helps: told nH = 0 it misses by
    42 %."""
    from sherpa_rim.amortised.dae import GapFiller

    test, d = absorbed_heldout
    g = test.grid
    c = 0.5 * (g.channel_lo + g.channel_hi)
    gap = (c >= 0.3) & (c < 0.7)
    R = test.matrices[d["response_index"]].astype(float)
    gf = GapFiller()
    mask = np.broadcast_to(~gap, d["S"].shape).astype(float)
    true = np.einsum("bce,be->bc", R, d["F"].astype(float))[:, gap].sum(1)

    def err(nH):
        fill = gf.fill(np.where(gap, 0.0, d["S"]), mask, R=R, nH=nH)
        return np.abs(fill[:, gap].sum(1) / true - 1)

    right, blind = err(d["nH"]), err(0.0)
    assert np.median(right) < 0.15, np.median(right)
    assert np.median(right) < 0.7 * np.median(blind)
