"""The CIE emission model against physics (laboratory line energies, published
cooling, bremsstrahlung), not against its own code."""
import pathlib

import numpy as np
import pytest
from scipy.special import k0e

from sherpa_rim.emission import load_table, solar, spectrum, spectrum_batch
from sherpa_rim.emission.absorption import mm83_cross_section, transmission
from sherpa_rim.emission.cie import K_PER_KEV

HC = 12.398419843320026   # keV Angstrom

# Laboratory / reference energies (keV): NIST ASD and Drake (1988) wavelengths
LAB_LINES = [
    ("Fe XXV w", 26, 25, HC / 1.8504),      # 6.7004 keV, 1s2p 1P1 -> 1s2 1S0
    ("Fe XXVI Ly-a1", 26, 26, HC / 1.7780),  # 6.9732 keV
    ("Fe XVII 15.01 A", 26, 17, HC / 15.014),  # 0.8258 keV
    ("O VIII Ly-a1", 8, 8, HC / 18.9671),    # 0.6537 keV
    ("Si XIII w", 14, 13, HC / 6.6479),      # 1.8650 keV
    ("S XV w", 16, 15, HC / 5.0387),         # 2.4606 keV
]


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.mark.parametrize("name,z,stage,e_lab", LAB_LINES, ids=[x[0] for x in LAB_LINES])
def test_line_energy_within_1eV_of_laboratory(table, name, z, stage, e_lab):
    el = list(table.elements).index(z)
    sel = np.flatnonzero((table.line_elem == el) & (table.line_ion == stage)
                         & (np.abs(table.line_energy - e_lab) < 0.015))
    assert sel.size, f"no {name} line in the table"
    strongest = sel[np.argmax(table.line_eps[sel].max(axis=1))]
    assert abs(table.line_energy[strongest] - e_lab) < 1e-3, (
        f"{name}: table {table.line_energy[strongest]:.5f} keV vs lab {e_lab:.5f} keV")


def test_fe_xxvi_to_fe_xxv_rises_with_temperature():
    e = np.arange(6.0, 7.5, 0.002)
    ratios = []
    for kT in (2.0, 3.0, 5.0, 8.0, 12.0):
        s = spectrum(kT, 1.0, 0.0, 1.0, e[:-1], e[1:])
        he = s[(e[:-1] >= 6.62) & (e[:-1] < 6.71)].sum()
        h = s[(e[:-1] >= 6.94) & (e[:-1] < 6.98)].sum()
        ratios.append(h / he)
    assert np.all(np.diff(ratios) > 0), ratios
    assert ratios[0] < 0.1 < ratios[-1]


# Gnat & Ferland (2012, ApJS 199, 20), Table 1: CIE cooling efficiency per
# element, Lambda_X = L_X / (n_e n_X) in erg cm^3 s^-1, at 1e7 and 1e8 K.
GF12 = {"H": (5.76e-24, 1.37e-23), "He": (2.68e-23, 5.62e-23), "O": (2.60e-21, 1.23e-21),
        "Ne": (7.19e-21, 2.26e-21), "Si": (2.13e-20, 6.83e-21), "Fe": (4.42e-19, 4.39e-20)}


@pytest.mark.parametrize("T_index,T", [(0, 1e7), (1, 1e8)])
def test_cooling_function_matches_published_cie_curve(table, T_index, T):
    """Total loss of H, He, O, Ne, Si, Fe (AG89 abundances) within 30 % of GF12."""
    syms = list(GF12)
    sol = dict(zip(["H", "He", "C", "N", "O", "Ne", "Na", "Mg", "Al", "Si", "S", "Ar", "Ca",
                    "Fe", "Ni"], solar("angr")))
    from sherpa_rim.emission.abundances import SYMBOLS
    w = np.array([sol[s] if s in syms else 0.0 for s in SYMBOLS])
    ours = table.cooling(T / K_PER_KEV, w)
    ref = sum(sol[s] * GF12[s][T_index] for s in syms)
    assert ours == pytest.approx(ref, rel=0.30, abs=0)     # abs=0: the values are ~1e-22
    # and element by element within a factor 1.6 (different atomic data: CHIANTI vs Cloudy)
    for s in syms:
        one = np.array([1.0 if x == s else 0.0 for x in SYMBOLS])
        mine = table.cooling(T / K_PER_KEV, one)
        assert 1 / 1.6 < mine / GF12[s][T_index] < 1.6, (s, mine, GF12[s][T_index])


def test_8keV_continuum_is_thermal_bremsstrahlung_above_3keV():
    """At 8 keV the line-free continuum follows g_ff(E) exp(-E/kT) / E to a few per cent."""
    kT = 8.0
    e = np.geomspace(3.0, 8.0, 101)
    t = load_table()
    cont = t.evaluate(kT, e[:-1], e[1:], lines=False) / np.diff(e)
    em = np.sqrt(e[:-1] * e[1:])
    x = em / kT
    # Born-approximation thermal Gaunt factor (Karzas & Latter 1961 limit for kT >> Z^2 Ry)
    g = np.sqrt(3) / np.pi * k0e(x / 2)
    brems = g * np.exp(-x) / em
    ratio = cont / brems
    ratio /= np.median(ratio)
    assert np.max(np.abs(ratio - 1)) < 0.05, np.round(ratio, 3)


def test_band_power_matches_radiative_loss():
    """Units of the binned spectrum: the energy flux of an H + He plasma (abundance 0) in
    0.05-15 keV equals norm x 1e14 x Lambda(T) from fiasco's integrated free-free and
    free-bound loss rates (an independent code path), less the ~3 % emitted below 0.05 keV."""
    t = load_table()
    w = t.weights(0.0)
    e = np.geomspace(0.05, 15.0, 20001)
    for kT in (2.0, 6.0):
        s = t.evaluate(kT, e[:-1], e[1:], weights=w)                    # norm = 1
        power = (s * 0.5 * (e[:-1] + e[1:])).sum() * 1.602176634e-9    # erg/cm^2/s
        lam = t.cooling(kT, w)                                           # erg cm^3 s^-1
        assert power == pytest.approx(1e14 * lam, rel=0.08), (kT, power / (1e14 * lam))


def test_redshift_shifts_lines_and_dims_flux():
    e = np.arange(5.0, 7.5, 0.001)
    s0 = spectrum(5.0, 1.0, 0.0, 1.0, e[:-1], e[1:])
    s1 = spectrum(5.0, 1.0, 0.1, 1.0, e[:-1], e[1:])
    peak0 = e[np.argmax(s0)]
    peak1 = e[np.argmax(s1)]
    assert peak1 == pytest.approx(peak0 / 1.1, abs=0.002)
    # flux in the full rest band is conserved up to the (1+z) time dilation
    eb = np.geomspace(0.06, 13.0, 3001)
    f0 = spectrum(5.0, 1.0, 0.0, 1.0, eb[:-1], eb[1:]).sum()
    f1 = spectrum(5.0, 1.0, 0.1, 1.0, eb[:-1] / 1.1, eb[1:] / 1.1).sum()
    assert f1 == pytest.approx(f0 / 1.1, rel=1e-6)


def test_abundance_scales_metal_lines_only():
    e = np.arange(6.6, 6.72, 0.001)
    lo, hi = e[:-1], e[1:]
    t = load_table()
    cont = t.evaluate(4.0, lo, hi, lines=False, weights=t.weights(1.0))
    s1 = spectrum(4.0, 1.0, 0.0, 1.0, lo, hi) / 1e14
    s2 = spectrum(4.0, 2.0, 0.0, 1.0, lo, hi) / 1e14
    s0 = spectrum(4.0, 0.0, 0.0, 1.0, lo, hi) / 1e14
    # no metals: no Fe XXV complex above the (H, He) continuum
    assert s0.sum() < 0.5 * cont.sum()
    # the line part doubles
    np.testing.assert_allclose(s2 - s0, 2 * (s1 - s0), rtol=1e-9)


def test_thermal_broadening_conserves_flux_and_widens():
    e = np.arange(6.5, 6.9, 0.0005)
    a = spectrum(8.0, 1.0, 0.0, 1.0, e[:-1], e[1:])
    b = spectrum(8.0, 1.0, 0.0, 1.0, e[:-1], e[1:], broaden=True)
    assert b.sum() == pytest.approx(a.sum(), rel=1e-3)
    assert b.max() < a.max()


def test_out_of_table_temperature_is_an_error():
    e = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="outside the emission table"):
        spectrum(50.0, 1.0, 0.0, 1.0, e[:-1], e[1:])
    with pytest.raises(ValueError, match="outside the emission table"):
        spectrum(0.01, 1.0, 0.0, 1.0, e[:-1], e[1:])


def test_unknown_abundance_table():
    with pytest.raises(ValueError, match="angr"):
        spectrum(1.0, 1.0, 0.0, 1.0, [1.0], [2.0], abund_table="nope")


def test_other_abundance_table_changes_fe_lines():
    e = np.arange(6.6, 6.72, 0.001)
    a = spectrum(4.0, 1.0, 0.0, 1.0, e[:-1], e[1:], abund_table="angr")
    b = spectrum(4.0, 1.0, 0.0, 1.0, e[:-1], e[1:], abund_table="aspl")
    assert b.sum() < a.sum()           # Fe/H: 3.16e-5 (aspl) < 4.68e-5 (angr)


def test_batch_matches_single_spectra():
    e = np.geomspace(0.3, 10.0, 700)
    kT = np.array([0.6, 1.3, 3.0, 7.5])
    ab = np.array([0.3, 0.4, 1.0, 0.8])
    z = np.array([0.0, 0.0123, 0.1, 0.25])
    nm = np.array([1e-3, 2e-3, 5e-4, 1e-2])
    batch = spectrum_batch(kT, ab, z, nm, e[:-1], e[1:])
    for i in range(kT.size):
        one = spectrum(kT[i], ab[i], z[i], nm[i], e[:-1], e[1:])
        assert batch[i].sum() == pytest.approx(one.sum(), rel=1e-2)
        # lines are placed within their 0.05 % cell (a line that close to a bin edge may land
        # in the neighbouring bin): compare the cumulative spectra
        ca, cb = np.cumsum(batch[i]), np.cumsum(one)
        assert np.max(np.abs(ca - cb)) < 5e-3 * cb[-1]


def test_mm83_cross_sections():
    # Morrison & McCammon (1983): sigma(1 keV) = 2.4e-22 cm^2, sigma E^3 rises across edges
    assert mm83_cross_section(1.0) == pytest.approx(2.42e-22, rel=0.01)
    below, above = mm83_cross_section([0.5319, 0.5321])      # O K edge
    assert above > below
    t = transmission(1.0, np.array([0.5, 1.0, 5.0]), np.array([0.5, 1.0, 5.0]))
    assert t[0] < t[1] < t[2] < 1.0
    assert t[1] == pytest.approx(np.exp(-2.42), rel=0.02)


def test_cool_plasma_warns_of_the_ions_without_lines():
    """Below about 0.11 keV the table lacks lines of Ni VI-X (no CHIANTI collision data for
    them in any release the build reads) while they hold 20 % or more of the nickel: the Sherpa
    model says so once, naming them; Fe VIII-XIII have lines (the supplement); at 2 keV it is
    silent."""
    import warnings

    from sherpa_rim.emission import missing as cie_mod
    from sherpa_rim.models import CIE
    from sherpa_rim.models import thermal
    thermal._WARNED.clear()
    found = cie_mod.missing_ions(0.08)
    assert found["ni"] > 0.5 and "fe" not in found
    assert "fe" not in cie_mod.missing_ions(0.12)
    assert cie_mod.missing_ions(2.0) == {}
    c = CIE("cool")
    e = np.linspace(0.1, 3.0, 300)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        c.kT = 2.0
        c(e[:-1], e[1:])
        c.kT = 0.15                          # Fe VIII-XIII hold most of the iron: no warning
        c(e[:-1], e[1:])
        assert not seen
        c.kT = 0.08
        c(e[:-1], e[1:])
        c.kT = 0.081
        c(e[:-1], e[1:])                     # the same elements: said once
    msgs = [str(w.message) for w in seen]
    assert len(msgs) == 1 and "Ni (" in msgs[0] and "VI VII VIII IX X" in msgs[0], msgs
    assert "Fe" not in msgs[0] and "Na" not in msgs[0]


@pytest.mark.requires_data
def test_missing_ion_record_is_chiantis_ionisation_balance(shared_dir):
    """The table's JSON records, per element, the ion fraction (CHIANTI 9.0.1's chianti.ioneq)
    of its ions without lines: recomputed from the tarball, it is what the JSON holds."""
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "tools" / "missing_ions.py"), "--check",
                        "--chianti", str(shared_dir.parent / "chianti")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_planned_gaussian_lines_equal_a_direct_integral_across_buckets():
    """GridEvaluator's Gaussian lines (line-edge pairs planned per kT / velocity / 1 + z
    bucket) equal each line's Gaussian integrated over every bin (+-12 sigma, no shortcut), at
    both ends of a bucket and after moves between buckets; 3 eV bins over Fe K and 1 eV ones."""
    from scipy.special import ndtr

    from sherpa_rim.emission.cie import AMU_KEV, C_KM_S
    from sherpa_rim.emission.fast import GridEvaluator
    for step in (0.003, 0.001):
        e = np.arange(6.2, 7.1, step)
        lo, hi = e[:-1], e[1:]
        ev = GridEvaluator(lo, hi, (-0.001, 0.1))
        w = ev.table.weights(1.0, "angr")
        k = np.floor(np.log(3.0) / np.log(1.5))
        kT_lo, kT_hi = 1.5 ** k * 1.0001, 1.5 ** (k + 1) * 0.9999
        v_lo, v_hi = 1.25 ** 20 * 1.0001, 1.25 ** 21 * 0.9999
        # 1 + z buckets are 2e-4 wide in ln(1 + z), centred on 0: z = +-0.99e-4 use z = 0's
        for kT, v, z in [(kT_lo, v_lo, 0.0), (kT_hi, v_hi, 0.0), (6.0, 0.0, 0.05),
                         (kT_hi, v_lo, 0.0), (kT_lo, v_hi, 0.0), (kT_lo, 0.0, 0.0),
                         (kT_hi, 0.0, 0.99e-4), (kT_hi, 0.0, -0.99e-4)]:
            got = ev.evaluate(kT, w, z, 1.0, continuum=False, broaden=True, velocity=v)
            i, t = ev.table.t_index(kT)
            f = np.exp((1 - t) * ev.log_eps[i] + t * ev.log_eps[i + 1]) * ev.line_on[i] * w[ev.line_elem]
            E = ev.line_energy / (1 + z)
            sig = E * np.sqrt(kT / (ev.table.mass_amu[ev.line_elem] * AMU_KEV) + (v / C_KM_S) ** 2)
            near = (f > 0) & (E + 12 * sig > lo[0]) & (E - 12 * sig < hi[-1])
            f, E, sig = f[near], E[near], sig[near]
            want = (f[:, None] * (ndtr((hi[None, :] - E[:, None]) / sig[:, None])
                                  - ndtr((lo[None, :] - E[:, None]) / sig[:, None]))).sum(0)
            want *= 1e14 / (1 + z)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * want.sum())


def test_continuum_reaches_50keV_smoothly():
    """Above the lines' 15 keV band the continuum goes on to 50 keV: across 15 keV it has no
    step (its log slope, without exp(-E/kT), varies slowly over 12-18 keV), and the energy flux
    of a 12 and a 21.5 keV plasma in 0.05-50 keV is the radiative loss less exp(-50 keV / kT).
    At 21.5 keV it is 1.07 of it: the spectrum's free-free uses Itoh et al. (2000)'s relativistic
    Gaunt factor, fiasco's integrated loss the non-relativistic one (a continuum cut at 15 keV
    gives 0.84 and 0.74)."""
    t = load_table()
    assert t.cont_energy[-1] >= 50.0
    for kT in (2.0, 8.0, 21.0):
        e = np.geomspace(12.0, 18.0, 13)
        d = t.evaluate(kT, e[:-1], e[1:], lines=False) / np.diff(e)
        em = np.sqrt(e[:-1] * e[1:])
        # without its exp(-E/kT), the continuum's log slope varies slowly (g_ff / E)
        slope = np.diff(np.log(d) + em / kT) / np.diff(np.log(em))
        assert np.all(d > 0) and np.ptp(slope) < 0.3, (kT, np.round(slope, 2))
    # the hottest plasma emits half its free-free power above 15 keV: with the continuum to
    # 50 keV, 0.05-50 keV holds norm x 1e14 x Lambda(T) (fiasco's integrated losses, an
    # independent code path) less the exp(-50 keV / kT) above 50 keV
    w = t.weights(0.0)
    e = np.geomspace(0.05, 50.0, 40001)
    for kT in (12.0, 21.5):
        s = t.evaluate(kT, e[:-1], e[1:], weights=w)
        power = (s * 0.5 * (e[:-1] + e[1:])).sum() * 1.602176634e-9
        expect = 1e14 * t.cooling(kT, w) * (1 - np.exp(-50.0 / kT))
        assert power == pytest.approx(expect, rel=0.08), (kT, power / expect)


def test_bins_beyond_the_table_warn():
    """A grid that reaches above the table's continuum (50 keV rest frame) gets a warning
    naming the observed-frame limit, once per process for each model name."""
    from sherpa_rim.emission import cie as cie_mod

    lo = np.array([10.0, 40.0, 55.0])
    hi = np.array([11.0, 41.0, 56.0])
    cie_mod._BEYOND_WARNED.discard("spectrum")
    with pytest.warns(UserWarning, match="beyond the emission table"):
        f = spectrum(8.0, 1.0, 0.0, 1.0, lo, hi)
    assert f[1] > 0 and f[2] == 0
    cie_mod._BEYOND_WARNED.discard("spectrum")
    with pytest.warns(UserWarning, match=r"above 25(\.\d+)? keV \(observed"):
        spectrum(8.0, 1.0, 1.0, 1.0, lo, hi)
    import warnings
    cie_mod._BEYOND_WARNED.discard("spectrum")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spectrum(8.0, 1.0, 0.0, 1.0, lo[:2], hi[:2])     # inside the table: silent
