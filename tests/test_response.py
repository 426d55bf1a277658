"""Dense responses against Sherpa's own folding, regridding, and bad input."""
import shutil

import numpy as np
import pytest
from astropy.io import fits
from sherpa.astro import io
from sherpa.astro.data import DataPHA, DataRMF
from sherpa.astro.instrument import RSPModelPHA
from sherpa.models.basic import Gauss1D, PowLaw1D

from sherpa_rim.errors import DataError, ResponseError
from sherpa_rim.response.library import ResponseLibrary, sherpa_data_dir
from sherpa_rim.response import CanonicalGrid, dense_rmf, load_response, rebin_matrix

LIB = ResponseLibrary.default()
PAIRS = {p.key: p for p in LIB}


def _test_model():
    """A power law plus a narrow Fe K line: a spectrum with both continuum and structure."""
    pl = PowLaw1D()
    pl.gamma = 1.7
    pl.ampl = 1e-3
    g = Gauss1D()
    g.pos = 6.7
    g.fwhm = 0.05
    g.ampl = 1e-3
    return pl + g


def _sherpa_fold(pair, mdl, exposure):
    arf = io.read_arf(str(pair.arf)) if pair.arf else None
    rmf = io.read_rmf(str(pair.rmf))
    ch = np.arange(1, rmf.detchans + 1, dtype=float)
    pha = DataPHA("test", ch, np.zeros_like(ch), exposure=exposure)
    pha.set_rmf(rmf)
    if arf is not None:
        pha.set_arf(arf)
    return RSPModelPHA(arf, rmf, pha, pha.exposure * mdl)(ch)


@pytest.mark.requires_data
def test_library_has_every_pair(shared_dir):
    keys = set(PAIRS)
    # the shared folder gives at least 30 pairs; gzipped, old-format and mismatched-grid ones among them
    assert sum(1 for p in LIB if p.source != "sherpa (pip package test data)") >= 30
    assert any(str(p.rmf).endswith(".gz") for p in LIB)
    assert "sherpa-test-data__arf2278" in keys          # 685-channel RMF
    assert "sherpa-test-data__arf_1024" in keys         # ARF grid finer than the RMF grid


@pytest.mark.parametrize("key", sorted(PAIRS))
def test_dense_response_equals_sherpa_folding(key):
    pair = PAIRS[key]
    mdl = _test_model()
    rsp = pair.load(with_pha=False, exposure=2.5e4)
    ours = rsp.fold(mdl(rsp.energy_lo, rsp.energy_hi))
    ref = _sherpa_fold(pair, mdl, 2.5e4)
    assert ours.shape == ref.shape
    assert ref.sum() > 100          # a real, non-trivial comparison
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * ref.max())


@pytest.mark.parametrize("key", sorted(PAIRS))
def test_batched_fold_by_channel_bands_equals_sherpa(key):
    """A batch is folded band by band of channels over the energies that reach each band:
    every spectrum of it equals Sherpa's folding, and the whole the dense product."""
    from sherpa_rim.response.matrix import BLOCKED_MIN_ROWS
    pair = PAIRS[key]
    rsp = pair.load(with_pha=False, exposure=2.5e4)
    rng = np.random.default_rng(3)
    n = BLOCKED_MIN_ROWS + 530                           # more than one pass of rows
    e = 0.5 * (rsp.energy_lo + rsp.energy_hi)
    gamma = rng.uniform(1, 3, n)
    flux = 1e-3 * e[None, :] ** -gamma[:, None] * (rsp.energy_hi - rsp.energy_lo)
    models = {}
    for i in (0, n - 1):                                 # first and last pass: Sherpa's model
        models[i] = PowLaw1D()
        models[i].gamma, models[i].ampl = gamma[i], 1e-3
        flux[i] = models[i](rsp.energy_lo, rsp.energy_hi)
    blocks = rsp._blocks(np.float64)
    if blocks is not None:                               # the band plan skips most of the matrix
        assert sum((c1 - c0) * (e1 - e0) for c0, c1, e0, e1, _ in blocks) < 0.6 * rsp.matrix.size
    dense = (flux @ rsp.matrix.T) * (2.5e4 * np.asarray(rsp.areascal))
    for dt, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        got = rsp.fold(flux, dtype=dt)
        np.testing.assert_allclose(got, dense, rtol=rtol, atol=rtol * dense.max())
    for i, mdl in models.items():
        ref = _sherpa_fold(pair, mdl, 2.5e4)
        np.testing.assert_allclose(rsp.fold(flux)[i], ref, rtol=1e-6, atol=1e-6 * ref.max())


def _band_response(seed=0, **kw):
    from sherpa_rim.response.matrix import BLOCK_CHANNELS, Response
    rng = np.random.default_rng(seed)
    C, E = 3 * BLOCK_CHANNELS + 7, 150
    m = np.zeros((C, E))
    for e in range(E):                                   # a narrow diagonal band
        c = int(e * (C - BLOCK_CHANNELS) / E)
        m[c:c + 5, e] = rng.uniform(0.1, 1, 5)
    edges = np.linspace(0.3, 8, E + 1)
    cb = np.linspace(0.3, 8, C + 1)
    return Response(m, edges[:-1], edges[1:], cb[:-1], cb[1:], np.arange(1, C + 1), **kw), rng


def test_batched_fold_runs_by_bands_from_64_spectra():
    """The band plan is what a batch of 64 finite spectra is folded with (a band's cached
    matrix, doubled, doubles exactly its channels), and what fewer spectra are not."""
    from sherpa_rim.response.matrix import BLOCKED_MIN_ROWS
    rsp, rng = _band_response()
    flux = rng.uniform(0, 1, (BLOCKED_MIN_ROWS, rsp.n_energy))
    before = rsp.fold(flux)
    c0, c1, _, _, w = rsp.meta["_blocks"]["<f8"][1][1]
    w *= 2
    after = rsp.fold(flux)
    np.testing.assert_allclose(after[:, c0:c1], 2 * before[:, c0:c1], rtol=1e-14)
    np.testing.assert_array_equal(np.delete(after, np.s_[c0:c1], 1), np.delete(before, np.s_[c0:c1], 1))
    np.testing.assert_array_equal(rsp.fold(flux[:-1]), before[:-1])     # 63 spectra: dense
    bad = flux.copy()
    bad[5, 7] = np.nan                                                    # dense: NaN spreads
    out = rsp.fold(bad)
    assert np.isnan(out[5]).all() and np.isfinite(np.delete(out, 5, 0)).all()


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_batched_fold_areascal_exposure_dtype_and_shape_as_the_dense_product(dt):
    rng = np.random.default_rng(1)
    rsp, _ = _band_response(exposure=3.0, areascal=rng.uniform(0.5, 1.0, 3 * 64 + 7))
    flux = rng.uniform(0, 1, (2, 70, rsp.n_energy))                     # a (2, 70) batch
    m = rsp.matrix.astype(dt)
    dense = (flux.astype(dt) @ m.T) * (7.0 * rsp.areascal)
    got = rsp.fold(flux, exposure=7.0, dtype=dt)
    assert got.shape == (2, 70, rsp.n_channels)
    assert got.dtype == rsp.fold(flux[0, :3], exposure=7.0, dtype=dt).dtype == dense.dtype
    np.testing.assert_allclose(got, dense, rtol=1e-12 if dt == np.float64 else 1e-5)


def test_batched_fold_zero_bands_dense_matrices_and_a_replaced_matrix():
    from sherpa_rim.response.matrix import Response
    rsp, rng = _band_response()
    m = rsp.matrix.copy()
    rsp.exposure = 2.0
    C, E = m.shape
    flux = rng.uniform(0, 1, (200, E))
    blocks = rsp._blocks(np.float64)
    assert blocks is not None and blocks[-1][1] < C      # the top band reaches no energy: skipped
    out = rsp.fold(flux)
    np.testing.assert_allclose(out, 2.0 * flux @ m.T, rtol=1e-12)
    assert np.all(out[:, blocks[-1][1]:] == 0)
    rsp.fold(flux[:3], dtype=np.float32)                 # caches a float32 copy
    rsp.matrix = rsp.matrix * 2                          # a new matrix: new bands and casts
    np.testing.assert_allclose(rsp.fold(flux), 4.0 * flux @ m.T, rtol=1e-12)
    np.testing.assert_allclose(rsp.fold(flux, dtype=np.float32), 4.0 * flux @ m.T, rtol=1e-5)
    np.testing.assert_allclose(rsp.fold(flux[:3], dtype=np.float32), 4.0 * flux[:3] @ m.T, rtol=1e-5)
    full = Response(rng.uniform(0, 1, (C, E)), rsp.energy_lo, rsp.energy_hi, rsp.channel_lo,
                    rsp.channel_hi, rsp.channels)
    assert full._blocks(np.float64) is None              # no zeros to skip: the dense product
    np.testing.assert_allclose(full.fold(flux), flux @ full.matrix.T, rtol=1e-12)


@pytest.mark.parametrize("key", sorted(PAIRS))
def test_regrid_to_canonical_conserves_counts(key):
    pair = PAIRS[key]
    mdl = _test_model()
    grid = CanonicalGrid.acis()
    rsp = pair.load(with_pha=False, exposure=1e4)
    before = rsp.fold(mdl(rsp.energy_lo, rsp.energy_hi)).sum()
    can = rsp.regrid(grid)
    assert can.matrix.shape == (1024, grid.n_energy)
    after = can.fold(mdl(grid.energy_lo, grid.energy_hi)).sum()
    assert after == pytest.approx(before, rel=1e-3)


def test_regrid_685_channels_spreads_by_energy():
    """An old-format 685-channel response lands on the 1024 PI channels by EBOUNDS overlap."""
    pair = PAIRS.get("sherpa-test-data__arf2278")
    if pair is None:
        pytest.skip("old-format RMF not available")
    rsp = pair.load(with_pha=False, exposure=1e4)
    assert rsp.n_channels == 685
    can = rsp.regrid()
    # a line at 6.7 keV must peak in the PI channel holding 6.7 keV (6.7/0.0146 = 458.9)
    e = can.energy_mid()
    j = np.argmin(np.abs(e - 6.7))
    peak_pi = can.channels[np.argmax(can.matrix[:, j])]
    assert abs(peak_pi - 459) <= 6
    # each energy column keeps its total probability x area
    np.testing.assert_allclose(can.effective_area[j], (rsp.regrid(CanonicalGrid(
        can.energy_lo, can.energy_hi, rsp.channel_lo, rsp.channel_hi)).effective_area)[j], rtol=1e-10)


def test_dense_rmf_several_groups_per_row():
    # 3 energy rows, 6 channels; row 1 has two groups, row 2 has none, offset 1
    n_grp = np.array([1, 2, 0])
    f_chan = np.array([2, 1, 5])
    n_chan = np.array([2, 1, 2])
    matrix = np.array([0.6, 0.4, 0.2, 0.5, 0.3])
    rmf = DataRMF("syn", 6, np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]),
                  n_grp, f_chan, n_chan, matrix, offset=1)
    d = dense_rmf(rmf)
    expected = np.zeros((6, 3))
    expected[1, 0], expected[2, 0] = 0.6, 0.4
    expected[0, 1] = 0.2
    expected[4, 1], expected[5, 1] = 0.5, 0.3
    np.testing.assert_array_equal(d, expected)


def test_rebin_matrix_conserves():
    old = np.linspace(0, 10, 11)
    new = np.array([0.0, 2.5, 7.0, 10.0])
    w_old = rebin_matrix(old[:-1], old[1:], new[:-1], new[1:], "old")
    np.testing.assert_allclose(w_old.sum(axis=1), 1.0)
    w_new = rebin_matrix(old[:-1], old[1:], new[:-1], new[1:], "new")
    np.testing.assert_allclose(w_new.sum(axis=0) * np.diff(new), np.diff(new))


# --------------------------------------------------------------------------
# From a PHA (header keywords) and from a Sherpa session
# --------------------------------------------------------------------------
def _sherpa_set():
    d = sherpa_data_dir()
    if d is None:
        pytest.skip("Sherpa's test data not installed")
    return d / "acisf07867_000N001_r0002_pha3.fits"


def test_load_response_from_pha_header():
    pha = _sherpa_set()
    rsp = load_response(pha=pha)
    hdr = fits.getheader(pha, 1)
    assert rsp.exposure == pytest.approx(hdr["EXPOSURE"])
    assert rsp.n_channels == 1024
    assert rsp.arf_name.endswith("arf3.fits") and rsp.rmf_name.endswith("rmf3.fits")
    assert np.all(rsp.energy_hi > rsp.energy_lo)
    # ARF included: peak effective area of ACIS-S is several hundred cm^2
    assert 200 < rsp.effective_area.max() < 1000


def test_load_response_from_session_matches_get_response(clean_session):
    ui = clean_session
    pha = _sherpa_set()
    ui.load_pha(1, str(pha))
    p1 = ui.create_model_component("powlaw1d", "p1")
    ui.set_source(1, p1)
    p1.gamma = 2.0
    p1.ampl = 1e-4
    rsp = load_response(id=1)
    ref = ui.get_response(1)(p1)(np.arange(1, 1025))
    ours = rsp.fold(p1(rsp.energy_lo, rsp.energy_hi))
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9 * ref.max())
    # same as from the files
    rf = load_response(pha=pha)
    np.testing.assert_allclose(rf.matrix, rsp.matrix)


def test_areascal_is_applied(clean_session, tmp_path):
    ui = clean_session
    src = _sherpa_set()
    dst = tmp_path / "scaled.pha"
    with fits.open(src) as hl:
        hl[1].header["AREASCAL"] = 0.5
        hl.writeto(dst)
    d = sherpa_data_dir()
    for f in ("acisf07867_000N001_r0002_arf3.fits", "acisf07867_000N001_r0002_rmf3.fits"):
        shutil.copy(d / f, tmp_path / f)
    full = load_response(pha=src)
    half = load_response(pha=dst)
    flux = np.full(full.n_energy, 1e-5)
    np.testing.assert_allclose(half.fold(flux), 0.5 * full.fold(flux))
    ui.load_pha(1, str(dst))
    ui.set_source(1, ui.create_model_component("const1d", "c1"))
    ui.get_model_component("c1").c0 = 1e-5
    ref = ui.get_response(1)(ui.get_model_component("c1"))(np.arange(1, 1025))
    ours = half.fold(ui.get_model_component("c1")(half.energy_lo, half.energy_hi))
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


# --------------------------------------------------------------------------
# Bad input: clear errors that name the fix
# --------------------------------------------------------------------------
def test_missing_arf_file_names_the_path(tmp_path):
    d = sherpa_data_dir()
    with pytest.raises(ResponseError, match="does not exist.*check the path"):
        load_response(arf=tmp_path / "nope.arf", rmf=d / "3c273.rmf")


def test_missing_rmf_in_header(tmp_path):
    src = _sherpa_set()
    dst = tmp_path / "lonely.pha"
    shutil.copy(src, dst)      # ARF/RMF named in the header are not beside the copy
    with pytest.raises(ResponseError, match="RESPFILE.*pass rmf="):
        load_response(pha=dst)


def test_channel_count_mismatch(tmp_path):
    pair = PAIRS.get("sherpa-test-data__arf2278")
    if pair is None:
        pytest.skip("685-channel RMF not available")
    with pytest.raises(ResponseError, match="685.*does not belong|DETCHANS=685"):
        load_response(pha=_sherpa_set(), arf=pair.arf, rmf=pair.rmf)


def test_unreadable_fits(tmp_path):
    bad = tmp_path / "broken.rmf"
    bad.write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
    with pytest.raises(ResponseError, match="cannot read.*RMF"):
        load_response(rmf=bad)


def test_nan_counts_in_file(tmp_path):
    src = _sherpa_set()
    d = sherpa_data_dir()
    for f in ("acisf07867_000N001_r0002_arf3.fits", "acisf07867_000N001_r0002_rmf3.fits"):
        shutil.copy(d / f, tmp_path / f)
    dst = tmp_path / "nan.pha"
    with fits.open(src) as hl:
        cols = hl[1].columns
        counts = hl[1].data["COUNTS"].astype(float)
        counts[100] = np.nan
        newcols = fits.ColDefs([c if c.name != "COUNTS" else
                                fits.Column(name="COUNTS", format="D", array=counts)
                                for c in cols])
        hdu = fits.BinTableHDU.from_columns(newcols, header=hl[1].header)
        fits.HDUList([hl[0], hdu]).writeto(dst)
    with pytest.raises(DataError, match="NaN.*channel 101"):
        load_response(pha=dst)


def test_nan_counts_in_session(clean_session):
    ui = clean_session
    ui.load_pha(1, str(_sherpa_set()))
    d = ui.get_data(1)
    c = d.counts.astype(float)
    c[5] = np.nan
    d.counts = c
    with pytest.raises(DataError, match="NaN"):
        load_response(id=1)


def test_arf_rmf_from_different_instruments(tmp_path):
    """An ARF whose energies do not overlap the RMF's is refused."""
    d = sherpa_data_dir()
    arf = io.read_arf(str(d / "3c273.arf"))
    out = tmp_path / "shifted.arf"
    with fits.open(d / "3c273.arf") as hl:
        hl[1].data["ENERG_LO"] = hl[1].data["ENERG_LO"] + 100.0
        hl[1].data["ENERG_HI"] = hl[1].data["ENERG_HI"] + 100.0
        hl.writeto(out)
    assert arf is not None
    with pytest.raises(ResponseError, match="do not overlap.*different instruments"):
        load_response(arf=out, rmf=d / "3c273.rmf")


def test_no_session_data(clean_session):
    with pytest.raises(ResponseError, match="load_pha"):
        load_response(id=7)
