"""The Sherpa statistics with priors (sherpa_rim.stats): what each optimiser minimises."""
import numpy as np
import pytest

import sherpa_rim  # noqa: F401  (registers cie)
from sherpa_rim.response.library import sherpa_data_dir

PHA = str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")


def _faked(ui, expo=8e3, seed=3, kT=1.3, ab=0.4, norm=2e-3):
    ui.load_pha(1, PHA)
    for b in list(ui.get_data(1).background_ids):
        ui.get_data(1).delete_background(b)
    truth = ui.create_model_component("cie", "truth")
    truth.kT, truth.Abundanc, truth.redshift, truth.norm = kT, ab, 0.0123, norm
    ui.set_source(1, truth)
    np.random.seed(seed)
    ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=expo, grouped=False, bkg=None)
    ui.notice(0.5, 7.0)
    src = ui.create_model_component("cie", "c1")
    src.kT, src.Abundanc, src.redshift, src.norm = 2.0, 1.0, 0.0123, 2e-3
    src.Abundanc.thaw()
    ui.set_source(1, src)
    return src


@pytest.mark.parametrize("kind", ["network", "rim"])
def test_levmar_minimises_what_calc_stat_reports_for_cstat_priors(clean_session, kind):
    """LevMar minimises the sum of squares of the per-bin vector; for cstat that vector is
    the square root of each bin's deviance, so the prior terms must enter it as they are
    (not squared). The minimum LevMar finds is then the minimum of calc_stat: NelderMead
    started there finds nothing lower. (A strong prior makes the difference plain.)"""
    from sherpa_rim.stats import NetworkPriorCStat, RIMPriorCStat
    ui = clean_session
    src = _faked(ui)
    st = NetworkPriorCStat(id=1, weight=25.0) if kind == "network" else RIMPriorCStat(id=1, weight=25.0)
    ui.set_stat(st)
    ui.set_method("levmar")
    ui.fit()
    stat, fvec = st.calc_stat(ui.get_data(1), ui.get_model(1))
    assert (fvec ** 2).sum() == pytest.approx(stat, rel=1e-6) and stat == pytest.approx(ui.calc_stat())
    at_levmar = ui.calc_stat()
    ui.set_method("neldermead")
    ui.fit()
    assert ui.calc_stat() > at_levmar - 0.05, (
        f"NelderMead lowered the statistic from {at_levmar:.3f} to {ui.calc_stat():.3f}: "
        "LevMar minimised another function")
    assert np.isfinite(src.kT.val)
