"""Cross-calibration: the gain and area models in Sherpa, and compare() across observations."""
import json
import subprocess
import sys

import numpy as np
import pytest

import sherpa_rim  # noqa: F401  (registers the models)
from sherpa_rim.models import CIE, AreaCorr, GainShift, MMAbs
from sherpa_rim.response.library import sherpa_data_dir

PHA = "acisf07867_000N001_r0002_pha3.fits"


def _arf_rmf():
    from sherpa.astro.io import read_arf, read_rmf
    d = sherpa_data_dir()
    return (read_arf(str(d / "acisf07867_000N001_r0002_arf3.fits")),
            read_rmf(str(d / "acisf07867_000N001_r0002_rmf3.fits")))


def _source(kT=3.0, ab=0.4, z=0.05, nH=0.02):
    gal, c = MMAbs("g"), CIE("c")
    gal.nH, c.kT, c.Abundanc, c.redshift, c.norm = nH, kT, ab, z, 1e-3
    return gal * c


def _pha(arf, rmf, counts=None, band=(0.5, 7.0)):
    from sherpa.astro.data import DataPHA
    n = rmf.detchans
    d = DataPHA("t", np.arange(1, n + 1, dtype=float),
                np.zeros(n) if counts is None else counts, exposure=5e4)
    d.set_arf(arf)
    d.set_rmf(rmf)
    d.set_analysis("energy")
    d.notice(*band)
    return d


def _fake(arf, rmf, slope=1.0, area=None, counts=1e5, seed=0, **src):
    """Poisson counts through the response with a gain ``slope`` (and an area factor)."""
    from sherpa.astro.instrument import Response1D
    d = _pha(arf, rmf)
    g = GainShift("inj").attach(arf=arf)
    g.slope = slope
    m = g(_source(**src))
    if area is not None:
        m = area * m
    mu = d.eval_model(Response1D(d)(m))
    mu *= counts / mu[d.get_mask()].sum()
    d.counts = np.random.default_rng(seed).poisson(mu).astype(float)
    return d


def _rebinned_area(arf, lo, hi):
    """Independent: the ARF averaged over each bin [lo, hi), by explicit overlaps."""
    out = np.zeros(lo.size)
    for i, (a, b) in enumerate(zip(lo, hi)):
        ov = np.clip(np.minimum(arf.energ_hi, b) - np.maximum(arf.energ_lo, a), 0, None)
        out[i] = np.sum(ov * arf.specresp) / (b - a)
    return out


@pytest.mark.parametrize("slope,offset", [(1.02, 0.0), (0.99, 0.015), (1.0, -0.02)])
def test_gain_reproduces_xspec_definition(slope, offset):
    """gainshift(src) through the nominal response equals src through a response built
    independently as XSPEC documents its gain: the RMF's energy grid mapped by
    E' = E / slope - offset, the effective area that of the mapped energies."""
    from sherpa.astro.data import DataARF, DataRMF
    from sherpa.astro.instrument import Response1D
    arf, rmf = _arf_rmf()
    d = _pha(arf, rmf, band=(0.3, 9.0))
    g = GainShift("g").attach(arf=arf)
    g.slope, g.offset = slope, offset
    src = _source()
    ours = d.eval_model(Response1D(d)(g(src)))
    lo2 = rmf.energ_lo / slope - offset
    hi2 = rmf.energ_hi / slope - offset
    rmf2 = DataRMF("shifted", rmf.detchans, lo2, hi2, rmf.n_grp, rmf.f_chan, rmf.n_chan, rmf.matrix,
                   offset=rmf.offset, e_min=rmf.e_min, e_max=rmf.e_max)
    arf2 = DataARF("shifted", lo2, hi2, _rebinned_area(arf, lo2, hi2), exposure=arf.exposure)
    d2 = _pha(arf2, rmf2, band=(0.3, 9.0))
    theirs = d2.eval_model(Response1D(d2)(src))
    m = d.get_mask()
    np.testing.assert_allclose(ours[m], theirs[m], rtol=1e-6, atol=1e-9 * theirs.max())
    # a shift is visible: not the nominal counts
    g.slope, g.offset = 1.0, 0.0
    nominal = d.eval_model(Response1D(d)(g(src)))
    assert np.max(np.abs(nominal[m] - theirs[m])) > 1e-3 * theirs.max()


def test_gain_kernel_needs_its_arf_and_wavelength_agrees():
    from sherpa.astro.instrument import Response1D
    from sherpa.utils.err import ModelErr
    arf, rmf = _arf_rmf()
    d = _pha(arf, rmf)
    g = GainShift("g")
    with pytest.raises(ModelErr, match="attach"):
        d.eval_model(Response1D(d)(g(_source())))
    g.attach(arf=arf)
    g.slope = 1.01
    e = d.eval_model(Response1D(d)(g(_source())))
    d.set_analysis("wave")
    w = d.eval_model(Response1D(d)(g(_source())))
    np.testing.assert_allclose(w, e, rtol=1e-6, atol=1e-12 * e.max())


def test_area_correction_shape():
    """factor x (1 + d(E)), d piecewise linear in log E through the knots, flat beyond."""
    a = AreaCorr("a")
    e = np.array([0.3, 0.5, 0.75, 1.0, 3.0, 8.0, 10.0])
    a.factor = 1.1
    a.d2 = 0.2                                   # the 1 keV knot
    got = a(e - 1e-4, e + 1e-4)
    want = 1.1 * (1 + np.array([0.0, 0.0, 0.2 * np.log(0.75 / 0.5) / np.log(2), 0.2, 0.0, 0.0, 0.0]))
    np.testing.assert_allclose(got, want, rtol=1e-3)


def test_set_gain_fit_and_conf(clean_session):
    """set_gain / set_area_correction on session data sets: a fit of two observations with
    the source shared recovers an injected 1 % gain inside its conf() interval."""
    from sherpa_rim import crosscal
    ui = clean_session
    arf, rmf = _arf_rmf()
    ui.set_data(1, _fake(arf, rmf, slope=1.0, seed=1))
    ui.set_data(2, _fake(arf, rmf, slope=1.01, seed=2))
    gal = ui.create_model_component("mmabs", "gal")
    c = ui.create_model_component("cie", "c")
    gal.nH = 0.02
    gal.nH.freeze()
    c.kT, c.Abundanc, c.redshift, c.norm = 2.5, 0.5, 0.04, 1e-3
    c.Abundanc.thaw()
    c.redshift.thaw()
    ui.set_source(1, gal * c)
    ui.set_source(2, gal * c)
    g = crosscal.set_gain(2)
    a = crosscal.set_area_correction(2)
    assert ui.get_source(2).name == "areacorr.area_2 * gainshift.gain_2(mmabs.gal * cie.c)"
    with pytest.raises(sherpa_rim.SherpaRimError, match="already has a gain"):
        crosscal.set_gain(2)
    ui.set_stat("cstat")
    ui.fit()
    ui.conf(g.slope)
    r = ui.get_conf_results()
    lo, hi = r.parvals[0] + r.parmins[0], r.parvals[0] + r.parmaxes[0]
    assert lo < 1.01 < hi and hi - lo < 0.005
    assert a.factor.val == pytest.approx(1.0, abs=0.03)


def test_save_all_reattaches_the_gain(clean_session, tmp_path):
    """The gainshift and areacorr rows of docs/sherpa_session.md's table: sherpa_rim.save_all
    writes both models' Parameters and the gain's attach line, and its script restores the same
    statistic in a fresh Python; Sherpa's own script leaves the gain unattached, and the replay
    stops saying so (with the areacorr alone it restores the statistic); save / restore carries
    everything."""
    from sherpa_rim import crosscal
    ui = clean_session
    ui.load_pha(1, str(sherpa_data_dir() / PHA))
    ui.notice(0.5, 7.0)
    ui.set_source(1, ui.create_model_component("mmabs", "gal") * ui.create_model_component("cie", "c"))
    ui.get_model_component("c").norm = 2e-4
    g = crosscal.set_gain(1)
    g.slope = 1.013
    a = crosscal.set_area_correction(1, knots=(2, 4))
    a.factor, a.d2, a.d4 = 0.93, 0.05, -0.04            # the areacorr row: its values count
    ui.set_stat("cstat")
    stat = ui.calc_stat()
    a.d2 = 0.0
    assert ui.calc_stat() != pytest.approx(stat, rel=1e-5)
    a.d2 = 0.05
    script = tmp_path / "s.py"
    sherpa_rim.save_all(str(script))
    assert "attach(1)" in script.read_text() and "areacorr" in script.read_text()
    code = (f"exec(open({str(script)!r}).read())\n"
            "from sherpa.astro.ui import calc_stat\nprint('STAT', calc_stat())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    got = float([ln for ln in out.stdout.splitlines() if ln.startswith("STAT")][0].split()[1])
    assert got == pytest.approx(stat, rel=1e-5)
    # Sherpa's own script carries the Parameters but not the attachment: the replay says so
    plain = tmp_path / "plain.py"
    ui.save_all(str(plain))
    code = ("import sherpa_rim\n" f"exec(open({str(plain)!r}).read())\n"
            "from sherpa.astro.ui import calc_stat\nprint('STAT', calc_stat())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "attach" in out.stderr
    # save / restore pickles the session, the attachment included
    ui.save(str(tmp_path / "s.save"), clobber=True)
    code = ("import sherpa_rim\nfrom sherpa.astro.ui import restore, calc_stat\n"
            f"restore({str(tmp_path / 's.save')!r})\nprint('STAT', calc_stat())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    got = float([ln for ln in out.stdout.splitlines() if ln.startswith("STAT")][0].split()[1])
    assert got == pytest.approx(stat, rel=1e-9)
    # without the gain, Sherpa's own script carries the areacorr (ordinary Parameters)
    ui.set_source(1, a * ui.get_model_component("gal") * ui.get_model_component("c"))
    stat = ui.calc_stat()
    ui.save_all(str(plain), clobber=True)
    code = ("import sherpa_rim\n" f"exec(open({str(plain)!r}).read())\n"
            "from sherpa.astro.ui import calc_stat\nprint('STAT', calc_stat())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-1500:]
    got = float([ln for ln in out.stdout.splitlines() if ln.startswith("STAT")][0].split()[1])
    assert got == pytest.approx(stat, rel=1e-5)


def test_compare_detects_a_gain_shift_and_passes_a_null_pair(tmp_path):
    from sherpa_rim import crosscal
    arf, rmf = _arf_rmf()
    null = crosscal._compare([_fake(arf, rmf, seed=3), _fake(arf, rmf, seed=4)], ["a", "b"],
                             ("joint", "network"), None, 0.02, "slope", "knots", 8)
    shifted = crosscal._compare([_fake(arf, rmf, seed=5), _fake(arf, rmf, slope=1.02, seed=6)],
                                ["a", "b"], ("joint", "network"), None, 0.02, "slope", "knots", 8)
    assert null.routes["joint"]["p"] > 1e-3
    assert shifted.routes["joint"]["p"] < 1e-6
    o = shifted.routes["joint"]["observations"][1]
    assert abs(o["gain_6keV_eV"] - 120.0) < 3 * o["sigma_6keV_eV"] and o["sigma_6keV_eV"] < 30
    assert "gain at 1 keV" in shifted.deviating("joint", 1)
    for suffix in (".fits", ".ecsv"):
        path = shifted.write(tmp_path / f"cc{suffix}")
        from astropy.table import Table
        t = Table.read(path)
        assert len(t) == 2 and set(t["ROUTE"]) == {"joint", "network"}
    json.dumps(shifted.to_dict())


@pytest.mark.requires_data
def test_cli_crosscal_on_real_spectra_and_refusal(shared_dir, tmp_path):
    """The CLI on real Chandra spectra: two ACIS spectra of ObsID 1575 with a power law as the
    joint fit's source (a table; with --json the JSON alone on stdout); the RIM route refused
    in one line (exit 2) when a spectrum is not thermal (ObsID 4736's source, 11,600 counts that no
    one- or two-temperature plasma fits)."""
    from sherpa_rim.response.library import ResponseLibrary
    lib = {p.key: p for p in ResponseLibrary.from_manifest(shared_dir)}

    def files(*keys):
        ps = [lib[k] for k in keys]
        return ([str(p.pha) for p in ps] + ["--arf"] + [str(p.arf) for p in ps]
                + ["--rmf"] + [str(p.rmf) for p in ps])
    out = tmp_path / "cc.fits"
    cli = [sys.executable, "-m", "sherpa_rim.cli", "crosscal"]
    r = subprocess.run(cli + files("sherpa-standalone-notebooks__acisf01575_001N001_r0043_arf3",
                                   "sherpa-test-data__acisf01575_001N001_r0085_arf3")
                       + ["--routes", "joint", "--source", "mmabs.gal * powlaw1d.pl", "--out",
                          str(out), "--json"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert set(d["consistency_p"]) == {"joint"} and len(d["rows"]) == 1
    from astropy.table import Table
    assert len(Table.read(out)) == 1
    r = subprocess.run(cli + files("sherpa__acisf07867_000N001_r0002_arf3",
                                   "sherpa__acisf04736_000N001_r0079_arf3") + ["--routes", "rim"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("sherpa-rim: error")]
    assert len(err) == 1 and "outside" in err[0] and "--routes joint" in err[0]
    assert "Traceback" not in r.stderr


def test_rim_route_gain_error_is_the_calibrated_one():
    """The RIM route's gain error is the alignment's curvature error times the factor the
    manifest measured on the validation ObsIDs for the pair's fainter count class (the
    curvature error alone, bins taken as independent, under-covers), and says so; a RIM
    without the calibration says that its error is not calibrated."""
    from sherpa_rim.crosscal.routes import fainter_class, gain_factor, rim_route
    from sherpa_rim.observation import observation_from_data
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.runtime import shared
    dec = shared(RIMDeconvolver, "rim_default")
    cal = dec.session.entry.get("crosscal_gain_calibration")
    assert cal and cal["split"] == "val" and cal["pooled"] > 1.0
    arf, rmf = _arf_rmf()
    res = [dec.deconvolve(observation_from_data(_fake(arf, rmf, counts=c, seed=k, slope=s),
                                                dec.grid), n_samples=8, seed=k, nH=0.02)
           for k, (c, s) in enumerate(((3e4, 1.0), (3e3, 1.01)))]
    assert fainter_class(res) == "1e3-1e4"
    f = gain_factor(cal, res)
    assert f == cal["classes"].get("1e3-1e4", cal["pooled"]) and f > 1.0
    raw = rim_route(res, 0, 0.05)
    calibrated = rim_route(res, 0, 0.05, cal)
    a, b = raw["observations"][1], calibrated["observations"][1]
    assert b["slope"] == a["slope"]
    assert b["sigma_slope"] == pytest.approx(f * a["sigma_slope"], rel=1e-12)
    assert "NOT calibrated" in raw["method"] and "calibrated on the validation" in calibrated["method"]
    # the p-value: chi2 of the band log-ratios against the validation null pairs of the class
    from sherpa_rim.crosscal.routes import calibrated_p
    null = dec.session.entry["crosscal_null_calibration"]
    with_null = rim_route(res, 0, 0.05, cal, null)
    c = with_null["observations"][1]
    assert c["chi2"] == a["chi2"] and a["p"] == a["p_chi2"]
    assert c["p"] == calibrated_p(c["chi2"], null, "1e3-1e4")[0] and "1e3-1e4" in c["p_from"] or \
        "pooled" in c["p_from"]
    assert "p calibrated on null pairs" in with_null["method"] and "p NOT calibrated" in raw["method"]


def test_calibrated_p_counts_null_pairs():
    """A route's p-value is the share of its calibration's null statistics at or above the
    observed one, (1 + k) / (1 + n); a class with fewer than MIN_NULL pairs takes the pooled
    ones; under the calibration's own nulls, p <= 0.05 for at most 5 % of them (a Monte Carlo
    p-value is never anti-conservative)."""
    from sherpa_rim.crosscal.routes import MIN_NULL, calibrated_p
    null = list(np.arange(1.0, 100.0))                      # 99 values
    cal = {"classes": {"1e4-1e5": null, "1e3-1e4": [1.0] * (MIN_NULL - 1)},
           "pooled": list(np.arange(0.5, 200.0, 0.5))}
    p, how = calibrated_p(95.5, cal, "1e4-1e5")
    assert p == pytest.approx(5 / 100) and "99 null pairs, class 1e4-1e5" in how
    assert calibrated_p(1000.0, cal, "1e4-1e5")[0] == pytest.approx(1 / 100)
    p, how = calibrated_p(100.0, cal, "1e3-1e4")            # too few in the class: pooled
    assert "pooled" in how and p == pytest.approx((1 + 200) / (1 + 399))
    assert calibrated_p(3.0, None, "1e3-1e4") == (None, "no null calibration")
    ps = np.array([calibrated_p(x, cal, "1e4-1e5")[0] for x in null])
    assert np.mean(ps <= 0.05) == pytest.approx(4 / 99)      # 96, 97, 98, 99


def test_learned_routes_use_the_validation_calibrations():
    """The manifest holds each learned route's null calibration (validation ObsIDs, enough
    pairs per count class) and the network route's gain factor; the network route's p and
    gain error are those of the calibration, and it says so; without one it says it is not
    calibrated."""
    from sherpa_rim.amortised.params import ParameterEstimator
    from sherpa_rim.crosscal.routes import MIN_NULL, calibrated_p, network_route
    from sherpa_rim.rim.deconvolver import RIMDeconvolver
    from sherpa_rim.runtime import shared
    rim = shared(RIMDeconvolver, "rim_default").session.entry["crosscal_null_calibration"]
    net = shared(ParameterEstimator, "param_default").entry["crosscal_null_calibration"]
    for cal in (rim, net["null"]):
        assert cal["split"] == "val"
        assert sum(len(v) >= MIN_NULL for v in cal["classes"].values()) >= 2
        assert all(np.all(np.diff(v) >= 0) for v in cal["classes"].values())
    assert net["gain"]["split"] == "val" and net["gain"]["pooled"] > 0

    def est(m):
        return {"proposal": {"mean": m, "sd": [0.05, 0.1, 0.002, 0.05]}}
    ests = [est([1.0, 0.5, 0.05, -3.0]), est([1.08, 0.45, 0.054, -2.9])]
    raw = network_route(ests, 0)
    cal = network_route(ests, 0, ["1e4-1e5", "1e3-1e4"], net)
    a, b = raw["observations"][1], cal["observations"][1]
    assert a["chi2"] == b["chi2"] and a["p"] == a["p_chi2"]
    assert b["p"] == calibrated_p(b["chi2"], net["null"], "1e3-1e4")[0]
    f = net["gain"]["classes"].get("1e3-1e4", net["gain"]["pooled"])
    assert b["sigma_slope"] == pytest.approx(f * a["sigma_slope"], rel=1e-12)
    assert "NOT calibrated" in raw["method"] and "calibrated on null" in cal["method"]
    assert cal["p"] == b["p"]          # one comparison: Bonferroni factor 1


def test_several_observations_take_the_bonferroni_p():
    """With three observations the set's p is min(1, 2 x the smallest observation's p)."""
    from sherpa_rim.amortised.params import ParameterEstimator
    from sherpa_rim.crosscal.routes import network_route
    from sherpa_rim.runtime import shared
    net = shared(ParameterEstimator, "param_default").entry["crosscal_null_calibration"]

    def est(m):
        return {"proposal": {"mean": m, "sd": [0.05, 0.1, 0.002, 0.05]}}
    ests = [est([1.0, 0.5, 0.05, -3.0]), est([1.03, 0.47, 0.051, -2.95]),
            est([1.1, 0.4, 0.056, -2.8])]
    rep = network_route(ests, 0, ["1e4-1e5"] * 3, net)
    ps = [o["p"] for o in rep["observations"].values()]
    assert len(ps) == 2 and rep["p"] == pytest.approx(min(1.0, 2 * min(ps)))
    assert rep["p"] > min(ps)
