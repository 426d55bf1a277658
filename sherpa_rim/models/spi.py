"""``spi``: a set of plasma particles as a Sherpa model.

P particles (ln kT, abundance, log10 luminosity) live in one array inside the
model (``m.particles``, shape (P, 3)); the global parameters - redshift,
Galactic absorption (nH, Morrison & McCammon) and an overall norm - are
ordinary Sherpa parameters. The model value on any energy grid is

    norm x T(nH) x sum_i L_i CIE(kT_i, Z_i, z)      [photons/cm^2/s per bin]

evaluated through templates on a temperature grid (cached per grid, z, nH), so
it fits, plots and folds like any additive model. Sampling the particles is
done by :func:`sherpa_rim.spi.sampler.run_spi` (fast, vectorised); this class
is the bridge to the session (plots, statistics, comparisons with ``cie``).
"""
from __future__ import annotations

import numpy as np
from sherpa.models.model import RegriddableModel1D
from sherpa.models.parameter import Parameter
from sherpa.utils.err import ModelErr

from ..spi.templates import make_templates

__all__ = ["SPI"]


class SPI(RegriddableModel1D):
    """Smoothed-particle plasma model (see the module docstring)."""

    def __init__(self, name="spi", n_particles: int = 100):
        self.redshift = Parameter(name, "redshift", 0.0, min=0.0, max=2.0, hard_min=0.0,
                                  hard_max=10.0, frozen=True)
        self.nH = Parameter(name, "nH", 0.0, min=0.0, max=10.0, hard_min=0.0, hard_max=100.0,
                            units="10^22 atoms / cm^2", frozen=True)
        self.norm = Parameter(name, "norm", 1.0, min=0.0, max=1e10, hard_min=0.0, hard_max=1e24)
        self._tpl = {}
        p = np.zeros((n_particles, 3))
        p[:, 0] = np.log(2.0)
        p[:, 1] = 0.3
        p[:, 2] = np.log10(1e-3 / n_particles)
        self._particles = p
        RegriddableModel1D.__init__(self, name, (self.redshift, self.nH, self.norm))

    @property
    def particles(self) -> np.ndarray:
        return self._particles

    @particles.setter
    def particles(self, value):
        v = np.asarray(value, float)
        if v.ndim != 2 or v.shape[1] != 3:
            raise ModelErr("particles must be an (P, 3) array of (ln kT, abundance, log10 L)")
        self._particles = v.copy()

    def set_isothermal(self, kT, abundance, norm, n_particles=None):
        """All particles at one temperature and abundance, sharing ``norm``."""
        P = self._particles.shape[0] if n_particles is None else int(n_particles)
        p = np.empty((P, 3))
        p[:, 0] = np.log(kT)
        p[:, 1] = abundance
        p[:, 2] = np.log10(norm / P)
        self._particles = p

    def calc(self, p, lo, hi=None, *args, **kwargs):
        if hi is None:
            raise ModelErr(f"{self.name} needs an integrated energy grid (lo, hi) in keV")
        z, nh, norm = p
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        key = (lo.size, hash(lo.tobytes()), hash(hi.tobytes()), round(z, 8), round(nh, 8))
        tpl = self._tpl.get(key)
        if tpl is None:
            if len(self._tpl) > 8:
                self._tpl.clear()
            tpl = make_templates(lo, hi, z, nh)
            self._tpl[key] = tpl
        P = self._particles
        return norm * tpl.evaluate(P[:, 0], P[:, 1], 10.0 ** P[:, 2])

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_tpl"] = {}
        return state
