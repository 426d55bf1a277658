"""The rimspec model: its reconstruction follows the data set, in a session or without one."""
import numpy as np
import pytest

import sherpa_rim  # noqa: F401
from sherpa_rim.response.library import sherpa_data_dir

D = sherpa_data_dir()
PHA = str(D / "acisf07867_000N001_r0002_pha3.fits")


def _fake(ui, pha=PHA, kT=1.3, norm=2e-3, seed=0):
    ui.load_pha(1, pha)
    for b in list(ui.get_data(1).background_ids):
        ui.get_data(1).delete_background(b)
    t = ui.create_model_component("cie", f"t{seed}")
    t.kT, t.Abundanc, t.redshift, t.norm = kT, 0.4, 0.0123, norm
    ui.set_source(1, t)
    np.random.seed(seed)
    ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=30e3, grouped=False, bkg=None)


def test_reconstruction_follows_notice_group_and_new_data(clean_session):
    """After notice/ignore, group or a new load_pha the model deconvolves again (a cached
    reconstruction of other data would be silently wrong)."""
    ui = clean_session
    _fake(ui)
    ui.notice(0.5, 7.0)
    r = ui.create_model_component("rimspec", "r")
    ui.set_source(1, r)
    ui.calc_stat(1)
    first = r.result()
    assert r.result() is first                        # cached while nothing changes
    ui.ignore(None, 1.0)
    ui.calc_stat(1)
    second = r.result()
    assert second is not first
    c = 0.5 * (second.channel_lo + second.channel_hi)
    assert not second.noticed[c < 0.95].any() and first.noticed[(c > 0.55) & (c < 0.95)].all()
    ui.group_counts(1, 20)
    ui.calc_stat(1)
    assert r.result() is not second
    grouped = r.result()
    _fake(ui, kT=4.0, norm=4e-3, seed=1)              # new data in the same data set
    ui.set_source(1, r)
    ui.notice(0.5, 7.0)
    ui.calc_stat(1)
    new = r.result()
    assert new is not grouped
    assert new.data.sum() != pytest.approx(grouped.data.sum(), rel=0.05)


def test_rimspec_under_the_object_api(clean_session):
    """sherpa.fit.Fit with a DataPHA read from files: no UI session, the model bound to the
    data object."""
    from sherpa.astro.instrument import Response1D
    from sherpa.astro.io import read_arf, read_pha, read_rmf
    from sherpa.fit import Fit
    from sherpa.stats import CStat
    from sherpa_rim.models import RIMSpec

    ui = clean_session
    assert ui.list_data_ids() == []
    data = read_pha(str(D / "acisf04938_000N002_r0043_pha3.fits"), use_background=False)
    data.set_arf(read_arf(str(D / "acisf04938_000N002_r0043_arf3.fits")))
    data.set_rmf(read_rmf(str(D / "acisf04938_000N002_r0043_rmf3.fits")))
    for b in list(data.background_ids):        # cstat without a background model
        data.delete_background(b)
    data.notice(0.5, 7.0)
    m = RIMSpec("robj")
    m.bind(data)
    m.norm = 0.5
    fit = Fit(data, Response1D(data)(m), stat=CStat())
    res = fit.fit()
    assert res.succeeded and m.norm.val == pytest.approx(1.0, abs=0.15)
