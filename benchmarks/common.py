"""What several benchmarks share: the held-out test ObsIDs' real responses as Sherpa
objects, and Poisson spectra simulated through them."""
import numpy as np

from sherpa_rim.amortised.posterior import check_model


def test_responses():
    """(key, ObsID, ARF, RMF) Sherpa objects of the real pairs of the test ObsIDs."""
    from sherpa.astro.io import read_arf, read_rmf

    from sherpa_rim.response.library import ResponseLibrary
    from sherpa_rim.sim.responses import recorded_split
    test = set(recorded_split()["test"])
    out = []
    for p in ResponseLibrary.default():
        if p.group in test and p.arf is not None:
            out.append((p.key, p.group, read_arf(str(p.arf)), read_rmf(str(p.rmf))))
    if len(out) < 2:
        raise SystemExit("fewer than two test ObsIDs in the response library: this benchmark "
                         "needs ../shared/data/chandra (or SHERPA_RIM_DATA)")
    return out


def empty_pha(arf, rmf, band=(0.5, 7.0), exposure=5e4):
    from sherpa.astro.data import DataPHA
    n = rmf.detchans
    d = DataPHA("bench", np.arange(1, n + 1, dtype=float), np.zeros(n), exposure=exposure)
    d.set_arf(arf)
    d.set_rmf(rmf)
    d.set_analysis("energy")
    d.notice(*band)
    return d


def fake_spectrum(arf, rmf, truth, counts, rng, wrap=None, sim_arf=None):
    """A DataPHA (response ``arf`` x ``rmf``) of Poisson counts from mmabs * cie at ``truth``
    with ``counts`` expected in its noticed band (``truth["norm"]`` is set to give them), or,
    with ``counts=None``, at ``truth["norm"]`` as given (the same source seen again).
    ``wrap(model)``: what happens to the source on its way (e.g. a gain); ``sim_arf``: the
    ARF the photons really met, when it is not the one the data set carries."""
    from sherpa.astro.instrument import Response1D
    d = empty_pha(sim_arf if sim_arf is not None else arf, rmf)
    src = check_model(truth["kT"], truth["abundance"], truth["redshift"], 1.0, truth["nH"])
    m = Response1D(d)(src if wrap is None else wrap(src))
    mu = d.eval_model(m)
    mask = d.get_mask()
    if counts is not None:
        truth["norm"] = counts / mu[mask].sum()
    d.counts = rng.poisson(mu * truth["norm"]).astype(float)
    if sim_arf is not None:
        d.set_arf(arf)
    return d
