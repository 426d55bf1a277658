"""Emission backends sharing one interface:

    backend.spectrum(kT, abundance, redshift, norm, e_lo, e_hi) -> photons/cm^2/s per bin

* ``chianti`` (default): the table shipped with sherpa_rim;
* ``xsapec``: XSPEC's apec through ``sherpa.astro.xspec`` (only where Sherpa
  was built with XSPEC);
* ``atomdb``: AtomDB APEC files (``*_line.fits`` and ``*_coco.fits``) from the
  folder ``$ATOMDB`` (or a path given by the user).
"""
from __future__ import annotations

import glob
import logging
import os
import pathlib
from typing import Optional

import numpy as np

from ..errors import MissingDependencyError
from ..response.grid import HC_KEV_A, bin_integral
from .abundances import ELEMENTS, solar
from .cie import spectrum as _chianti_spectrum

log = logging.getLogger(__name__)

__all__ = ["ChiantiBackend", "XSApecBackend", "AtomDBBackend", "get_backend"]



class ChiantiBackend:
    name = "chianti"

    def __init__(self, abund_table: str = "angr"):
        self.abund_table = abund_table

    def spectrum(self, kT, abundance, redshift, norm, e_lo, e_hi):
        return _chianti_spectrum(kT, abundance, redshift, norm, e_lo, e_hi,
                                 abund_table=self.abund_table)


class XSApecBackend:
    """XSPEC's ``apec`` (needs Sherpa built with XSPEC)."""

    name = "xsapec"

    def __init__(self, abund_table: str = "angr"):
        try:
            from sherpa.astro import xspec
        except ImportError as exc:
            raise MissingDependencyError(
                "the xsapec backend needs Sherpa built with XSPEC (CIAO's Sherpa has it; pip "
                "Sherpa does not): use backend='chianti' instead") from exc
        self._xspec = xspec
        self._model = xspec.XSapec("sherpa_rim_apec")
        self.abund_table = abund_table

    def spectrum(self, kT, abundance, redshift, norm, e_lo, e_hi):
        self._xspec.set_xsabund(self.abund_table)
        return np.asarray(self._model.calc([kT, abundance, redshift, norm],
                                           np.asarray(e_lo, float), np.asarray(e_hi, float)))


class AtomDBBackend:
    """APEC spectra from AtomDB files (``apec_line.fits`` / ``apec_coco.fits``).

    AtomDB emissivities include the Anders & Grevesse (1989) abundances; they are
    divided by those and multiplied by the chosen table times ``abundance``
    (for Z > 2), as XSPEC does. Spectra at the two tabulated temperatures around
    kT are interpolated linearly in log T.
    """

    name = "atomdb"

    def __init__(self, path: Optional[str] = None, abund_table: str = "angr"):
        from astropy.io import fits

        root = pathlib.Path(path or os.environ.get("ATOMDB", ""))
        if not str(root) or not root.exists():
            raise FileNotFoundError("no AtomDB files: set $ATOMDB to the folder holding "
                                    "apec_line.fits and apec_coco.fits (or pass path=)")
        if root.is_dir():
            lines = sorted(glob.glob(str(root / "**" / "*_line.fits"), recursive=True))
            cocos = sorted(glob.glob(str(root / "**" / "*_coco.fits"), recursive=True))
            if not lines or not cocos:
                raise FileNotFoundError(f"{root} holds no *_line.fits and *_coco.fits pair; "
                                        "point $ATOMDB at an AtomDB installation")
            line_file, coco_file = lines[-1], cocos[-1]
        else:
            raise FileNotFoundError(f"{root} is not a folder; set $ATOMDB to the folder of "
                                    "the AtomDB files")
        self.line_file, self.coco_file = line_file, coco_file
        self.abund_table = abund_table
        with fits.open(line_file) as hl:
            self.kT = np.asarray(hl[1].data["kT"], float)
            self._lines = []
            for k in range(self.kT.size):
                d = hl[k + 2].data
                self._lines.append((HC_KEV_A / np.asarray(d["Lambda"], float),
                                    np.asarray(d["Epsilon"], float),
                                    np.asarray(d["Element"], int)))
        with fits.open(coco_file) as hl:
            kt_c = np.asarray(hl[1].data["kT"], float)
            if kt_c.size != self.kT.size or not np.allclose(kt_c, self.kT, rtol=1e-4):
                raise ValueError(f"{line_file} and {coco_file} have different temperature grids; "
                                 "use files from one AtomDB release")
            self._cont = []
            for k in range(self.kT.size):
                d = hl[k + 2].data
                rows = []
                for r in range(len(d)):
                    z, rmj = int(d["Z"][r]), int(d["rmJ"][r])
                    if rmj != 0:      # rmJ = 0: the element summed over its ions
                        continue
                    nc, npd = int(d["N_Cont"][r]), int(d["N_Pseudo"][r])
                    rows.append((z, np.asarray(d["E_Cont"][r][:nc], float),
                                 np.asarray(d["Continuum"][r][:nc], float),
                                 np.asarray(d["E_Pseudo"][r][:npd], float),
                                 np.asarray(d["Pseudo"][r][:npd], float)))
                self._cont.append(rows)
        ag = dict(zip(ELEMENTS, solar("angr")))
        self._ag89 = ag

    def _factor(self, abundance):
        sol = dict(zip(ELEMENTS, solar(self.abund_table)))
        return {z: (sol[z] / self._ag89[z]) * (abundance if z > 2 else 1.0) for z in ELEMENTS}

    def _one(self, k, fac, e_lo, e_hi, zf):
        out = np.zeros(e_lo.size)
        e, eps, el = self._lines[k]
        w = np.array([fac.get(int(z), 0.0) for z in el]) * eps
        eo = e / zf
        order = np.argsort(e_lo)
        lo_s, hi_s = e_lo[order], e_hi[order]
        j = np.searchsorted(lo_s, eo, side="right") - 1
        ok = (j >= 0)
        j = np.where(ok, j, 0)
        ok &= eo < hi_s[j]
        tmp = np.bincount(j[ok], weights=w[ok], minlength=e_lo.size)
        out[order] += tmp
        for z, ec, cc, ep, pc in self._cont[k]:
            f = fac.get(z, 0.0)
            if f == 0:
                continue
            for ee, cv in ((ec, cc), (ep, pc)):
                if ee.size < 2:
                    continue
                out += f * bin_integral(ee, 0.5 * (cv[1:] + cv[:-1]) * np.diff(ee), e_lo * zf, e_hi * zf)
        return out

    def spectrum(self, kT, abundance, redshift, norm, e_lo, e_hi):
        e_lo = np.asarray(e_lo, float)
        e_hi = np.asarray(e_hi, float)
        if kT < self.kT[0] or kT > self.kT[-1]:
            raise ValueError(f"kT = {kT} keV is outside the AtomDB grid "
                             f"({self.kT[0]:.4g}-{self.kT[-1]:.4g} keV)")
        zf = 1.0 + redshift
        fac = self._factor(abundance)
        i = int(np.clip(np.searchsorted(self.kT, kT) - 1, 0, self.kT.size - 2))
        w = (np.log(kT) - np.log(self.kT[i])) / (np.log(self.kT[i + 1]) - np.log(self.kT[i]))
        s = (1 - w) * self._one(i, fac, e_lo, e_hi, zf) + w * self._one(i + 1, fac, e_lo, e_hi, zf)
        return s * norm * 1e14 / zf


def get_backend(name: str = "chianti", **kwargs):
    """A backend by name: 'chianti', 'xsapec', 'atomdb', or 'auto' (xsapec when
    Sherpa has XSPEC, else AtomDB files when $ATOMDB is set, else chianti)."""
    if name == "auto":
        try:
            return XSApecBackend(**kwargs)
        except MissingDependencyError:
            pass
        if os.environ.get("ATOMDB"):
            return AtomDBBackend(**kwargs)
        return ChiantiBackend(**kwargs)
    table = {"chianti": ChiantiBackend, "xsapec": XSApecBackend, "atomdb": AtomDBBackend}
    if name not in table:
        raise ValueError(f"unknown emission backend {name!r}; choose one of {sorted(table)} or 'auto'")
    return table[name](**kwargs)


