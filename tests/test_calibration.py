"""Calibrated uncertainty, on responses in no training set (fast, seeded): the exact
posterior covers at its stated rate, bands and intervals are as wide as their calibration
says, and the goodness-of-fit p-value is uniform on spectra the RIM knows.
``./dev.sh bench calibration`` measures the same on thousands of spectra (docs/rim.md,
docs/amortised.md)."""
import numpy as np
import pytest
from scipy import stats as sps

from sherpa_rim.rim.band import BANDS, S_FLOOR, calibration, log_spread


@pytest.fixture(scope="module")
def test_pairs(shared_dir):
    """(ARF, RMF) Sherpa objects of the real pairs of the held-out test ObsIDs."""
    from sherpa.astro.io import read_arf, read_rmf

    from sherpa_rim.response.library import ResponseLibrary
    from sherpa_rim.sim.responses import recorded_split
    test = set(recorded_split()["test"])
    out = [(read_arf(str(p.arf)), read_rmf(str(p.rmf))) for p in ResponseLibrary.default()
           if p.group in test and p.arf is not None]
    assert len(out) >= 2
    return out


@pytest.fixture(scope="module")
def test_responses(shared_dir):
    from sherpa_rim.sim import build_response_sets
    rs = build_response_sets(n_total=1000, seed=0)["test"]
    assert len(rs) > 0
    return rs


def _fake(arf, rmf, truth, counts, rng):
    from sherpa.astro.data import DataPHA
    from sherpa.astro.instrument import Response1D

    from sherpa_rim.amortised.posterior import check_model
    n = rmf.detchans
    d = DataPHA("t", np.arange(1, n + 1, dtype=float), np.zeros(n), exposure=5e4)
    d.set_arf(arf)
    d.set_rmf(rmf)
    d.set_analysis("energy")
    d.notice(0.5, 7.0)
    mu = d.eval_model(Response1D(d)(check_model(truth["kT"], truth["abundance"],
                                                truth["redshift"], 1.0, truth["nH"])))
    truth["norm"] = counts / mu[d.get_mask()].sum()
    d.counts = rng.poisson(mu * truth["norm"]).astype(float)
    return d


@pytest.mark.requires_data
def test_exact_posterior_covers_on_held_out_responses(test_pairs):
    """30 spectra through the test ObsIDs' responses (never trained on), kT 0.5-8 keV,
    3e3-3e4 counts, a Galactic column given: the exact posterior's 68 % and 90 % intervals,
    pooled over kT, abundance, redshift and norm, cover the truth within the binomial 99 %
    range of their nominal rate."""
    from sherpa_rim.amortised.params import ParameterEstimator
    from sherpa_rim.amortised.posterior import exact_posterior
    from sherpa_rim.observation import observation_from_data
    from sherpa_rim.poisson import SpectralData

    rng = np.random.default_rng(20261126)
    est = ParameterEstimator()
    hits68, hits90 = [], []
    n = 30
    for k in range(n):
        arf, rmf = test_pairs[rng.integers(len(test_pairs))]
        truth = {"kT": float(np.exp(rng.uniform(np.log(0.5), np.log(8.0)))),
                 "abundance": float(rng.uniform(0.2, 1.2)), "redshift": float(rng.uniform(0, 0.25)),
                 "nH": float(rng.uniform(0.0, 0.2))}
        d = _fake(arf, rmf, truth, float(np.exp(rng.uniform(np.log(3e3), np.log(3e4)))), rng)
        net = est.estimate(observation_from_data(d, est.grid), truth["nH"], allow_instrument=True)
        post = exact_posterior(SpectralData.from_data(d, "cstat"), net["proposal"], nH=truth["nH"],
                               seed=k)
        for p in ("kT", "abundance", "redshift", "norm"):
            s = post.summary[p]
            hits68.append(s["lo68"] <= truth[p] <= s["hi68"])
            hits90.append(s["lo90"] <= truth[p] <= s["hi90"])
    m = len(hits68)
    for hits, nominal in ((hits68, 0.683), (hits90, 0.90)):
        lo, hi = sps.binom.ppf([0.005, 0.995], m, nominal)
        assert lo <= sum(hits) <= hi, (sum(hits), m, nominal)


@pytest.mark.requires_data
def test_rim_band_is_as_wide_as_its_calibration(test_responses):
    """The band deconvolve() writes is the reconstruction times exp(+-q s): q the calibrated
    quantile of the spectrum's count class (per bin and per band), s the resampling spread;
    never the bare resampling spread."""
    from sherpa_rim.observation import Observation
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.sim import SimConfig, simulate

    dec = RIMDeconvolver()
    cal = calibration(dec.session.entry)
    rs = test_responses
    data = simulate(SimConfig(n=2, split="test", seed=3, noise="poisson", counts_range=(2e3, 5e3)), rs)
    S = data["S"][0].astype(float)
    obs = Observation(S=S, sigma=np.sqrt(np.maximum(S, 1)), R=rs.matrices[data["response_index"][0]].astype(float),
                      noticed=np.ones(S.size, bool), grid=rs.grid, exposure=1.0, counts_total=S.sum(),
                      counts_noticed=S.sum(), meta={"telescop": "CHANDRA", "instrume": "ACIS"})
    res = dec.deconvolve(obs, n_samples=16, checks=False)
    assert res.band_class == "1e3-1e4"
    c = cal["classes"]["1e3-1e4"]
    s = np.maximum(log_spread(res.samples), S_FLOOR)
    np.testing.assert_allclose(np.log(res.flux_hi / res.flux), np.asarray(c["q68_bin"]) * s, rtol=1e-6)
    np.testing.assert_allclose(np.log(res.flux / res.flux_lo90), np.asarray(c["q90_bin"]) * s, rtol=1e-6)
    assert np.all(np.asarray(c["q90_bin"]) > np.asarray(c["q68_bin"]))
    # the calibration widens the bare spread: most of the RIM's error is not noise
    assert np.median(c["q68_bin"]) > 1.0
    B = np.stack([(0.5 * (res.energy_lo + res.energy_hi) >= a) & (0.5 * (res.energy_lo + res.energy_hi) < b)
                  for a, b in BANDS.values()]).astype(float)
    sb = np.maximum(log_spread(res.samples @ B.T), S_FLOOR)
    for k, name in enumerate(BANDS):
        band = res.bands[name]
        assert np.log(band["hi68"] / band["flux"]) == pytest.approx(c["q68_band"][name] * sb[k], rel=1e-6)
        assert band["lo90"] <= band["lo68"] <= band["flux"] <= band["hi68"] <= band["hi90"]


def test_network_intervals_carry_their_calibration():
    """The network's intervals are its predicted widths times the calibration factors in its
    manifest (measured on the validation responses), not the raw widths."""
    from sherpa_rim.amortised.params import Z68, ParameterEstimator
    from sherpa_rim.observation import Observation
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate

    est = ParameterEstimator()
    rs = build_response_sets(n_total=60, seed=0)["train"]
    data = simulate(SimConfig(n=1, split="train", seed=4, noise="poisson", counts_range=(1e4, 1e4)), rs)
    S = data["S"][0].astype(float)
    obs = Observation(S=S, sigma=np.sqrt(np.maximum(S, 1)), R=rs.matrices[data["response_index"][0]].astype(float),
                      noticed=np.ones(S.size, bool), grid=rs.grid, exposure=1.0, counts_total=S.sum(),
                      counts_noticed=S.sum(), meta={"telescop": "CHANDRA", "instrume": "ACIS"})
    raw = est.session.run({"S": S[None].astype(np.float32), "R": obs.R[None].astype(np.float32),
                           "sigma": obs.sigma[None].astype(np.float32)})
    sd_raw = np.exp(raw["param_logsd"][0].astype(float))
    got = est.estimate(obs, 0.0)
    half = 0.5 * (np.log(got["kT"]["hi68"]) - np.log(got["kT"]["lo68"]))
    assert half == pytest.approx(Z68 * sd_raw[0] * est.calibration[0], rel=1e-5)
    half_z = 0.5 * (got["abundance"]["hi68"] - got["abundance"]["lo68"])
    assert half_z == pytest.approx(Z68 * sd_raw[1] * est.calibration[1], rel=1e-5)
    assert np.all(est.calibration > 0)


@pytest.mark.requires_data
def test_goodness_of_fit_p_values_are_uniform_on_in_prior_spectra(test_responses):
    """The refolded reconstruction's p-value (calibrated Kaastra C-statistic) is uniform on
    spectra of the RIM's prior through the test ObsIDs, at 1e2-1e3 and at 1e3-1e4 counts."""
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from training.calibrate_band import run_class

    dec = RIMDeconvolver()
    cal = calibration(dec.session.entry)
    for cls in ("1e2-1e3", "1e3-1e4"):
        res, _ = run_class(dec, cls, 60, 7, "test", test_responses, n_samples=2, cal=cal)
        p = np.asarray(res["p"])
        assert sps.kstest(p, "uniform").pvalue > 0.01, (cls, np.sort(p)[:5], p.mean())
