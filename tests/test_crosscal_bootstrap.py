"""The learned routes' null simulated through the observations' own responses
(sherpa_rim.crosscal.bootstrap)."""
import numpy as np
import pytest

import sherpa_rim  # noqa: F401  (registers the models)
from sherpa_rim.crosscal.bootstrap import (GAIN_STEPS, calibrate, draws, gain_curve,
                                          gain_estimate, invert_gain, null_source, null_sources,
                                          shifted_counts, source_counts)
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
    S, sigma = resampled(obs, np.stack([d.counts, d.counts]))
    assert S.shape == (2, obs.S.size)
    np.testing.assert_allclose(S[1], obs.S, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sigma[0], obs.sigma, rtol=0, atol=1e-9)
    # the batch's own background, given as the data's, is the same
    b, bv = obs.full["background"], obs.full["background_var"]
    S2, sigma2 = resampled(obs, d.counts[None], np.stack([b]), np.stack([bv]))
    np.testing.assert_allclose(S2[0], obs.S, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sigma2[0], obs.sigma, rtol=0, atol=1e-9)


def test_source_counts_are_sherpas_fold():
    """The null's expected counts through the observation's own response are Sherpa's fold
    of mmabs * cie through its ARF and RMF (with the exposure and AREASCAL)."""
    from sherpa.astro.instrument import Response1D

    from sherpa_rim.amortised.posterior import check_model
    arf, rmf = _arf_rmf()
    d = _pha(arf, rmf, counts=np.ones(rmf.detchans))
    d.areascal = np.linspace(0.8, 1.0, rmf.detchans)
    obs = observation_from_data(d)
    src = {"kT": 2.5, "abundance": 0.6, "redshift": 0.03, "norm": 2e-3}
    ours = source_counts(obs, src, 0.04)
    theirs = d.eval_model(Response1D(d)(check_model(2.5, 0.6, 0.03, 2e-3, 0.04)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9 * theirs.max())
    # with a gain: Sherpa's gainshift (XSPEC's gain, the ARF re-read at E'), which the
    # response's folded area reproduces to 0.1 % in the median channel
    from sherpa_rim.models import GainShift
    d = _pha(arf, rmf, counts=np.ones(rmf.detchans))
    obs = observation_from_data(d)
    for slope in (0.99, 1.02):
        g = GainShift("g").attach(arf=arf)
        g.slope = slope
        theirs = d.eval_model(Response1D(d)(g(check_model(2.5, 0.6, 0.03, 2e-3, 0.04))))
        ours = source_counts(obs, src, 0.04, slope)
        bright = theirs > 1e-3 * theirs.max()
        r = ours[bright] / theirs[bright]
        assert np.median(np.abs(r - 1)) < 1e-3 and np.abs(r - 1).max() < 0.03
        assert ours.sum() == pytest.approx(theirs.sum(), rel=1e-3)
        base = source_counts(obs, src, 0.04)[bright]
        assert np.abs(ours[bright] / base - 1).max() > 0.01          # the gain moved counts


def test_draws_scatter_as_the_data_with_a_background():
    """Draws through a response with a background (r = 1/4): on the grid their mean is the
    source's counts (the background subtracted) and their variance source + b + r b, the
    variance of background-subtracted data, not source + b alone."""
    arf, rmf = _arf_rmf()
    d = _with_background(_fake(arf, rmf, counts=1e4, seed=3), level=20.0)
    obs = observation_from_data(d)
    prop = {"mean": [np.log(3.0), 0.4, 0.05, np.log(1e-3)], "sd": [1e-9] * 4}
    src = null_source([prop])
    (S, sigma), = draws([obs], [src], 0.02, 1000, np.random.default_rng(0))
    mu, _ = resampled(obs, source_counts(obs, src, 0.02)[None], np.zeros((1, rmf.detchans)),
                      np.zeros((1, rmf.detchans)))
    b = obs.full["background"]
    qT = obs.full["channel_map"]
    var = mu[0] + qT @ b + qT @ (b / 4.0)
    ok = obs.noticed & (mu[0] > 30)
    z = (S[:, ok].mean(0) - mu[0, ok]) / np.sqrt(var[ok] / 1000)
    assert np.abs(z).max() < 5 and abs(z.mean()) < 0.3
    assert np.median(S[:, ok].var(0, ddof=1) / var[ok]) == pytest.approx(1.0, abs=0.06)
    # the noise given to the network is the data's: sqrt(counts + r^2 B*)
    assert np.median(sigma[:, ok].mean(0) ** 2 / var[ok]) == pytest.approx(1.0, abs=0.06)


def test_null_source_is_the_inverse_variance_mean():
    a = {"mean": [np.log(2.0), 0.5, 0.05, np.log(1e-3)], "sd": [0.1, 0.2, 0.01, 0.1]}
    b = {"mean": [np.log(2.0) + 0.2, 0.3, 0.08, np.log(1e-3) + 0.1], "sd": [0.2, 0.1, 0.01, 0.1]}
    s = null_source([a, b])
    assert np.log(s["kT"]) == pytest.approx(np.log(2.0) + 0.2 * 0.2, rel=1e-12)
    assert s["abundance"] == pytest.approx(0.5 * 0.2 + 0.3 * 0.8)
    assert s["redshift"] == pytest.approx(0.065)
    assert s["norm"] == pytest.approx(1e-3 * np.exp(0.05))
    drawn = null_sources([a, b], 4000, np.random.default_rng(2))
    lnkT = np.log([x["kT"] for x in drawn])
    assert lnkT.mean() == pytest.approx(np.log(s["kT"]), abs=0.01)
    assert lnkT.std() == pytest.approx(1 / np.sqrt(1 / 0.1 ** 2 + 1 / 0.2 ** 2), rel=0.05)
    assert np.std([x["redshift"] for x in drawn]) == pytest.approx(0.01 / np.sqrt(2), rel=0.05)


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
    # the fewest draws compare allows, for the crossnet's nine outputs: still valid
    ps = []
    for _ in range(400):
        X = rng.standard_normal((21, 9))
        ps.append(calibrate(X[0], X[1:])["p"])
    ps = np.array(ps)
    assert np.mean(ps <= 0.05) <= 0.08 and np.mean(ps <= 0.5) == pytest.approx(0.5, abs=0.08)


class _BiasedNetwork:
    """A stand-in parameter network: it reads the redshift from the counts' mean energy (so
    a gain moves it as it moves a line), plus a bias set by the response it reads, as the
    shipped networks' bias is."""
    def forward(self, S, R, sigma):
        from sherpa_rim.response.grid import RIM_GRID
        S = np.clip(np.atleast_2d(np.asarray(S, float)), 0, None)
        R = np.asarray(R, float)
        tot = S.sum(1)
        e = 0.5 * (RIM_GRID.channel_lo + RIM_GRID.channel_hi)
        mean_e = (S * e).sum(1) / tot
        bias = 0.05 + 0.2 * np.log(R.sum() / self.ref)      # set by the response
        m = np.column_stack([np.full(tot.size, np.log(3.0)), np.full(tot.size, 0.4),
                             bias - np.log(mean_e / 3.0), np.full(tot.size, bias)])
        scale = (tot / R.sum())[:, None]
        return m, np.ones_like(m), scale


def test_network_route_removes_a_response_bias():
    """Two observations of one source through two responses (the second's area 20 % lower):
    a network whose redshift is biased by the response's area reads a gain from it, and the
    validation-ObsID null cannot know that. The simulated null measures the bias through these
    two responses (more than five times the slope's error): the slope comes back to 1 within
    its error and p is not small."""
    from sherpa.astro.data import DataARF

    from sherpa_rim.crosscal.routes import network_route
    arf, rmf = _arf_rmf()
    arf2 = DataARF("low", arf.energ_lo, arf.energ_hi, 0.8 * arf.specresp, exposure=arf.exposure)
    d1 = _fake(arf, rmf, counts=3e5, seed=4)
    d2 = _fake(arf2, rmf, counts=2.4e5, seed=5)
    obs = [observation_from_data(d) for d in (d1, d2)]
    net = _BiasedNetwork()
    net.ref = obs[0].R.sum()
    est = [{"proposal": {"mean": [np.log(3.0), 0.4, 0.05, np.log(1e-2 * k)],
                         "sd": [0.05, 0.1, 0.005, 0.05]}} for k in (1.0, 1.0)]
    rep = network_route(est, 0, observations=obs, estimator=net, nH=0.02, n_boot=100, seed=1)
    o = rep["observations"][1]
    raw_slope = 1.0 + o["bias"]["slope"]
    assert abs(raw_slope - 1.0) > 5 * o["sigma_slope"]         # the response bias is large
    assert abs(o["slope"] - 1.0) < 3 * o["sigma_slope"]       # and the null removes it
    assert o["p"] > 0.01 and "100 pairs simulated" in o["p_from"]
    # the response to a gain, measured on the draws, is the stub's on noise-free spectra
    from sherpa_rim.amortised.dae import network_input
    from sherpa_rim.crosscal.bootstrap import GAIN_STEPS
    src = o["null_source"]

    def z(ob, slope=1.0):
        S, sig = resampled(ob, source_counts(ob, src, 0.02, slope)[None])
        Sf, sf = network_input(ob, 0.02, S, sig)
        return net.forward(Sf, ob.R, sf)[0][0, 2]
    z0 = z(obs[1])
    curve = o["gain_curve"]
    for step in GAIN_STEPS:
        want = np.log((1 + z0) / (1 + z(obs[1], 1 + step)))     # ln slope read, noise-free
        got = np.interp(np.log1p(step), curve["ln_slope"], curve["output"])
        assert 0.2 < want / np.log1p(step) < 2.0
        assert got == pytest.approx(want, abs=0.15 * abs(np.log1p(step)))
    assert o["interval"][0] < o["slope"] < o["interval"][1]
    assert abs(o["bias"]["ln_flux"]) > 5 * o["sigma_ln_area"]
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
        row = next(x for x in rep.rows() if x["route"] == r)
        lo, hi = o["interval"]
        assert row["gain_6keV_lo68_eV"] == pytest.approx(6e3 * (lo - 1))
        assert row["gain_6keV_lo68_eV"] < row["gain_6keV_eV"] < row["gain_6keV_hi68_eV"]
        assert f"(68 %: {6e3 * (lo - 1):+.1f} to {6e3 * (hi - 1):+.1f} eV)" in rep.summary()
    old = crosscal._compare(datas, ["a", "b"], ("network",), None, 0.02, "slope", "knots", 8, 0)
    assert "validation" in old.routes["network"]["method"]
    with pytest.raises(ValueError, match="at least 20"):
        crosscal._compare(datas, ["a", "b"], ("network",), None, 0.02, "slope", "knots", 8, 5)


def test_batched_network_input_is_the_row_by_row_one():
    """The DAE fills a batch of spectra with ignored channels as it fills each alone."""
    from dataclasses import replace

    from sherpa_rim.amortised.dae import network_input
    arf, rmf = _arf_rmf()
    obs = observation_from_data(_fake(arf, rmf, counts=2e4, seed=8))
    assert not obs.noticed.all()
    rng = np.random.default_rng(4)
    S = obs.S[None] * rng.uniform(0.8, 1.2, (3, 1))
    sig = np.sqrt(np.maximum(S, 1.0))
    Sb, sb = network_input(obs, 0.02, S, sig)
    for k in range(3):
        one = replace(obs, S=S[k], sigma=sig[k])
        S1, s1 = network_input(one, 0.02)
        np.testing.assert_allclose(Sb[k], S1, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(sb[k], s1, rtol=1e-5, atol=1e-4)
    with pytest.raises(TypeError, match="together"):
        network_input(obs, 0.02, S)


def test_crossnet_route_bias_goes_the_right_way():
    """The crossnet route with the simulated null on a pair whose second spectrum has a 2 %
    gain: the reported slope is the network's minus the bias at slope 1, near 1.02."""
    from sherpa_rim import crosscal
    arf, rmf = _arf_rmf()
    datas = [_fake(arf, rmf, counts=1e5, seed=9), _fake(arf, rmf, slope=1.02, counts=1e5, seed=10)]
    rep = crosscal._compare(datas, ["a", "b"], ("crossnet",), None, 0.02, "slope", "knots", 8,
                            60, 0)
    o = rep.routes["crossnet"]["observations"][1]
    assert o["slope"] == pytest.approx(1.02, abs=max(3 * o["sigma_slope"], 0.004))
    assert o["p"] <= 2 / 61


def test_shifted_counts_are_poisson_of_the_new_mean_and_share_the_photons():
    """Counts moved from one mean to another, up in some channels and down in others, are
    Poisson of the new mean (their mean and variance), and they keep the photons they share:
    their difference from the counts they were made from has the variance |change| of the
    mean, not the sum of both variances."""
    rng = np.random.default_rng(3)
    lam = np.array([0.0, 0.5, 4.0, 50.0, 400.0, 400.0, 3.0])
    new = np.array([0.3, 0.4, 5.0, 45.0, 404.0, 380.0, 0.0])
    c = rng.poisson(lam, (40000, lam.size)).astype(float)
    s = shifted_counts(c, lam, new, rng)
    n = len(c)
    assert (np.abs(s.mean(0) - new) <= 4 * np.sqrt(np.maximum(new, 1e-3) / n)).all()
    ok = new > 0
    np.testing.assert_allclose(s.var(0)[ok], new[ok], rtol=0.05)
    assert (s[:, ~ok] == 0).all()
    d = (s - c).var(0)
    # up: the added counts, Poisson(new - lam); down: the counts thinned away, Poisson too
    np.testing.assert_allclose(d[2:6], np.abs(new - lam)[2:6], rtol=0.1)
    assert (d[3:6] < 0.2 * (lam + new)[3:6]).all()


def _response(x):
    """A route's mean gain output for a true ln slope ``x``: a prior's pull at gains under
    1 % (half the gain read), steeper beyond (1.5 times)."""
    x = np.asarray(x, float)
    return np.sign(x) * np.where(np.abs(x) < 0.01, 0.5 * np.abs(x),
                                 0.005 + 1.5 * (np.abs(x) - 0.01))


def test_gain_curve_inverts_a_nonlinear_response_with_its_coverage():
    """A route that reads small gains low and large gains high, its noise growing with the
    gain (sd 0.002 at none, three times that at 2 %): the curve measured from its draws (each
    shifted draw sharing its base draw's noise, as shifted_counts makes them) gives 68 %
    intervals that hold the true gain in 68 +- 5 % of trials at every gain from -0.75 to 2 %.
    One straight line through the response at 1 % with the spread at no gain misses small
    and large gains; the curve with the spread at no gain misses large ones."""
    rng = np.random.default_rng(5)
    n, m = 200, 40

    def sd(x):
        return 0.002 * (1.0 + 100.0 * np.abs(x))
    hits, line_hits, flat_hits = {}, {}, {}
    for g in (0.0, 0.0025, 0.005, 0.01, 0.02, -0.0075):
        h, lh, fh = [], [], []
        for _ in range(300):
            e = rng.standard_normal(n)
            base = 0.01 + sd(0.0) * e                           # a bias of 0.01
            shifted = [0.01 + _response(np.log1p(s)) + sd(np.log1p(s)) * e[:m]
                       + 2e-4 * rng.standard_normal(m) for s in GAIN_STEPS]
            out = 0.01 + _response(np.log1p(g)) + sd(np.log1p(g)) * rng.standard_normal()
            lo, hi = gain_estimate(out, base, shifted)["interval"]
            h.append(lo <= 1 + g <= hi)
            r1 = np.mean(shifted[GAIN_STEPS.index(0.01)] - base[:m]) / np.log1p(0.01)
            lh.append(abs((out - base.mean()) / r1 - np.log1p(g)) <= base.std(ddof=1) / r1)
            cx, cy, _ = gain_curve(base, shifted)
            flat = (cx, cy, np.full(cx.size, base.std(ddof=1)))
            _, flo, fhi = invert_gain(flat, out - base.mean())
            fh.append(flo <= np.log1p(g) <= fhi)
        hits[g], line_hits[g], flat_hits[g] = np.mean(h), np.mean(lh), np.mean(fh)
    for g, c in hits.items():
        assert 0.63 <= c <= 0.73, (g, c)
    assert min(line_hits.values()) < 0.55, line_hits     # one step is too narrow somewhere
    assert flat_hits[0.02] < 0.5, flat_hits             # and so is the spread at no gain
    # a route that does not move reads the least response allowed, not an infinite interval
    base = sd(0.0) * rng.standard_normal(n)
    e = gain_estimate(0.0, base, [base[:m]] * len(GAIN_STEPS))
    assert e["gain_response"] == pytest.approx(0.2, rel=0.15)
    assert e["interval"][1] - e["interval"][0] == pytest.approx(2 * sd(0.0) / 0.2, rel=0.25)


def test_gain_curve_is_monotone_and_inverts_exactly_at_its_knots():
    """The curve's knots are the gains measured and 0; it rises at 0.2-2 per unit even where
    the outputs dip; it inverts exactly at its knots, goes on at its end slopes, and its belt
    is the output -+ the width over the local slope."""
    base = np.zeros(50)
    # a piecewise-linear response with a dip (non-monotone): kept rising at slope >= 0.2
    y = np.array([-0.03, -0.012, -0.001, 0.002, 0.001, 0.03])
    cx, cy, cs = gain_curve(base, [np.full(10, v) for v in y])
    np.testing.assert_allclose(cx, np.sort(np.append(np.log1p(GAIN_STEPS), 0.0)))
    assert cy[3] == 0.0 and cx[3] == 0.0
    np.testing.assert_allclose(cs, 0.0, atol=1e-15)      # constant outputs: no spread
    cs = np.zeros(cx.size)
    assert (np.diff(cy) / np.diff(cx) >= 0.2 - 1e-12).all()
    assert (np.diff(cy) / np.diff(cx) <= 2.0 + 1e-12).all()
    for k in (0, 1, 2, 5):
        mid, lo, hi = invert_gain((cx, cy, cs), cy[k])
        assert mid == pytest.approx(cx[k], abs=1e-12) and lo == hi == mid
    # beyond the outer knots: the end slopes go on
    s_end = (cy[-1] - cy[-2]) / (cx[-1] - cx[-2])
    mid, _, _ = invert_gain((cx, cy, cs), cy[-1] + 0.01)
    assert mid == pytest.approx(cx[-1] + 0.01 / s_end)
    # a width: the belt around the answer, the same width in output either side at slope 1
    lin = (cx, cx.copy(), np.full(cx.size, 0.001))
    mid, lo, hi = invert_gain(lin, 0.003)
    assert mid == pytest.approx(0.003) and lo == pytest.approx(0.002, abs=2e-5)
    assert hi == pytest.approx(0.004, abs=2e-5)
    # far outside the knots the belt still closes around the answer
    mid, lo, hi = invert_gain(lin, 0.2)
    assert mid == pytest.approx(0.2) and lo < 0.2 < hi and hi - lo < 0.003
