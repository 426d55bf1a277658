"""The RIM inside a Sherpa session: rimspec, deconvolve(), the prior, save_all/restore,
real Chandra spectra, the CLI and the demo."""
import json
import subprocess
import sys

import numpy as np
import pytest

import sherpa_rim
from sherpa_rim.response.library import sherpa_data_dir

SHERPA_PHA = str(sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")


def _fake_group(ui, id=1, kT=1.3, ab=0.4, z=0.0123, norm=2e-3, expo=40e3, seed=0, pha=SHERPA_PHA):
    ui.load_pha(id, pha)
    src = ui.create_model_component("cie", f"truth{id}")
    src.kT, src.Abundanc, src.redshift, src.norm = kT, ab, z, norm
    ui.set_source(id, src)
    np.random.seed(seed)
    ui.fake_pha(id, arf=ui.get_arf(id), rmf=ui.get_rmf(id), exposure=expo, grouped=False, bkg=None)
    return src


def _fake_absorbed_group(ui, seed, nH=0.1):
    """The demo's group seen through a Galactic column (source mmabs.gal * cie.truth), 40 ks."""
    ui.load_pha(1, SHERPA_PHA)
    gal = ui.create_model_component("mmabs", "gal")
    truth = ui.create_model_component("cie", "truth")
    gal.nH = nH
    truth.kT, truth.Abundanc, truth.redshift, truth.norm = 1.3, 0.4, 0.0123, 2e-3
    ui.set_source(1, gal * truth)
    np.random.seed(seed)
    ui.fake_pha(1, arf=ui.get_arf(1), rmf=ui.get_rmf(1), exposure=40e3, grouped=False, bkg=None)
    return truth


def _cie_fit_setup(ui, expo, seed, band, start):
    """A faked demo group, noticed in ``band``, with a fresh cie component started at
    ``start`` = (kT, abundance, norm) as its source."""
    _fake_group(ui, expo=expo, seed=seed)
    ui.notice(*band)
    src = ui.create_model_component("cie", "c1")
    ui.set_source(1, src)
    src.kT, src.Abundanc, src.norm = start
    return src


@pytest.mark.requires_data
def test_session_script_rimspec_fit_plot_save_replay(clean_session, shared_dir, tmp_path):
    """Load a real PHA from ../shared/data/chandra, set_source the RIM model, fit(), plot_fit(),
    save_all() and replay the script in a fresh process to the same statistic."""
    import matplotlib
    matplotlib.use("Agg")
    ui = clean_session
    from sherpa_rim.response.library import ResponseLibrary
    pair = ResponseLibrary.from_manifest(shared_dir)["sherpa__acisf04938_000N002_r0043_arf3"]
    ui.load_pha(1, str(pair.pha))
    ui.load_arf(1, str(pair.arf))        # the header names the archive files, not these copies
    ui.load_rmf(1, str(pair.rmf))
    ui.group_counts(1, 20)
    ui.notice(0.5, 7.0)
    ui.set_stat("chi2gehrels")
    r = ui.create_model_component("rimspec", "r1")
    ui.set_source(1, r)
    ui.fit(1)
    stat = ui.calc_stat(1)
    assert np.isfinite(stat) and r.norm.val > 0
    ui.plot_fit(1)
    ui.conf(1)
    res = ui.get_conf_results()
    # norm scales the whole spectrum: its 1-sigma interval is the counting error of the
    # noticed counts, 1/sqrt(N) in relative terms (chi2gehrels widens it slightly)
    n = ui.get_data(1).get_dep(filter=True).sum()
    half = 0.5 * (res.parmaxes[0] - res.parmins[0]) / r.norm.val
    assert 0.8 < half * np.sqrt(n) < 1.5, (half, n)
    script = tmp_path / "session.py"
    ui.save_all(str(script), clobber=True)
    replay = (f"import sherpa_rim\nfrom sherpa.astro.ui import *\n"
              f"exec(open({str(script)!r}).read())\nprint('STAT', calc_stat(1))\n")
    out = subprocess.run([sys.executable, "-c", replay], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = float([ln for ln in out.stdout.splitlines() if ln.startswith("STAT")][0].split()[1])
    assert got == pytest.approx(stat, rel=1e-5)     # save_all writes parameter values to ~7 digits


def test_deconvolve_result_interface_and_write(clean_session, tmp_path):
    ui = clean_session
    _fake_group(ui)
    ui.notice(0.5, 7.0)
    res = sherpa_rim.deconvolve(id=1)
    for k in ("energy_lo", "energy_hi", "flux", "flux_lo", "flux_hi", "flux_lo90", "flux_hi90"):
        assert getattr(res, k).shape == res.energy_lo.shape
    # the bands: 90 % outside 68 % around the reconstruction, with width in the noticed band
    band = (res.energy_lo > 0.6) & (res.energy_hi < 6.5)
    assert np.all(res.flux_lo90 <= res.flux_lo) and np.all(res.flux_lo <= res.flux)
    assert np.all(res.flux <= res.flux_hi) and np.all(res.flux_hi <= res.flux_hi90)
    assert np.all(res.flux_hi[band] > res.flux_lo[band])
    # the goodness of fit is the C-statistic against its expectation, with a p-value
    g = res.gof
    assert g["statistic"] == "cstat" and 0.0 <= g["p"] <= 1.0
    assert abs(g["value"] - g["expected"]) < 6 * g["sd"]
    assert "goodness of fit" in res.summary() and "68 % and 90 %" in res.summary()
    f = res.write(tmp_path / "rim.fits")
    from astropy.io import fits
    with fits.open(f) as hl:
        h = hl[1].header
        assert h["MODEL"] == "rim_default" and len(h["MODELSHA"]) == 64
        assert set(hl[1].columns.names) == {"ENERG_LO", "ENERG_HI", "FLUX", "FLUX_LO", "FLUX_HI",
                                            "FLUX_LO90", "FLUX_HI90"}
        assert h["GOF_STAT"] == "cstat" and h["GOF_P"] == pytest.approx(g["p"])
        assert h["BANDCLS"] == res.band_class
        assert any("calibrated" in c for c in h["COMMENT"])
        bands = hl["BANDS"].data
        assert list(bands["BAND"]) == list(res.bands)
        assert np.all(bands["FLUX_LO90"] <= bands["FLUX"]) and np.all(bands["FLUX"] <= bands["FLUX_HI90"])
    e = res.write(tmp_path / "rim.ecsv")
    assert "FLUX_HI" in e.read_text()
    with pytest.raises(FileExistsError, match="overwrite"):
        res.write(tmp_path / "rim.fits")


def test_deconvolved_flux_matches_truth_in_physical_units(clean_session):
    """The reconstruction is in photons/cm^2/s: its 0.5-7 keV flux matches the input's."""
    ui = clean_session
    truth = _fake_group(ui, expo=80e3, seed=2)
    ui.notice(0.5, 7.0)
    res = sherpa_rim.deconvolve(id=1)
    true_f = truth(res.energy_lo, res.energy_hi)
    band = (res.energy_lo >= 0.5) & (res.energy_hi <= 7.0)
    assert res.flux[band].sum() == pytest.approx(true_f[band].sum(), rel=0.1)


def test_notice_filter_and_background_and_grouping(clean_session):
    ui = clean_session
    d = sherpa_data_dir()
    ui.load_pha(1, str(d / "3c273.pi"))           # grouped, with a background
    ui.notice(1.0, 6.0)
    res = sherpa_rim.deconvolve(id=1)
    c = 0.5 * (res.channel_lo + res.channel_hi)
    # Sherpa notices whole groups: the channel mask it reports is what must be followed
    data = ui.get_data(1)
    mask = data.get_mask()
    rmf = ui.get_rmf(1)
    lo_e, hi_e = rmf.e_min[mask].min(), rmf.e_max[mask].max()
    assert not res.noticed[c < lo_e - 0.03].any() and not res.noticed[c > hi_e + 0.03].any()
    assert res.noticed[(c > 1.2) & (c < 5.8)].all()
    assert res.noticed.sum() < 0.8 * res.noticed.size
    assert np.isfinite(res.chi2_dof)
    # the background is subtracted as Sherpa subtracts it: the background-subtracted counts of
    # the channels that map wholly inside 1.2-5.8 keV agree with Sherpa's own subtraction
    assert data.background_ids
    inner = (c > 1.2) & (c < 5.8)
    rmf_c = 0.5 * (rmf.e_min + rmf.e_max)
    net = np.asarray(data.counts, float) - ui.get_bkg_scale(1) * np.asarray(ui.get_bkg(1).counts, float)
    sherpa_net = net[(rmf_c > c[inner].min() - 0.0073) & (rmf_c < c[inner].max() + 0.0073)].sum()
    assert res.data[inner].sum() == pytest.approx(sherpa_net, rel=0.02)
    assert sherpa_net < 0.99 * np.asarray(data.counts, float)[
        (rmf_c > c[inner].min()) & (rmf_c < c[inner].max())].sum()     # a background to see


def test_several_datasets_and_wavelength_analysis(clean_session):
    import matplotlib
    matplotlib.use("Agg")
    ui = clean_session
    _fake_group(ui, id=1, seed=3)
    _fake_group(ui, id=2, seed=4, pha=str(sherpa_data_dir() / "acisf04938_000N002_r0043_pha3.fits"))
    r1 = ui.create_model_component("rimspec", "ra")
    r2 = ui.create_model_component("rimspec", "rb")
    ui.set_source(1, r1)
    ui.set_source(2, r2)
    ui.notice(0.5, 7.0)
    ui.set_stat("cstat")
    ui.fit()
    # one source seen through two different responses (ObsIDs 7867 and 4938) deconvolves to
    # the same intrinsic spectrum: each reconstruction's 0.6-6 keV photon flux is the truth's
    t = ui.get_model_component("truth1")
    for r in (r1, r2):
        res = r.result()
        band = (res.energy_lo > 0.6) & (res.energy_hi < 6.0)
        true = t(res.energy_lo, res.energy_hi)[band].sum()
        assert r.norm.val * res.flux[band].sum() == pytest.approx(true, rel=0.1), r.name
    e_stat = ui.calc_stat(1)
    ui.set_analysis(1, "wave")
    assert ui.calc_stat(1) == pytest.approx(e_stat, rel=1e-6)   # only grid round-off differs
    ui.plot_fit(1)
    ui.set_analysis(1, "energy")


def test_rim_prior_with_levmar_neldermead_and_draws(clean_session):
    """The prior statistic works with LevMar (the prior terms are part of the per-bin
    vector), NelderMead and get_draws."""
    from sherpa_rim.stats import RIMPriorChi2, RIMPriorCStat
    ui = clean_session
    _fake_group(ui, expo=20e3, seed=5)
    ui.group_counts(1, 15)
    ui.notice(0.5, 7.0)
    src = ui.create_model_component("cie", "c1")
    ui.set_source(1, src)
    src.kT, src.Abundanc, src.norm = 2.5, 1.0, 1e-3
    src.Abundanc.thaw()
    ui.set_stat(RIMPriorChi2(id=1))
    ui.set_method("levmar")
    ui.fit()
    assert abs(src.kT.val - 1.3) < 0.3
    n_data = ui.get_data(1).get_dep(filter=True).size
    per_bin = ui.calc_chisqr(1)
    assert per_bin.size > n_data
    with_prior = ui.calc_stat()
    ui.set_stat("chi2datavar")
    assert with_prior == pytest.approx(ui.calc_stat() + per_bin[n_data:].sum(), rel=1e-9)
    ui.ungroup(1)
    ui.notice(0.5, 7.0)
    ui.set_stat(RIMPriorCStat(id=1))
    ui.set_method("neldermead")
    ui.fit()
    ui.covar()
    stats, accept, params = ui.get_draws(niter=200)
    assert np.isfinite(stats).all() and params.shape[1] == 201


def test_rim_prior_is_the_calibrated_band_prior(clean_session):
    """The RIM prior is d^T C^-1 d over the calibrated bands inside the noticed range: C is
    the class's correlation scaled by this reconstruction's own calibrated 68 % band widths
    (half the log width of each band's interval), mu the class's mean offset; bands outside
    the range are left out."""
    from sherpa_rim.stats import RIMPriorCStat
    from sherpa_rim.runtime import read_manifest
    ui = clean_session
    src = _cie_fit_setup(ui, expo=20e3, seed=2, band=(0.8, 7.0), start=(2.0, 0.6, 1.5e-3))
    st = RIMPriorCStat(id=1, weight=1.0)
    ui.set_stat(st)
    total = ui.calc_stat()
    res = st.reconstruction
    cal = read_manifest()["models"]["rim_default"]["prior_calibration"]
    counts = np.clip(res.data[res.noticed], 0, None).sum()
    cls = next(c for c in cal["classes"]
               if c["counts"][0] <= counts < (c["counts"][1] or np.inf))
    edges = cal["band_edges_keV"]
    names = [f"{a:g}-{b:g} keV" for a, b in zip(edges[:-1], edges[1:])][2:]   # 2 lie below 0.8 keV
    sd = np.array([0.5 * np.log(res.bands[n]["hi68"] / res.bands[n]["lo68"]) for n in names])
    assert np.all(sd > 0.01)
    cov = np.asarray(cls["cov"])[2:, 2:]
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    C = corr * np.outer(sd, sd)
    mid = 0.5 * (res.energy_lo + res.energy_hi)
    B = np.stack([(mid >= a) & (mid < b) for a, b in zip(edges[2:-1], edges[3:])]).astype(float)
    d = np.log(B @ src(res.energy_lo, res.energy_hi)) - np.log(B @ res.flux) - np.asarray(cls["mean"])[2:]
    ui.set_stat("cstat")
    assert total == pytest.approx(ui.calc_stat() + d @ np.linalg.solve(C, d), rel=1e-9)


def test_network_prior_statistics(clean_session):
    """cstat/chi2 plus the parameter network's Gaussian on ln kT, abundance and redshift
    (thawed ones only): the value is checked term by term, LevMar sees the terms in fvec,
    and a low-count fit lands between the plain fit and the network's estimate."""
    from sherpa_rim.stats import NetworkPriorChi2, NetworkPriorCStat
    ui = clean_session
    src = _cie_fit_setup(ui, expo=3e3, seed=4, band=(0.5, 7.0), start=(2.0, 1.0, 2e-3))
    src.Abundanc.thaw()
    st = NetworkPriorCStat(id=1)
    ui.set_stat(st)
    total = ui.calc_stat()
    est = st.estimate
    terms = [(np.log(2.0) - np.log(est["kT"]["median"]))
             / (0.5 * np.log(est["kT"]["hi68"] / est["kT"]["lo68"])),
             (1.0 - est["abundance"]["median"]) / (0.5 * (est["abundance"]["hi68"] - est["abundance"]["lo68"]))]
    ui.set_stat("cstat")
    assert total == pytest.approx(ui.calc_stat() + sum(t * t for t in terms), rel=1e-9)
    ui.set_method("neldermead")
    ui.fit()
    plain = src.Abundanc.val
    src.kT, src.Abundanc, src.norm = 2.0, 1.0, 2e-3
    ui.set_stat(NetworkPriorCStat(id=1))
    ui.fit()
    lo, hi = sorted([plain, est["abundance"]["median"]])
    assert lo - 0.02 <= src.Abundanc.val <= hi + 0.02
    ui.group_counts(1, 15)
    ui.notice(0.5, 7.0)
    ui.set_stat(NetworkPriorChi2(id=1))
    ui.set_method("levmar")
    ui.fit()
    n_data = ui.get_data(1).get_dep(filter=True).size
    assert ui.calc_chisqr(1).size == n_data + 2          # kT and abundance thawed


@pytest.mark.requires_data
def test_real_chandra_spectra_deconvolve_and_report(clean_session, shared_dir):
    """Every real spectrum with a response runs; the quasar 3C 273 is flagged as outside the
    thermal training prior."""
    from sherpa_rim.rim.deconvolver import deconvolve_files
    from sherpa_rim.response.library import ResponseLibrary
    lib = ResponseLibrary.from_manifest(shared_dir)
    reports = {}
    for p in lib:
        if p.pha is None:
            continue
        res = deconvolve_files(p.pha, arf=p.arf, rmf=p.rmf, n_samples=8)
        assert np.isfinite(res.chi2_dof), p.key
        reports[p.key] = res
    assert len(reports) >= 15
    # B3 0710+439 (ObsID 12845) is an AGN, and NGC 4258's nucleus is heavily absorbed: both are
    # outside the thermal training prior and are reported as such
    for key in ("sherpa-test-data__12845", "sherpa-test-data__arf"):
        assert not reports[key].in_prior, key
        assert "outside the training prior" in reports[key].summary()
    # most spectra are refolded to chi2/dof below ~1.3 (Gaussian chi2; low-count spectra sit below 1)
    ok = [r.chi2_dof < 1.3 for r in reports.values() if r.in_prior]
    assert np.mean(ok) > 0.8


def test_cli_deconvolve_writes_fits(tmp_path):
    out = tmp_path / "o.fits"
    r = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "deconvolve", SHERPA_PHA, "--out",
                        str(out), "--samples", "4"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    assert out.exists() and "goodness of fit: cstat" in r.stdout
    r2 = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "deconvolve", SHERPA_PHA, "--out",
                         str(out)], capture_output=True, text=True, timeout=300)
    assert r2.returncode == 2 and "--clobber" in r2.stderr


def test_demo_runs_and_refuses_to_overwrite(tmp_path):
    from sherpa_rim.demo import run
    res = run(out=tmp_path, seed=1)
    for f in ("demo_fit.png", "demo_intrinsic.png", "demo_rim.png", "demo_summary.txt"):
        assert (tmp_path / f).stat().st_size > 100
    assert res["seconds"] < 60
    s = json.loads((tmp_path / "demo_summary.json").read_text())
    assert abs(s["cie_fit"]["kT"] - 1.3) < 0.2
    # its absorbed thermal group is inside the training prior (the Galactic column is read
    # from the source's absorber; a check that ignores it flags the group)
    assert s["rim"]["in_prior"], s["rim"]
    with pytest.raises(FileExistsError, match="--clobber"):
        run(out=tmp_path)


def test_out_of_prior_check_holds_the_galactic_column(clean_session):
    """An absorbed group (nH 1e21, 16k counts) is thermal: with its Galactic column (read from
    the source's absorber, or given) the check passes; told there is none, it cannot be."""
    from sherpa_rim.observation import galactic_column
    ui = clean_session
    _fake_absorbed_group(ui, seed=1)
    ui.notice(0.5, 7.0)
    assert galactic_column(1) == pytest.approx(0.1)
    assert sherpa_rim.deconvolve(1, n_samples=4).in_prior
    unabsorbed = sherpa_rim.deconvolve(1, n_samples=4, nH=0.0)
    assert not unabsorbed.in_prior and "give nH=" in unabsorbed.summary()


def test_guess_sets_start_values_close_to_truth(clean_session):
    ui = clean_session
    _fake_group(ui, expo=40e3, seed=9)
    gal = ui.create_model_component("mmabs", "gal")
    src = ui.create_model_component("cie", "src")
    ui.set_source(1, gal * src)
    gal.nH = 0.0
    est = sherpa_rim.guess(1)
    assert abs(np.log(src.kT.val / 1.3)) < 0.15
    assert abs(src.Abundanc.val - 0.4) < 0.2
    # the soft limits (the 90 % interval widened 2x) keep the true values reachable
    assert src.kT.min < 1.3 < src.kT.max and src.kT.max < 21
    assert src.Abundanc.min < 0.4 < src.Abundanc.max
    assert est["kT"]["median"] == pytest.approx(src.kT.val)


def test_fill_missing_flags_and_reconstructs_an_ignored_band(clean_session):
    """An absorbed group with 0.3-0.7 keV ignored: the gap is flagged and refilled with the
    right number of counts, the Galactic column read from the source's absorber."""
    from sherpa_rim.observation import observation_from_session
    ui = clean_session
    _fake_absorbed_group(ui, seed=10)
    ui.notice(0.7, 7.0)                              # 0.3-0.7 keV ignored
    filled = sherpa_rim.fill_missing(1)              # nH = 0.1 from gal
    c = 0.5 * (filled.channel_lo + filled.channel_hi)
    gap = (c > 0.32) & (c < 0.68)
    assert filled.reconstructed[gap].all() and not filled.reconstructed[(c > 0.8) & (c < 6.5)].any()
    # the session fill is the DAE's fill of this observation told the source's column (its
    # accuracy on held-out responses has its own test, with its requirement:
    # test_runtime_rim.py::test_dae_fill_of_a_soft_gap_on_heldout_responses)
    from sherpa_rim.amortised.dae import GapFiller
    obs = observation_from_session(1)
    direct = GapFiller().fill(np.where(obs.noticed, obs.S, 0.0), obs.noticed.astype(float),
                              R=obs.R, nH=0.1)[0]
    assert np.allclose(filled.expected, direct, rtol=1e-6)
    assert np.array_equal(filled.counts[~gap & ~filled.reconstructed], obs.S[~gap & ~filled.reconstructed])
    assert np.all(np.isfinite(filled.counts)) and np.all(filled.counts[gap] >= 0)
    # the column matters: told nH = 0, the DAE expects more soft counts than there are
    ui.notice(0.7, 7.0)
    unabsorbed = sherpa_rim.fill_missing(1, nH=0.0)
    assert unabsorbed.counts[gap].sum() > 1.2 * filled.counts[gap].sum()


def test_fill_missing_needs_the_galactic_column(clean_session):
    from sherpa_rim.errors import DataError
    ui = clean_session
    _fake_group(ui, expo=20e3, seed=3)               # source: cie alone, no absorber
    ui.notice(0.7, 7.0)
    with pytest.raises(DataError, match="nH="):
        sherpa_rim.fill_missing(1)
    assert sherpa_rim.fill_missing(1, nH=0.0).reconstructed.any()
