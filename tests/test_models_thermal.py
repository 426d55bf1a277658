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


@pytest.mark.parametrize("grid", ["ccd", "gaps", "calorimeter"])
def test_bcie_equals_the_pure_function(clean_session, grid):
    """bcie / bvcie (the per-grid evaluator, Gaussian lines) give the pure function's numbers
    (spectrum(broaden=True, velocity=...)) on a CCD grid, one with ignored channels and a
    1 eV microcalorimeter grid. The pure function drops each line's flux beyond +-6 sigma
    (2e-9 of it); the evaluator keeps it in the window's outermost bins: bins may differ by
    that much of the spectrum's flux, no more."""
    from sherpa_rim.emission import spectrum
    ui = clean_session
    if grid == "calorimeter":
        e = np.arange(6.3, 6.9, 0.001)
    else:
        e = np.linspace(0.3, 10.0, 1001)
    lo, hi = e[:-1], e[1:]
    if grid == "gaps":
        keep = np.r_[0:300, 320:700, 705:lo.size]
        lo, hi = lo[keep], hi[keep]
    b = ui.create_model_component("bcie", "b1")
    b.kT, b.Abundanc, b.redshift, b.Velocity, b.norm = 4.0, 0.5, 0.017, 180.0, 1e-3
    want = spectrum(4.0, 0.5, 0.017, 1e-3, lo, hi, broaden=True, velocity=180.0,
                    abund_table=sherpa_rim.get_abund())
    np.testing.assert_allclose(b(lo, hi), want, rtol=1e-7, atol=2e-9 * want.sum())
    v = ui.create_model_component("bvcie", "bv1")
    v.kT, v.Fe, v.Ni, v.redshift, v.Velocity = 4.0, 0.5, 2.0, 0.017, 300.0
    want = spectrum(4.0, 1.0, 0.017, 1.0, lo, hi, broaden=True, velocity=300.0,
                    elements={"Fe": 0.5, "Ni": 2.0})
    np.testing.assert_allclose(v(lo, hi), want, rtol=1e-7, atol=2e-9 * want.sum())


def test_bcie_lines_conserve_flux_and_stay_in_narrow_bins(clean_session):
    """A broadened line keeps its flux; on 100 eV bins a line a few eV wide, well inside its
    bin, is not smeared across neighbours; on 1 eV bins it is a Gaussian of the right width."""
    from sherpa_rim.emission.cie import AMU_KEV, C_KM_S
    ui = clean_session
    b = ui.create_model_component("bcie", "b2")
    c = ui.create_model_component("cie", "c2")
    for m in (b, c):
        m.kT, m.Abundanc, m.norm = 4.0, 1.0, 1.0
    b.Velocity = 200.0
    e = np.linspace(0.2, 12.0, 11801)
    assert b(e[:-1], e[1:]).sum() == pytest.approx(c(e[:-1], e[1:]).sum(), rel=1e-6)
    # 100 eV bins: the 6.70 keV Fe XXV resonance line (sigma ~ 5 eV) sits 0.05 keV from both
    # edges of [6.65, 6.75): the bin holds it as exact binning does (cie shares lines linearly
    # between bin centres, continuous in redshift, so it differs here; bcie does not need to)
    from sherpa_rim.emission import spectrum
    e = np.arange(6.35, 7.06, 0.1)
    lo, hi = e[:-1], e[1:]
    exact = spectrum(4.0, 1.0, 0.0, 1.0, lo, hi, line_binning="exact", abund_table=sherpa_rim.get_abund())
    k = int(np.argmin(np.abs(0.5 * (lo + hi) - 6.70)))
    assert b(lo, hi)[k] == pytest.approx(exact[k], rel=0.005)
    # 0.1 eV bins, lines only: the resonance line's profile has the predicted width
    from sherpa_rim.emission.fast import GridEvaluator
    e = np.arange(6.6884, 6.7124, 0.0001)
    ev = GridEvaluator(e[:-1], e[1:])
    prof = ev.evaluate(4.0, ev.table.weights(1.0), 0.0, 1.0, continuum=False, broaden=True,
                       velocity=200.0)
    mid = 0.5 * (e[:-1] + e[1:])
    mu = np.sum(mid * prof) / prof.sum()
    width = np.sqrt(np.sum((mid - mu) ** 2 * prof) / prof.sum())
    sig = 6.7004 * np.sqrt(4.0 / (55.845 * AMU_KEV) + (200.0 / C_KM_S) ** 2)
    assert abs(mu - 6.7004) < 0.001
    assert width == pytest.approx(sig, rel=0.1)        # a +-12 eV window: +-2.5 sigma


@pytest.mark.parametrize("seed,velocity", [(1, 100.0), (2, 150.0), (3, 200.0), (4, 250.0), (5, 300.0)])
def test_bcie_fit_recovers_velocity_at_calorimeter_resolution(seed, velocity):
    """A 5 eV-FWHM microcalorimeter spectrum (a Gaussian response on 1 eV bins, 6.45-6.75 keV,
    a 4 keV cluster at z = 0.017, 2e4 counts): a bcie fit's 90 % interval on Velocity holds
    the input velocity, for each of 5 seeds (100-300 km/s)."""
    from sherpa.data import Data1D
    from sherpa.estmethods import Confidence
    from sherpa.fit import Fit
    from sherpa.models.model import ArithmeticModel
    from sherpa.optmethods import LevMar
    from sherpa.stats import Cash

    from sherpa_rim.models import BCIE
    e = np.arange(6.40, 6.80 + 1e-9, 0.001)
    elo, ehi = e[:-1], e[1:]
    mid = 0.5 * (elo + ehi)
    ch = (mid > 6.45) & (mid < 6.75)
    sig = 0.005 / 2.3548
    # channel density x channel width: each energy's photons spread over the channels
    R = np.exp(-0.5 * ((mid[ch][:, None] - mid[None, :]) / sig) ** 2) * 0.001 / (np.sqrt(2 * np.pi) * sig)

    src = BCIE("b")
    src.kT, src.Abundanc, src.redshift, src.Velocity, src.norm = 4.0, 0.5, 0.017, velocity, 1.0

    class Folded(ArithmeticModel):
        def __init__(self):
            ArithmeticModel.__init__(self, "folded", tuple(src.pars))

        def calc(self, p, x, *a, **k):
            return (R @ src.calc(p, elo, ehi))[np.asarray(x, int)]
    m = Folded()
    mu = m(np.arange(ch.sum()))
    scale = 2e4 / mu.sum()
    src.norm = scale
    rng = np.random.default_rng(seed)
    counts = rng.poisson(m(np.arange(ch.sum()))).astype(float)
    d = Data1D("cal", np.arange(ch.sum(), dtype=float), counts)
    src.Velocity.thaw()
    src.redshift.thaw()
    src.Velocity = 180.0
    src.redshift = 0.0172
    src.norm = scale * 1.1
    f = Fit(d, m, stat=Cash(), method=LevMar(), estmethod=Confidence())
    f.fit()
    f.estmethod.sigma = 1.6448536
    r = f.est_errors(parlist=(src.Velocity,))
    lo = r.parvals[0] + r.parmins[0]
    hi = r.parvals[0] + r.parmaxes[0]
    assert hi - lo < 200.0                       # the width is measured, not unconstrained
    assert lo <= velocity <= hi


def test_bcie_line_plans_hold_across_their_buckets(clean_session):
    """bcie reuses its line-edge pairs within a kT (x1.5), velocity (x1.25) and 1 + z bucket:
    at both ends of a bucket, after a move to other buckets and back, and at velocity 0, it
    gives the pure function's numbers (a window too narrow for the bucket would put a line's
    flux beyond the window into the window's outermost bins)."""
    from sherpa_rim.emission import spectrum
    ui = clean_session
    e = np.geomspace(0.5, 8.0, 801)
    lo, hi = e[:-1], e[1:]
    b = ui.create_model_component("bcie", "b2")
    b.cache = 0
    k = np.floor(np.log(1.2) / np.log(1.5))
    kT_lo, kT_hi = 1.5 ** k * 1.0001, 1.5 ** (k + 1) * 0.9999
    v_lo, v_hi = 1.25 ** 20 * 1.0001, 1.25 ** 21 * 0.9999          # one velocity bucket
    steps = [(kT_lo, v_lo, 0.0), (kT_hi, v_hi, 0.0), (4.0, 900.0, 0.2), (kT_hi, 0.0, 0.0),
             (kT_lo, v_hi, 0.0), (kT_hi, v_lo, 0.0)]
    for kT, v, z in steps:
        b.kT, b.Velocity, b.redshift, b.norm = kT, v, z, 1e-3
        want = spectrum(kT, 1.0, z, 1e-3, lo, hi, broaden=True, velocity=v,
                        abund_table=sherpa_rim.get_abund())
        got = b(lo, hi)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=2e-9 * want.sum())
        assert got.sum() == pytest.approx(want.sum(), rel=1e-8)
    plans = [ev.__dict__.get("_plans", {}) for ev in b.__dict__["_sr_evaluators"].values()]
    assert sum(len(p) for p in plans) == 3       # one per bucket: (kT, v) = (1.0-1.5, 87-108), (4, 900) at z = 0.2, v = 0
