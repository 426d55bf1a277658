"""The learned routes' null simulated through the observations' own responses
(sherpa_rim.crosscal.bootstrap)."""
import numpy as np
import pytest

import sherpa_rim  # noqa: F401  (registers the models)
from sherpa_rim.crosscal.bootstrap import calibrate, draws, null_source, source_counts
from sherpa_rim.observation import observation_from_data, resampled
from test_crosscal import _arf_rmf, _fake, _pha


def _with_background(d, seed=1, level=3.0):
    from sherpa.astro.data import DataPHA
    b = DataPHA("b", d.channel, np.random.default_rng(seed).poisson(level, d.channel.size)
                .astype(float), exposure=d.exposure)
    b.backscal = 4.0
    d.backscal = 1.0
    d.set_background(b)
    return d


def test_resampled_counts_are_the_observation_regridded():
    """The data themselves, put through ``resampled``, give the observation's own S and
    sigma: the simulated draws are put on the grid as the data were (channel split,
    background subtracted, notice filter, noise floor)."""
    arf, rmf = _arf_rmf()
    d = _with_background(_fake(arf, rmf, counts=2e4, seed=2))
    obs = observation_from_data(d)
    assert obs.background is not None
    S, sigma, noticed = resampled(obs, np.stack([d.counts, d.counts]))
    assert S.shape == (2, obs.S.size)
    np.testing.assert_allclose(S[1], obs.S, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sigma[0], obs.sigma, rtol=0, atol=1e-9)
    assert noticed[0] == pytest.approx(obs.counts_noticed, rel=0.01)


def test_source_counts_are_sherpas_fold():
    """The null's expected counts through the observation's own response are Sherpa's fold
    of mmabs * cie through its ARF and RMF (with the exposure), plus the scaled background."""
    from sherpa.astro.instrument import Response1D

    from sherpa_rim.amortised.posterior import check_model
    arf, rmf = _arf_rmf()
    d = _pha(arf, rmf, counts=np.ones(rmf.detchans))
    obs = observation_from_data(d)
    src = {"kT": 2.5, "abundance": 0.6, "redshift": 0.03, "norm": 2e-3}
    ours = source_counts(obs, src, 0.04)
    theirs = d.eval_model(Response1D(d)(check_model(2.5, 0.6, 0.03, 2e-3, 0.04)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9 * theirs.max())
    _with_background(d)
    obs = observation_from_data(d)
    b = d.get_background()
    np.testing.assert_allclose(source_counts(obs, src, 0.04) - ours,
                               b.counts / 4.0,
                               rtol=1e-9, atol=1e-12)


def test_draws_scatter_around_the_source():
    """Poisson draws through the response: their mean on the grid is the regridded expected
    counts, their variance the counts."""
    arf, rmf = _arf_rmf()
    obs = observation_from_data(_fake(arf, rmf, counts=1e4, seed=3))
    src = {"kT": 3.0, "abundance": 0.4, "redshift": 0.05, "norm": 1e-3}
    (S, sigma), = draws([obs], src, 0.02, 400, np.random.default_rng(0))
    mu, _, _ = resampled(obs, source_counts(obs, src, 0.02)[None])
    bright = obs.noticed & (mu[0] > 50)
    z = (S[:, bright].mean(0) - mu[0, bright]) / np.sqrt(mu[0, bright] / 400)
    assert np.abs(z).max() < 5 and abs(z.mean()) < 0.5
    assert np.median(S[:, bright].var(0, ddof=1) / mu[0, bright]) == pytest.approx(1.0, abs=0.1)


def test_null_source_is_the_inverse_variance_mean():
    a = {"mean": [np.log(2.0), 0.5, 0.05, np.log(1e-3)], "sd": [0.1, 0.2, 0.01, 0.1]}
    b = {"mean": [np.log(2.0) + 0.2, 0.3, 0.08, np.log(1e-3) + 0.1], "sd": [0.2, 0.1, 0.01, 0.1]}
    s = null_source([a, b])
    assert np.log(s["kT"]) == pytest.approx(np.log(2.0) + 0.2 * 0.2, rel=1e-12)
    assert s["abundance"] == pytest.approx(0.5 * 0.2 + 0.3 * 0.8)
    assert s["redshift"] == pytest.approx(0.065)
    assert s["norm"] == pytest.approx(1e-3 * np.exp(0.05))


def test_calibrate_p_is_uniform_under_its_null_and_small_off_it():
    """Outputs drawn as their simulations are: p <= 0.05 in 5 % of trials (within binomial
    errors), for correlated and for skewed outputs; the bias is the draws' mean, the errors
    their standard deviations; an output 5 sigma off along one axis gets p <= 0.01."""
    rng = np.random.default_rng(11)
    A = np.array([[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.0, 0.3, 1.0, 0.0],
                  [0.2, 0.0, 0.5, 0.4]])
    for kind in ("gauss", "skew"):
        ps = []
        for _ in range(300):
            X = rng.standard_normal((81, 4))
            if kind == "skew":
                X = rng.chisquare(4, (81, 4)) - 4.0
            X = X @ A.T + [0.3, -1.0, 2.0, 0.0]
            ps.append(calibrate(X[0], X[1:])["p"])
        ps = np.array(ps)
        assert 0.02 <= np.mean(ps <= 0.05) <= 0.09, kind
        assert 0.40 <= np.mean(ps <= 0.5) <= 0.60, kind
    V = rng.standard_normal((200, 4)) @ A.T
    c = calibrate(V.mean(0) + 5 * V.std(0, ddof=1) * np.array([0, 0, 1, 0]), V)
    np.testing.assert_allclose(c["bias"], V.mean(0))
    np.testing.assert_allclose(c["sd"], V.std(0, ddof=1))
    assert c["p"] <= 0.01 and c["n"] == 200
    with pytest.raises(ValueError, match="draws for 9 outputs"):
        calibrate(np.zeros(9), np.zeros((10, 9)))


class _BiasedNetwork:
    """A stand-in parameter network whose redshift and flux outputs carry a bias that
    depends on the response it reads (as the shipped networks' do), plus the data's noise."""
    def forward(self, S, R, sigma):
        S = np.atleast_2d(np.asarray(S, float))
        R = np.asarray(R, float)
        tot = np.clip(S, 0, None).sum(1)
        bias = 0.05 * np.log(R.sum())                       # set by the response
        lo = np.clip(S[:, :100], 0, None).sum(1) / tot      # a soft fraction: noise only
        m = np.column_stack([np.full(tot.size, np.log(3.0)) + 0.5 * (lo - 0.5),
                             np.full(tot.size, 0.4), bias + 0.2 * (lo - 0.5),
                             np.zeros(tot.size)])
        scale = (tot / (R.reshape(-1, R.shape[-1]).sum()))[:, None]
        return m, np.ones_like(m), scale


def test_network_route_removes_a_response_bias():
    """Two observations of one source through two responses (the second's area 20 % lower):
    a network whose redshift is biased by the response's area reads a gain from it, and the
    validation-ObsID null cannot know that. The simulated null measures the bias through these
    two responses (more than ten times the slope's error): the slope comes back to 1 within
    its error and p is not small."""
    from sherpa.astro.data import DataARF

    from sherpa_rim.crosscal.routes import network_route
    arf, rmf = _arf_rmf()
    arf2 = DataARF("low", arf.energ_lo, arf.energ_hi, 0.8 * arf.specresp, exposure=arf.exposure)
    d1 = _fake(arf, rmf, counts=3e4, seed=4)
    d2 = _fake(arf2, rmf, counts=2.4e4, seed=5)
    obs = [observation_from_data(d) for d in (d1, d2)]
    net = _BiasedNetwork()
    est = [{"proposal": {"mean": [np.log(3.0), 0.4, 0.05, np.log(1e-3 * k)],
                         "sd": [0.05, 0.1, 0.005, 0.05]}} for k in (1.0, 1.0)]
    rep = network_route(est, 0, observations=obs, estimator=net, nH=0.02, n_boot=100, seed=1)
    o = rep["observations"][1]
    raw_slope = 1.0 + o["bias"]["slope"]
    assert abs(raw_slope - 1.0) > 10 * o["sigma_slope"]        # the response bias is large
    assert abs(o["slope"] - 1.0) < 3 * o["sigma_slope"]       # and the null removes it
    assert o["p"] > 0.01 and "100 pairs simulated" in o["p_from"]
    assert o["area_ratio"] == pytest.approx(1.0, abs=3 * o["sigma_ln_area"])
    assert "simulated through the two observations' own responses" in rep["method"]
    # the same seed gives the same draws
    again = network_route(est, 0, observations=obs, estimator=net, nH=0.02, n_boot=100, seed=1)
    assert again["observations"][1]["p"] == o["p"]


def test_compare_simulates_the_learned_routes_null_and_refuses_too_few():
    """compare() runs the network and crossnet routes with the simulated null by default
    (n_boot=200), with the validation-ObsID nulls at n_boot=0, and refuses 1-19 draws."""
    from sherpa_rim import crosscal
    arf, rmf = _arf_rmf()
    datas = [_fake(arf, rmf, counts=2e4, seed=6), _fake(arf, rmf, counts=2e4, seed=7)]
    rep = crosscal._compare(datas, ["a", "b"], ("network", "crossnet"), None, 0.02, "slope",
                            "knots", 8, 60, 0)
    for r in ("network", "crossnet"):
        o = rep.routes[r]["observations"][1]
        assert o["p_from"] == "60 pairs simulated through these two responses"
        assert o["null_source"]["kT"] == pytest.approx(3.0, rel=0.3)
        assert o["p"] > 0.01
    old = crosscal._compare(datas, ["a", "b"], ("network",), None, 0.02, "slope", "knots", 8, 0)
    assert "validation" in old.routes["network"]["method"]
    with pytest.raises(ValueError, match="at least 20"):
        crosscal._compare(datas, ["a", "b"], ("network",), None, 0.02, "slope", "knots", 8, 5)
