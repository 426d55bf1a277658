"""Emission backends: AtomDB APEC files (written here in AtomDB's own layout) and xsapec."""
import numpy as np
import pytest
from astropy.io import fits

from sherpa_rim.emission.abundances import solar
from sherpa_rim.emission.backends import AtomDBBackend, get_backend

HC = 12.398419843320026


def _write_atomdb(folder, kts, line_eps, cont_level):
    """apec_line.fits / apec_coco.fits in the AtomDB v3 layout: a PARAMETERS table,
    then one EMISSIVITY extension per temperature."""
    n = len(kts)
    par = fits.BinTableHDU.from_columns([
        fits.Column(name="kT", format="E", unit="keV", array=np.array(kts)),
        fits.Column(name="EDensity", format="E", unit="cm**-3", array=np.ones(n)),
        fits.Column(name="Time", format="E", unit="s", array=np.zeros(n)),
        fits.Column(name="Nelement", format="J", array=np.full(n, 2)),
        fits.Column(name="Nline", format="J", array=np.full(n, 2)),
    ], name="PARAMETERS")
    hdus = [fits.PrimaryHDU(), par]
    for k, kt in enumerate(kts):
        # one Fe XXV line (6.7004 keV) and one O VIII line (0.6537 keV); AG89 abundances included
        lam = np.array([HC / 6.7004, HC / 0.6537])
        eps = np.array(line_eps[k])
        h = fits.BinTableHDU.from_columns([
            fits.Column(name="Lambda", format="E", unit="A", array=lam),
            fits.Column(name="Lambda_Err", format="E", unit="A", array=np.zeros(2)),
            fits.Column(name="Epsilon", format="E", unit="photons cm^3 s^-1", array=eps),
            fits.Column(name="Epsilon_Err", format="E", array=np.zeros(2)),
            fits.Column(name="Element", format="J", array=np.array([26, 8])),
            fits.Column(name="Ion", format="J", array=np.array([25, 8])),
            fits.Column(name="UpperLev", format="J", array=np.array([7, 4])),
            fits.Column(name="LowerLev", format="J", array=np.array([1, 1])),
        ], name="EMISSIVITY")
        h.header["HDUCLASS"] = "ATOMIC"
        h.header["HDUCLAS1"] = "LINE LIST"
        hdus.append(h)
    fits.HDUList(hdus).writeto(folder / "apec_v3.0.9_line.fits")

    nc = 3
    par = fits.BinTableHDU.from_columns([
        fits.Column(name="kT", format="E", array=np.array(kts)),
        fits.Column(name="EDensity", format="E", array=np.ones(n)),
        fits.Column(name="Time", format="E", array=np.zeros(n)),
        fits.Column(name="NElement", format="J", array=np.full(n, 2)),
        fits.Column(name="NCont", format="J", array=np.full(n, nc)),
        fits.Column(name="NPseudo", format="J", array=np.full(n, nc)),
    ], name="PARAMETERS")
    hdus = [fits.PrimaryHDU(), par]
    for k, kt in enumerate(kts):
        ec = np.array([[0.1, 5.0, 12.0]] * 2)
        cc = np.array([[cont_level[k]] * 3, [0.0] * 3])      # H: flat, O: none
        h = fits.BinTableHDU.from_columns([
            fits.Column(name="Z", format="J", array=np.array([1, 8])),
            fits.Column(name="rmJ", format="J", array=np.array([0, 0])),
            fits.Column(name="N_Cont", format="J", array=np.array([nc, nc])),
            fits.Column(name="E_Cont", format=f"{nc}E", unit="keV", array=ec),
            fits.Column(name="Continuum", format=f"{nc}E", unit="photons cm^3 s^-1 keV^-1", array=cc),
            fits.Column(name="Cont_Err", format=f"{nc}E", array=np.zeros((2, nc))),
            fits.Column(name="N_Pseudo", format="J", array=np.array([nc, nc])),
            fits.Column(name="E_Pseudo", format=f"{nc}E", array=ec),
            fits.Column(name="Pseudo", format=f"{nc}E", array=np.zeros((2, nc))),
            fits.Column(name="Pseudo_Err", format=f"{nc}E", array=np.zeros((2, nc))),
        ], name="EMISSIVITY")
        hdus.append(h)
    fits.HDUList(hdus).writeto(folder / "apec_v3.0.9_coco.fits")


def test_atomdb_backend_reads_apec_files(tmp_path, monkeypatch):
    kts = [1.0, 4.0]
    line_eps = [[1e-18, 2e-17], [4e-18, 1e-17]]
    cont = [1e-16, 3e-16]
    _write_atomdb(tmp_path, kts, line_eps, cont)
    monkeypatch.setenv("ATOMDB", str(tmp_path))
    be = get_backend("atomdb")
    e = np.arange(0.5, 7.5, 0.01)
    lo, hi = e[:-1], e[1:]
    s = be.spectrum(2.0, 0.5, 0.0, 1e-3, lo, hi)
    # log-T interpolation weight at 2 keV between 1 and 4 keV
    w = np.log(2.0) / np.log(4.0)
    fe_bin = np.flatnonzero((lo <= 6.7004) & (hi > 6.7004))[0]
    o_bin = np.flatnonzero((lo <= 0.6537) & (hi > 0.6537))[0]
    cont_per_bin = ((1 - w) * cont[0] + w * cont[1]) * 0.01 * 1e-3 * 1e14
    fe = ((1 - w) * line_eps[0][0] + w * line_eps[1][0]) * 0.5 * 1e-3 * 1e14   # abundance 0.5
    o = ((1 - w) * line_eps[0][1] + w * line_eps[1][1]) * 0.5 * 1e-3 * 1e14
    assert s[fe_bin] == pytest.approx(fe + cont_per_bin, rel=1e-5)
    assert s[o_bin] == pytest.approx(o + cont_per_bin, rel=1e-5)
    assert s[100] == pytest.approx(cont_per_bin, rel=1e-5)
    # another solar table rescales the (AG89-including) emissivities
    be2 = AtomDBBackend(str(tmp_path), abund_table="aspl")
    s2 = be2.spectrum(2.0, 0.5, 0.0, 1e-3, lo, hi)
    ratio = solar("aspl")[-2] / solar("angr")[-2]       # Fe
    assert (s2[fe_bin] - cont_per_bin) == pytest.approx(fe * ratio, rel=1e-5)


def test_atomdb_backend_without_files_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("ATOMDB", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"\*_line.fits"):
        get_backend("atomdb")


def test_auto_backend_is_chianti_without_xspec_or_atomdb(monkeypatch):
    monkeypatch.delenv("ATOMDB", raising=False)
    try:
        import sherpa.astro.xspec  # noqa: F401
        pytest.skip("XSPEC present: 'auto' picks xsapec")
    except ImportError:
        pass
    assert get_backend("auto").name == "chianti"


def test_xsapec_backend_agrees_with_chianti_when_xspec_exists():
    pytest.importorskip("sherpa.astro.xspec", exc_type=ImportError)
    xs = get_backend("xsapec")
    ch = get_backend("chianti")
    e = np.geomspace(0.5, 7.0, 200)
    a = xs.spectrum(3.0, 0.5, 0.05, 1e-3, e[:-1], e[1:])
    b = ch.spectrum(3.0, 0.5, 0.05, 1e-3, e[:-1], e[1:])
    # different atomic databases: compare the broad-band flux
    assert b.sum() == pytest.approx(a.sum(), rel=0.15)


def test_xsapec_backend_error_without_xspec():
    try:
        import sherpa.astro.xspec  # noqa: F401
        pytest.skip("XSPEC present")
    except ImportError:
        pass
    from sherpa_rim.errors import MissingDependencyError
    with pytest.raises(MissingDependencyError, match="chianti"):
        get_backend("xsapec")
