"""An observation on the canonical grid: counts, background and their noise."""
import numpy as np
import pytest
from astropy.io import fits

from sherpa_rim.response.grid import RIM_GRID

PAIRS = [("sherpa-test-data__9774.pi", "sherpa-test-data__9774_bg.pi", "sherpa-test-data__9774.arf",
          "sherpa-test-data__9774.rmf"),
         ("sherpa-test-data__3c273.pi", "sherpa-test-data__3c273_bg.pi", "sherpa-test-data__3c273.arf",
          "sherpa-test-data__3c273.rmf")]


def _ratio(shared_dir, pha, bkg):
    """exposure x BACKSCAL ratio of source to background, from the headers."""
    hs = fits.getheader(shared_dir / pha, 1)
    hb = fits.getheader(shared_dir / bkg, 1)
    return (hs["EXPOSURE"] * hs["BACKSCAL"]) / (hb["EXPOSURE"] * hb["BACKSCAL"])


def _check_background_noise(obs, r):
    """The scaled background r B has variance r^2 B = r b: sigma^2 = total counts + r b."""
    total = obs.S + obs.background
    use = obs.noticed & (obs.background > 0) & (obs.sigma ** 2 > 1.0)
    assert use.sum() > 50
    assert np.allclose((obs.sigma[use] ** 2 - total[use]) / obs.background[use], r, rtol=1e-6)


@pytest.mark.requires_data
@pytest.mark.parametrize("pha,bkg,arf,rmf", PAIRS)
def test_background_variance_in_a_session(clean_session, shared_dir, pha, bkg, arf, rmf):
    from sherpa_rim.observation import observation_from_session
    ui = clean_session
    ui.load_pha(1, str(shared_dir / pha), use_errors=False)
    ui.load_arf(1, str(shared_dir / arf))
    ui.load_rmf(1, str(shared_dir / rmf))
    for b in list(ui.get_data(1).background_ids):
        ui.get_data(1).delete_background(b)
    ui.load_bkg(1, str(shared_dir / bkg))
    r = _ratio(shared_dir, pha, bkg)
    assert r < 0.2                               # the background region is much larger
    _check_background_noise(observation_from_session(1, RIM_GRID), r)


@pytest.mark.requires_data
@pytest.mark.parametrize("pha,bkg,arf,rmf", PAIRS)
def test_background_variance_from_files(shared_dir, pha, bkg, arf, rmf):
    from sherpa_rim.observation import observation_from_files
    obs = observation_from_files(shared_dir / pha, arf=shared_dir / arf, rmf=shared_dir / rmf,
                                 bkg=shared_dir / bkg, grid=RIM_GRID)
    _check_background_noise(obs, _ratio(shared_dir, pha, bkg))


@pytest.mark.requires_data
def test_two_backgrounds_are_averaged_as_sherpa_averages_them(clean_session, shared_dir):
    """Several backgrounds of one data set: their scaled average is subtracted (Sherpa's own
    convention), with the variance of that average."""
    from sherpa_rim.observation import background_terms
    pha, bkg, arf, rmf = PAIRS[0]
    ui = clean_session
    ui.load_pha(1, str(shared_dir / pha), use_errors=False)
    d = ui.get_data(1)
    for b in list(d.background_ids):
        d.delete_background(b)
    ui.load_bkg(1, str(shared_dir / bkg), bkg_id=1)
    ui.load_bkg(1, str(shared_dir / bkg), bkg_id=2)
    b, var = background_terms(d)
    r = _ratio(shared_dir, pha, bkg)
    B = np.asarray(d.get_background(1).counts, float)
    assert np.allclose(b, r * B)                          # the average of two copies is one
    assert np.allclose(var, r * r * B / 2)                # ... with half the variance
    ui.subtract(1)
    assert np.allclose(np.asarray(d.counts, float) - b, d.get_dep(filter=False))


@pytest.mark.requires_data
def test_quality_flagged_grouped_spectrum_from_data(shared_dir):
    """A grouped PHA with QUALITY-flagged channels after ignore_bad(): Sherpa's mask then
    covers the good channels only; the observation spreads it back over all channels, so its
    noticed counts are the counts of Sherpa's noticed channels."""
    from sherpa_rim.amortised.params import load_for_fit
    from sherpa_rim.observation import observation_from_data
    d = load_for_fit(shared_dir / "sherpa-test-data__source_bin10.pi",
                     arf=shared_dir / "sherpa-test-data__arf.fits",
                     rmf=shared_dir / "sherpa-test-data__rmf.fits", band=(0.5, 7.0))
    assert d.grouped and (np.asarray(d.quality) != 0).sum() > 0
    obs = observation_from_data(d, RIM_GRID)
    chans = np.asarray(d.get_noticed_channels(), int) - 1
    assert obs.counts_noticed == pytest.approx(float(np.asarray(d.counts)[chans].sum()))


@pytest.mark.requires_data
def test_full_channel_checks_see_the_grids_band(shared_dir):
    """The plasma checks on the response's own channels use the channels the canonical grid
    keeps: with nothing ignored, no channel outside the grid's energies is among them, so a
    file and the same file noticed on the grid's band give one check."""
    from sherpa_rim.observation import observation_from_files
    pha = shared_dir / "sherpa__acisf02779_001N001_r0004_pha3.fits"
    obs = observation_from_files(pha, arf=shared_dir / "sherpa__acisf02779_001N001_r0004_arf3.fits",
                                 rmf=shared_dir / "sherpa__acisf02779_001N001_r0004_rmf3.fits",
                                 grid=RIM_GRID)
    from sherpa_rim.response.ogip import read_spectrum
    _, rsp = read_spectrum(pha, arf=shared_dir / "sherpa__acisf02779_001N001_r0004_arf3.fits",
                           rmf=shared_dir / "sherpa__acisf02779_001N001_r0004_rmf3.fits")
    mid = 0.5 * (np.asarray(rsp.channel_lo) + np.asarray(rsp.channel_hi))
    inside = (mid > RIM_GRID.channel_lo[0]) & (mid < RIM_GRID.channel_hi[-1])
    kept = obs.full["noticed"]
    assert not kept[~inside].any()                      # nothing outside the grid's band
    assert kept[inside].mean() > 0.99                   # and (all but edge channels) inside it
