"""cie / vcie / mmabs as Sherpa models: registration, fitting, caching, plots, save_all."""
import subprocess
import sys

import numpy as np
import pytest

import sherpa_rim  # noqa: F401  (registers the models)
from sherpa_rim.emission import cie as cie_mod
from sherpa_rim.response.library import sherpa_data_dir


def _pha():
    return str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")


def test_models_are_registered(clean_session):
    ui = clean_session
    for name in ("cie", "vcie", "mmabs"):
        assert name in ui.list_models()
    c = ui.create_model_component("cie", "c1")
    assert [p.name for p in c.pars] == ["kT", "Abundanc", "redshift", "norm"]
    v = ui.create_model_component("vcie", "v1")
    assert "Fe" in [p.name for p in v.pars] and "Ni" in [p.name for p in v.pars]


def test_kT_hard_limits_are_the_table_range(clean_session):
    ui = clean_session
    c = ui.create_model_component("cie", "c1")
    t = cie_mod.load_table()
    assert c.kT.hard_min == pytest.approx(t.kT_min)
    assert c.kT.hard_max == pytest.approx(t.kT_max)
    from sherpa.utils.err import ParameterErr
    with pytest.raises(ParameterErr):
        c.kT = 100.0


def test_cache_avoids_recomputation(clean_session, monkeypatch):
    from sherpa_rim.emission.fast import GridEvaluator
    ui = clean_session
    c = ui.create_model_component("cie", "c1")
    calls, built = [], []
    real, real_init = GridEvaluator.evaluate, GridEvaluator.__init__

    def counting(self, *a, **k):
        calls.append(1)
        return real(self, *a, **k)

    def init(self, *a, **k):
        built.append(1)
        real_init(self, *a, **k)

    monkeypatch.setattr(GridEvaluator, "evaluate", counting)
    monkeypatch.setattr(GridEvaluator, "__init__", init)
    lo = np.linspace(0.5, 7.0, 100)
    hi = lo + 0.065
    a = c(lo, hi)
    b = c(lo, hi)
    assert len(calls) == 1
    np.testing.assert_array_equal(a, b)
    c.kT = 2.0
    c(lo, hi)
    assert len(calls) == 2 and len(built) == 1         # new parameters: the grid's evaluator reused
    c.redshift = 3.0                                    # outside its redshift range: rebuilt
    c(lo, hi)
    assert len(built) == 2


@pytest.mark.parametrize("grid", ["contiguous", "gaps", "wavelength", "wide-z"])
def test_models_equal_the_pure_function(clean_session, grid):
    """cie and vcie (the per-grid evaluator) give the pure function's numbers
    (``spectrum(line_binning="linear")``) on contiguous grids, grids with ignored channels
    (gaps), wavelength grids (Angstrom, as Sherpa passes them in wavelength analysis) and at
    a redshift outside the evaluator's first range."""
    from sherpa_rim.emission import spectrum
    from sherpa_rim.response.grid import HC_KEV_A, energy_bins
    ui = clean_session
    e = np.linspace(0.3, 10.0, 1001)
    lo, hi = e[:-1], e[1:]
    if grid == "gaps":
        keep = np.r_[0:120, 180:640, 700:1000]
        lo, hi = lo[keep], hi[keep]
    elif grid == "wavelength":
        lo, hi = HC_KEV_A / hi[::-1], HC_KEV_A / lo[::-1]
    z = 2.7 if grid == "wide-z" else 0.043
    c = ui.create_model_component("cie", "c2")
    c.kT, c.Abundanc, c.redshift, c.norm = 1.7, 0.45, z, 2e-3
    model_lo, model_hi = lo, hi
    lo, hi = energy_bins(lo, hi)              # what the model integrates over, in keV
    want = spectrum(1.7, 0.45, z, 2e-3, lo, hi, line_binning="linear",
                    abund_table=sherpa_rim.get_abund())
    np.testing.assert_allclose(c(model_lo, model_hi), want, rtol=1e-8, atol=1e-12 * want.max())
    v = ui.create_model_component("vcie", "v2")
    v.kT, v.redshift, v.O, v.Fe, v.Ni = 0.8, z, 3.0, 0.5, 0.2
    want = spectrum(0.8, 1.0, z, 1.0, lo, hi, line_binning="linear",
                    elements={"O": 3.0, "Fe": 0.5, "Ni": 0.2})
    np.testing.assert_allclose(v(model_lo, model_hi), want, rtol=1e-8, atol=1e-12 * want.max())


def test_vcie_equals_cie_with_same_abundances(clean_session):
    ui = clean_session
    c = ui.create_model_component("cie", "c1")
    v = ui.create_model_component("vcie", "v1")
    c.kT = v.kT = 2.5
    c.Abundanc = 0.4
    for p in v.pars[1:15]:
        if p.name != "He":
            p.val = 0.4
    lo = np.geomspace(0.3, 9.0, 300)
    hi = lo * 1.01
    np.testing.assert_allclose(v(lo, hi), c(lo, hi), rtol=1e-10)


def _simulate(ui, kT, ab, z, seed, norm=5e-3, expo=None):
    ui.clean()
    ui.load_pha(1, _pha())
    gal = ui.create_model_component("mmabs", "gal")
    src = ui.create_model_component("cie", "src")
    ui.set_source(1, gal * src)
    gal.nH = 0.05
    gal.nH.freeze()
    src.kT, src.Abundanc, src.redshift, src.norm = kT, ab, z, norm
    np.random.seed(seed)
    ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=expo or ui.get_exposure(1),
                grouped=False, bkg=None)
    ui.notice(0.5, 7.0)
    ui.set_stat("cstat")
    return src


@pytest.mark.parametrize("kT,ab,z", [(1.3, 0.4, 0.05), (3.0, 0.5, 0.1), (6.0, 0.7, 0.2)])
def test_fit_recovers_inputs_through_real_response(clean_session, kT, ab, z):
    """Simulated through a real ACIS response, cie fits recover kT, abundance and
    redshift within their 90% errors for most seeds (>= 4 of 5 per parameter)."""
    ui = clean_session
    ui.set_conf_opt("sigma", 1.0)          # 1-sigma errors, scaled to 90 % below
    ui.set_covar_opt("sigma", 1.0)
    inside = {"kT": 0, "Abundanc": 0, "redshift": 0}
    for seed in range(5):
        src = _simulate(ui, kT, ab, z, seed)
        src.kT, src.Abundanc, src.redshift, src.norm = kT * 1.3, 1.0, z + 0.01, 3e-3
        src.Abundanc.thaw()
        src.redshift.thaw()
        ui.fit()
        ui.covar()
        res = ui.get_covar_results()
        if any(v is None for v in res.parmins + res.parmaxes):
            # the covariance needs a smooth minimum; the profile (conf) does not
            ui.conf()
            res = ui.get_conf_results()
        for name, lo, hi in zip(res.parnames, res.parmins, res.parmaxes):
            par = name.split(".")[-1]
            if par in inside:
                val = getattr(src, par).val
                truth = {"kT": kT, "Abundanc": ab, "redshift": z}[par]
                assert lo is not None and hi is not None
                if val + 1.6449 * lo <= truth <= val + 1.6449 * hi:
                    inside[par] += 1
    assert all(v >= 4 for v in inside.values()), inside


def test_fit_plot_and_save_all_replay(clean_session, tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    ui = clean_session
    src = _simulate(ui, 2.0, 0.5, 0.05, seed=3)
    # the fake spectrum goes to a file, so that the saved session can reload it
    d = sherpa_data_dir()
    ui.save_pha(1, str(tmp_path / "fake.pi"), clobber=True)
    ui.load_pha(1, str(tmp_path / "fake.pi"))
    ui.load_arf(1, str(d / "acisf07867_000N001_r0002_arf3.fits"))
    ui.load_rmf(1, str(d / "acisf07867_000N001_r0002_rmf3.fits"))
    ui.notice(0.5, 7.0)
    src.kT = 3.0
    src.Abundanc.thaw()
    ui.fit()
    stat = ui.calc_stat()
    ui.plot_fit(1)
    import matplotlib.pyplot as plt
    plt.savefig(tmp_path / "fit.png")
    plt.close("all")
    assert (tmp_path / "fit.png").stat().st_size > 1000
    script = tmp_path / "session.py"
    ui.save_all(str(script), clobber=True)
    text = script.read_text()
    assert "cie" in text
    replay = (f"import sherpa_rim\nfrom sherpa.astro.ui import *\n"
              f"exec(open({str(script)!r}).read())\nprint('STAT', calc_stat())\n")
    r = subprocess.run([sys.executable, "-c", replay], capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    got = float([ln for ln in r.stdout.splitlines() if ln.startswith("STAT")][0].split()[1])
    assert got == pytest.approx(stat, rel=1e-8)
