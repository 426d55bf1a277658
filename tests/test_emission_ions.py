"""The emission table's ions: the ions rebuilt from the CHIANTI supplement (pre-v8 .splups with
their own level lists) have their strongest lines at laboratory wavelengths, the iron ion
balance moves the Fe-L emission with temperature, Ni XIX's n = 4 lines are those of its own
atomic model, and the total cooling function is a published one's (Schure et al. 2009) between
1e6 and 1e7 K."""
import numpy as np
import pytest

from sherpa_rim.emission import load_table, solar
from sherpa_rim.emission.cie import K_PER_KEV

KEV_ANGSTROM = 12.398419843320026

# Laboratory wavelengths (Angstrom) of the strongest lines of ions that have lines only through
# the supplement (NIST ASD / CHIANTI observed energies), with the ion's peak log T (CHIANTI 9
# ionisation balance)
LAB = [("Fe", 9, 171.073, 5.95), ("Fe", 10, 174.531, 6.05), ("Fe", 11, 180.401, 6.15),
       ("Fe", 12, 195.119, 6.2), ("Fe", 13, 202.044, 6.25), ("Ni", 11, 148.377, 6.0),
       ("Ni", 19, 12.435, 6.75)]
Z = {"Fe": 26, "Ni": 28, "O": 8, "Mg": 12, "Si": 14}

# Schure et al. (2009, A&A 508, 751), Table 2: solar (Anders & Grevesse 1989) CIE cooling of SPEX,
# log Lambda_hd = log L / n_H^2 (erg cm^3 s^-1); with n_e / n_H = 1.2 (their Table 2 above 1e6 K)
SCHURE09 = {6.0: -21.7073, 6.2: -21.7877, 6.4: -22.1537, 6.6: -22.3587, 6.8: -22.3342,
            7.0: -22.3780}
NE_NH = 1.2


@pytest.fixture(scope="module")
def table():
    return load_table()


def _ion_lines(t, el, stage, logT):
    k = list(t.elements).index(Z[el])
    m = (t.line_elem == k) & (t.line_ion == stage)
    i = int(np.argmin(np.abs(t.logT - logT)))
    return KEV_ANGSTROM / t.line_energy[m], t.line_eps[m, i].astype(float)


@pytest.mark.parametrize("el,stage,lam,logT", LAB, ids=[f"{a}{b}" for a, b, _, _ in LAB])
def test_recovered_ions_strongest_lines_at_laboratory_wavelengths(table, el, stage, lam, logT):
    wl, eps = _ion_lines(table, el, stage, logT)
    assert wl.size > 20, f"{el} {stage}: {wl.size} lines in the table"
    top = wl[np.argsort(eps)[::-1][:3]]
    assert np.min(np.abs(top - lam)) < 0.02, (el, stage, lam, np.round(top, 3))


def test_iron_l_emission_follows_the_ionisation_balance(table):
    """Fe XI-XIII lines dominate Fe XVII-XX at log T 6.1-6.2, Fe XVII-XX above 6.6, and their
    ratio rises monotonically in between."""
    k = list(table.elements).index(26)
    fe = table.line_elem == k
    mid = fe & (table.line_ion >= 11) & (table.line_ion <= 13)
    hot = fe & (table.line_ion >= 17) & (table.line_ion <= 20)
    rows = [int(np.argmin(np.abs(table.logT - lt))) for lt in (6.1, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7)]
    ratio = np.array([table.line_eps[hot, i].sum() / table.line_eps[mid, i].sum() for i in rows])
    assert ratio[0] < 0.1 and ratio[1] < 1.0, ratio
    assert ratio[-2] > 10, ratio
    assert np.all(np.diff(ratio) > 0), ratio


def test_ni_xix_n4_lines_from_its_own_levels(table):
    """Ni XIX 10.11 / 12.44 A photon ratio at log T 6.75: 0.088 with the 7.1.4 files used
    together, 0.008 with 7.1.4 collision strengths on v9 levels (the mismatch)."""
    wl, eps = _ion_lines(table, "Ni", 19, 6.75)
    strong = eps[np.argmin(np.abs(wl - 12.435))]
    n4 = eps[np.abs(wl - 10.11) < 0.01].sum()
    assert 0.05 < n4 / strong < 0.15, n4 / strong


@pytest.mark.parametrize("logT", sorted(SCHURE09))
def test_cooling_function_between_1e6_and_1e7_K(table, logT):
    """Total loss of the 15 table elements (AG89) within 30 % of Schure et al. (2009); without
    Fe VIII-XIII the table's loss at 1e6 K is 0.3 of it."""
    w = np.asarray(solar("angr"), float)
    ours = table.cooling(10 ** logT / K_PER_KEV, w)          # L / (n_e n_H)
    ref = 10 ** SCHURE09[logT] / NE_NH                        # L / (n_e n_H)
    assert ours == pytest.approx(ref, rel=0.30, abs=0), (logT, ours / ref)


def test_provenance_names_each_supplement_ion(table):
    sup = table.provenance["chianti_supplement"]
    for ion in ("fe_9", "fe_10", "fe_11", "fe_12", "fe_13", "ni_19", "mg_8", "si_10"):
        assert ion in sup and sup[ion]["release"] in ("6.1.0", "7.0.0", "7.1.4"), ion
    assert sup["ni_19"]["elvlc"].startswith("7.1.4"), sup["ni_19"]


def test_old_elvlc_becomes_the_v8_layout_fiasco_reads(tmp_path):
    """tools/build_emission_table.elvlc_to_v8: a CHIANTI <= 7 level line (Ni XIX 7.1.4's
    first levels, and one with E_obs = 0) in the (I7,A30,A5,I5,A5,F5.1,F15.3,F15.3) columns;
    an excited level never observed gets -1 (v8's flag), the ground level keeps 0."""
    import importlib.util
    import pathlib
    root = pathlib.Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("bet", root / "tools" / "build_emission_table.py")
    bet = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bet)
    old = tmp_path / "ni_19.elvlc"
    old.write_bytes(
        b"  1     1 2p6             1  0 S  0.0  1          0.000       0.000000          0.000       0.000000\n"
        b"  2     2 2p5.3s          3  1 P  2.0  5    7104000.000      64.736415    7102892.000      64.726318\n"
        b"  3     2 2p5.3s          3  1 P  1.0  3          0.000       0.000000    7119101.000      64.874023\n"
        b" -1\n%comment with a latin-1 byte \x92\n -1\n")
    new = tmp_path / "v8.elvlc"
    assert bet.elvlc_to_v8(old, new, "test") == 3
    rows = new.read_text(encoding="ascii").splitlines()[:3]
    cols = [(0, 7), (7, 37), (37, 42), (42, 47), (47, 52), (52, 57), (57, 72), (72, 87)]
    got = [[r[a:b].strip() for a, b in cols] for r in rows]
    assert got[0] == ["1", "2p6", "", "1", "S", "0.0", "0.000", "0.000"]
    assert got[1] == ["2", "2p5 3s", "", "3", "P", "2.0", "7104000.000", "7102892.000"]
    assert got[2][6:] == ["-1.000", "7119101.000"]
