"""The plasma model against APEC: band and line fluxes of ``cie`` over an APEC reference, one run.

    ./dev.sh bench apec [--emulator nn_apec.h5] [--kT 2 3 4 6 8 12] [--abundance 1]

Pip Sherpa has no XSPEC and the project reads no AtomDB files, so the APEC reference is the APEC
emulator of nnapec 0.1.1 (PyPI, J. M. Burgess; trained on APEC with AG89 abundances): a network
of two inputs (Abundanc, kT) that returns APEC's photon flux density, for norm 1, at 2,000
energies log-spaced over 0.01-50 keV, with a log-variance head (its own error). The script
downloads the package's sdist with pip (``pip download nnapec==0.1.1 --no-deps``) into
``~/.cache/sherpa_rim/nnapec``, checks the weights' SHA-256, and evaluates the network with
numpy (nnapec's own runtime needs astromodels and netspec; only its weights are used).

Reading the emulator: the values at its 2,000 energies are APEC's binned spectrum divided by
bins centred (in log E) on those energies (a line's flux sits at the node whose log-centred bin
holds it), so every comparison bins ``cie`` on the same log-centred bins.

Where the emulator can be trusted is measured, not assumed, for every number printed:
* its own error head (the predicted standard deviation of log10 flux, summed over the bins of
  a band or line as fully correlated);
* linearity in abundance: APEC's spectrum is H + He + Abundanc x metals, so a line's flux over
  Abundanc, and a band's flux, must follow from the emulator's own values at Abundanc 0.5
  and 2; the difference is a lower bound on its error.
The larger of the two is printed beside each ratio; a ratio whose emulator error exceeds
1.5 % is marked ``~`` and is not used to judge the model.

Prints, per temperature (Abundanc 1, z = 0): the flux ratio ``cie`` / APEC in bands (0.3-0.7,
Fe-L 0.7-1.3, 1.3-2, 2-5, 5-10, 10-15 and 15-30 keV) and for the continuum in line-free bins
(2-15 keV); line fluxes (O VIII Ly-a to Fe XXV He-b, each over its window minus the continuum
under it); the fraction of the emitting ion in the table's ionisation balance (CHIANTI 9.0.1
``chianti.ioneq``, read from ``../shared/data/chianti``). With ``--fiasco-python`` (the table
build's venv) it also prints the H free-free continuum of ``cie`` over Rybicki & Lightman's
formula with Itoh et al. (2000)'s relativistic Gaunt factor, computed by fiasco.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
from scipy.special import erf

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = pathlib.Path(os.environ.get("SHERPA_RIM_CACHE", pathlib.Path.home() / ".cache/sherpa_rim"))
NNAPEC = "nnapec==0.1.1"
WEIGHTS_MEMBER = "nnapec-0.1.1/nnapec/data/nn_apec.h5"
WEIGHTS_SHA256 = "602971306569f29767a79251145f3a159942648ffae3d2eabf2a74cdf6ab39c1"
TRUST = 0.015    # an emulator error above this marks the ratio '~'

BANDS = [(0.3, 0.7), (0.7, 1.3), (1.3, 2.0), (2.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 30.0)]
# window (keV) over which each line (and its blend at the emulator's 0.43 % node spacing) is summed
LINES = {
    "O VIII Ly-a": (0.650, 0.657, (8, 8)),
    "Ne X Ly-a": (1.018, 1.026, (10, 10)),
    "Mg XII Ly-a": (1.467, 1.478, (12, 12)),
    "Si XIII He-a": (1.835, 1.870, (14, 13)),
    "Si XIV Ly-a": (1.998, 2.012, (14, 14)),
    "S XV He-a": (2.425, 2.465, (16, 15)),
    "S XVI Ly-a": (2.612, 2.632, (16, 16)),
    "Ar XVII He-a": (3.100, 3.150, (18, 17)),
    "Ca XIX He-a": (3.850, 3.910, (20, 19)),
    "Fe XXV He-a": (6.600, 6.710, (26, 25)),
    "Fe XXVI Ly-a": (6.940, 6.990, (26, 26)),
    "Fe XXV He-b": (7.850, 7.900, (26, 25)),
}
SIDE = 4         # continuum nodes on each side of a line window (after a one-node gap)


class Refusal(SystemExit):
    pass


# --------------------------------------------------------------------------- the emulator
def emulator_weights(path: str | None) -> pathlib.Path:
    """Path of nnapec 0.1.1's ``nn_apec.h5``: the one given, the cached one, or downloaded."""
    if path:
        p = pathlib.Path(path)
        if not p.is_file():
            raise Refusal(f"--emulator {p}: no such file (give nnapec 0.1.1's nn_apec.h5, or "
                          "leave --emulator out to download it)")
    else:
        p = CACHE / "nnapec" / "nn_apec.h5"
    if not path and not p.is_file():
        d = CACHE / "nnapec"
        d.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", NNAPEC, "--no-deps",
                            "--no-binary", ":all:", "-d", str(d), "-q"],
                           capture_output=True, text=True)
        sdists = sorted(d.glob("nnapec-0.1.1.tar.gz"))
        if r.returncode or not sdists:
            raise Refusal(f"could not download {NNAPEC} from PyPI ({r.stderr.strip()[-300:]}); "
                          "download nnapec-0.1.1.tar.gz by hand and pass its "
                          "nnapec/data/nn_apec.h5 with --emulator")
        with tarfile.open(sdists[0]) as tar:
            data = tar.extractfile(WEIGHTS_MEMBER).read()
        p.write_bytes(data)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if digest != WEIGHTS_SHA256:
        raise Refusal(f"{p}: SHA-256 {digest} is not nnapec 0.1.1's nn_apec.h5 "
                      f"({WEIGHTS_SHA256}): give that file, or delete this one to download it")
    return p


class APECEmulator:
    """nnapec 0.1.1's network in numpy: (Abundanc, kT) -> APEC's photon flux density.

    The file holds a multilayer perceptron (inputs standardised by ``param_shift`` /
    ``param_scale``; six hidden layers of 512 with the exact GELU; an output of 2 x 2,000: the
    mean and the log-variance of the standardised log10 flux density), the output's
    ``value_shift`` / ``value_scale`` and the 2,000 ``energies`` (keV).
    """

    def __init__(self, path: pathlib.Path):
        import h5py

        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            t = f["transformer"]
            names = [t.attrs[f"par_{i}"] for i in range(2)]
            if (names != ["abund", "kT"] or not t.attrs.get("use_log10")
                    or t.attrs.get("use_vFv") or attrs.get("activation_function") != "gelu"
                    or not attrs.get("use_scoring_rule")):
                raise Refusal(f"{path}: not the layout of nnapec 0.1.1's emulator")
            self.energies = t["energies"][()].astype(float)
            self.p_shift, self.p_scale = t["param_shift"][()], t["param_scale"][()]
            self.p_min, self.p_max = t["param_min"][()], t["param_max"][()]
            self.v_shift, self.v_scale = t["value_shift"][()], t["value_scale"][()]
            sd = f["state_dict"]
            n = len(attrs["architecture"]) + 1
            self.layers = [(sd[f"layers.layers.{2 * i}.weight"][()].astype(float),
                            sd[f"layers.layers.{2 * i}.bias"][()].astype(float)) for i in range(n)]
        self.n = self.energies.size
        le = np.log(self.energies)
        mid = np.exp(0.5 * (le[1:] + le[:-1]))
        self.edges = np.concatenate([[np.exp(1.5 * le[0] - 0.5 * le[1])], mid,
                                     [np.exp(1.5 * le[-1] - 0.5 * le[-2])]])
        self.width = np.diff(self.edges)

    def __call__(self, abund: float, kT: float):
        """(flux density in photons/cm^2/s/keV for norm 1, sigma of its log10) at ``energies``."""
        x = np.array([abund, kT], float)
        if np.any(x < self.p_min) or np.any(x > self.p_max):
            raise ValueError(f"(Abundanc, kT) = {tuple(x)} is outside the emulator's range "
                             f"{tuple(self.p_min)}-{tuple(self.p_max)}")
        h = (x - self.p_shift) / self.p_scale
        for w, b in self.layers[:-1]:
            h = w @ h + b
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        w, b = self.layers[-1]
        out = w @ h + b
        mean, log_var = out[:self.n], out[self.n:]
        return 10.0 ** (mean * self.v_scale + self.v_shift), np.exp(0.5 * log_var) * self.v_scale


# --------------------------------------------------------------------------- measurements
def window(emu, lo, hi):
    """Indices of the emulator's bins that lie inside [lo, hi] (by their centre)."""
    return np.flatnonzero((emu.energies >= lo) & (emu.energies <= hi))


def sidebands(i):
    """SIDE bins either side of the window ``i``, after a one-bin gap."""
    return np.r_[i[0] - 1 - SIDE:i[0] - 1, i[-1] + 2:i[-1] + 2 + SIDE]


def band_flux(emu, per_bin, lo, hi):
    return per_bin[window(emu, lo, hi)].sum()


def line_flux(emu, total, cont_model, lo, hi, apec=None):
    """A line's flux over its window: the window's flux minus the continuum under it.

    For ``cie`` the continuum is its own (``cont_model``, lines off). For APEC (``apec`` = its
    binned spectrum) it is ``cont_model`` scaled by APEC / ``cie`` in side windows of SIDE bins
    either side (both codes' weak lines included there)."""
    i = window(emu, lo, hi)
    side = sidebands(i)
    if apec is None:
        return (total[i] - cont_model[i]).sum()
    scale = apec[side].sum() / total[side].sum()
    return (apec[i] - scale * cont_model[i]).sum()


def emulator_error(emu, abund, kT, pick, sigma, head=None):
    """Larger of the emulator's own error head and its departure from linearity in Abundanc
    for the quantity ``pick(per_bin_flux) -> float`` (relative). ``head(per_bin_error)``: the
    quantity's error from the per-bin errors taken as fully correlated (default ``pick``, right
    for a sum of bins; a line, a difference of sums, adds its terms' errors)."""
    f1 = emu(abund, kT)[0] * emu.width
    lo, hi = abund * 0.5, min(abund * 2.0, float(emu.p_max[0]))
    flo, fhi = emu(lo, kT)[0] * emu.width, emu(hi, kT)[0] * emu.width
    q1, qlo, qhi = pick(f1), pick(flo), pick(fhi)
    q_lin = qlo + (qhi - qlo) * (abund - lo) / (hi - lo)
    lin = abs(q1 / q_lin - 1.0) if q_lin > 0 else np.inf
    err = (head or pick)(np.log(10.0) * sigma * f1)
    return max(lin, abs(err) / q1 if q1 > 0 else np.inf)


def ioneq_fractions():
    """{(Z, stage): fraction(logT)} of CHIANTI 9.0.1's chianti.ioneq, the table's balance."""
    sys.path.insert(0, str(ROOT / "tools"))
    from missing_ions import IONEQ, read_ioneq

    tar = ROOT.parent / "shared" / "data" / "chianti" / "chianti-9.0.1.tar.gz"
    if not tar.is_file():
        return None, None
    with tarfile.open(tar) as t:
        raw = t.extractfile(IONEQ).read()
    return read_ioneq(raw.decode("ascii", "replace"))


def itoh_check(fiasco_python: str, kTs, energies) -> dict | None:
    """Itoh et al. (2000) free-free Gaunt factor of H from fiasco, run in the table build's venv."""
    code = (
        "import json,sys,numpy as np,astropy.units as u;from fiasco.gaunt import GauntFactor\n"
        "kTs,Es,h5=json.loads(sys.argv[1]);g=GauntFactor(hdf5_dbase_root=h5)\n"
        "out={str(k):np.asarray(g._free_free_itoh(np.array([k*1.160451812e7])*u.K,"
        "(12.398419843/np.array(Es))*u.AA,1)[0]).tolist() for k in kTs}\n"
        "print(json.dumps(out))\n")
    h5 = CACHE / "cie-build" / "chianti.h5"
    if not h5.is_file():
        return None
    r = subprocess.run([fiasco_python, "-c", code, json.dumps([list(kTs), list(energies), str(h5)])],
                       capture_output=True, text=True)
    if r.returncode:
        print(f"(free-free check skipped: {r.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emulator", help="nnapec 0.1.1's nn_apec.h5 (default: download it)")
    p.add_argument("--kT", nargs="+", type=float, default=[1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0])
    p.add_argument("--abundance", type=float, default=1.0)
    p.add_argument("--fiasco-python", default=str(CACHE / "fiasco-venv" / "bin" / "python"),
                   help="python of the table build's venv, for the free-free check")
    args = p.parse_args(argv)

    import sherpa_rim  # noqa: F401
    from sherpa_rim.emission.cie import load_table

    emu = APECEmulator(emulator_weights(args.emulator))
    tab = load_table()
    lo, hi = emu.edges[:-1], emu.edges[1:]
    w_el = tab.weights(args.abundance)
    logt_ioneq, ioneq = ioneq_fractions()
    # bins with no table line within one bin: for the continuum ratio
    k = np.clip(np.searchsorted(emu.edges, tab.line_energy) - 1, 0, emu.n - 1)
    has_line = np.zeros(emu.n, bool)
    for d in (-1, 0, 1):
        has_line[np.clip(k + d, 0, emu.n - 1)] = True
    line_free = (~has_line) & (emu.energies > 2.0) & (emu.energies < 15.0)

    print(f"# cie / APEC (nnapec 0.1.1 emulator), Abundanc {args.abundance:g} (AG89), z = 0")
    print(f"(emulator weights SHA-256 {WEIGHTS_SHA256[:16]}... checked; table: "
          f"{tab.provenance.get('command', '?').split()[0]} built {tab.provenance.get('built_utc', '?')};"
          f" continuum to {tab.cont_energy[-1]:.1f} keV)\n")
    band_head = " | ".join(f"{a:g}-{b:g} keV" for a, b in BANDS)
    print(f"| kT (keV) | {band_head} | continuum, line-free 2-15 keV |")
    print("|---" * (len(BANDS) + 2) + "|")
    rows = {}
    for kT in args.kT:
        f_emu, sig = emu(args.abundance, kT)
        apec = f_emu * emu.width
        ours = tab.evaluate(kT, lo, hi, 0.0, 1.0, w_el)
        cont = tab.evaluate(kT, lo, hi, 0.0, 1.0, w_el, lines=False)
        cells = []
        for a, b in BANDS:
            r = band_flux(emu, ours, a, b) / band_flux(emu, apec, a, b)
            e = emulator_error(emu, args.abundance, kT, lambda f: band_flux(emu, f, a, b), sig)
            cells.append(f"{'~' if e > TRUST else ''}{r:.3f} ({100 * e:.1f})")
        rc = np.median(ours[line_free] / apec[line_free])
        e = emulator_error(emu, args.abundance, kT, lambda f: f[line_free].sum(), sig)
        cells.append(f"{'~' if e > TRUST else ''}{rc:.3f} ({100 * e:.1f}; "
                     f"{np.min(ours[line_free] / apec[line_free]):.3f}-"
                     f"{np.max(ours[line_free] / apec[line_free]):.3f})")
        print(f"| {kT:g} | " + " | ".join(cells) + " |")
        rows[kT] = (ours, cont, apec, sig)
    print("\n(each cell: cie / APEC, and the emulator's error in % in brackets; the last column: "
          "the median over line-free bins, the emulator's error on their sum, and the range)\n")

    print("| line | window (keV) | " + " | ".join(f"kT {k:g}" for k in args.kT) + " |")
    print("|---" * (len(args.kT) + 2) + "|")
    for name, (a, b, ion) in LINES.items():
        cells = []
        for kT in args.kT:
            ours, cont, apec, sig = rows[kT]
            lo_ = line_flux(emu, ours, cont, a, b)
            la = line_flux(emu, ours, cont, a, b, apec=apec)
            share = lo_ / ours[window(emu, a, b)].sum()
            if la <= 0 or share < 0.2:
                cells.append("-")
                continue

            def pick(f, a=a, b=b, ours=ours, cont=cont):
                return line_flux(emu, ours, cont, a, b, apec=f)

            def head(err, a=a, b=b, ours=ours, cont=cont):
                i = window(emu, a, b)
                side = sidebands(i)
                return err[i].sum() + cont[i].sum() / ours[side].sum() * err[side].sum()

            e = emulator_error(emu, args.abundance, kT, pick, sig, head)
            frac = ""
            if ioneq is not None:
                fr = np.interp(np.log10(kT * 1.160451812e7), logt_ioneq, ioneq[ion])
                frac = f" [{fr:.2g}]"
            cells.append(f"{'~' if e > TRUST else ''}{lo_ / la:.2f} ({100 * e:.0f}){frac}")
        print(f"| {name} | {a:.3f}-{b:.3f} | " + " | ".join(cells) + " |")
    print("\n(each cell: cie / APEC line flux, the emulator's error in %, and [the emitting ion's "
          "fraction in CHIANTI 9.0.1's ionisation balance]; '-': the line carries < 20 % of its "
          "window in cie, or APEC's is not above its continuum)\n")

    if os.path.exists(args.fiasco_python):
        es = [2.5, 4.0, 6.0, 9.0, 14.0, 20.0, 30.0]
        kts = [k for k in args.kT if k >= 2.0]
        g = itoh_check(args.fiasco_python, kts, es)
        if g:
            import astropy.constants as c

            e_cgs, me, cc, kb, h = (c.e.gauss.value, c.m_e.cgs.value, c.c.cgs.value,
                                    c.k_B.cgs.value, c.h.cgs.value)
            # Rybicki & Lightman (5.14b): dP/dV dt dnu per n_e n_p, erg s^-1 cm^3 Hz^-1 / sqrt(T)
            pref = 2 ** 5 * np.pi * e_cgs ** 6 / (3 * me * cc ** 3) * np.sqrt(2 * np.pi / (3 * kb * me))
            kev = 1.602176634e-9
            print("H free-free of cie / (Rybicki & Lightman x Itoh 2000 Gaunt factor), "
                  "at E (keV) = " + ", ".join(f"{e:g}" for e in es))
            hw = tab.weights(0.0, per_element={"He": 0.0})
            for kT in kts:
                ee = np.array(es)
                f = tab.evaluate(kT, ee * (1 - 1e-4), ee * (1 + 1e-4), 0.0, 1.0, hw) / (2e-4 * ee)
                T = kT * kev / kb
                rl = 1e14 * pref * T ** -0.5 * np.exp(-ee / kT) * np.array(g[str(kT)]) / (ee * kev) / h * kev
                print(f"  kT {kT:g}: " + " ".join("-" if not np.isfinite(x) else f"{x:.4f}"
                                                  for x in f / rl))
            print("('-': outside the Itoh fit's range, E/kT > 10)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refusal as exc:
        print(f"bench apec: {exc}", file=sys.stderr)
        sys.exit(2)
