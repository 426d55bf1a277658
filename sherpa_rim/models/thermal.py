"""Sherpa model classes for thermal plasma emission.

``cie`` and ``vcie`` follow XSPEC's ``apec``/``vapec`` parameters and
normalisation. Each ``calc`` gives the numbers of the pure function
:func:`sherpa_rim.emission.spectrum` (``line_binning="linear"``), computed by a
:class:`~sherpa_rim.emission.fast.GridEvaluator` prepared once per energy grid (the grid a
response or a filter gives; a few are kept), so that a fit's evaluations at new parameters
cost a fraction of a millisecond (``./dev.sh bench emission``).
"""
from __future__ import annotations

import logging
import warnings
from collections import OrderedDict

import numpy as np
from sherpa.models.model import RegriddableModel1D
from sherpa.models.parameter import Parameter
from sherpa.utils.err import ModelErr

from ..emission import cie, missing
from ..emission.fast import GridEvaluator
from ..emission.abundances import SYMBOLS, get_abund, set_abund  # noqa: F401 (re-exported)
from ..response.grid import energy_bins

log = logging.getLogger(__name__)

__all__ = ["CIE", "VCIE", "BCIE", "BVCIE", "set_abund", "get_abund"]

class _Cache:
    """A small cache keyed by parameter values, abundance table and grid."""

    def __init__(self, size=8):
        self.size = size
        self.store = OrderedDict()

    def key(self, p, lo, hi):
        lo = np.ascontiguousarray(lo, dtype=float)
        hi = np.ascontiguousarray(hi, dtype=float)
        return (tuple(float(x) for x in p), get_abund(), lo.size,
                hash(lo.tobytes()), hash(hi.tobytes()))

    def get(self, k):
        if k in self.store:
            self.store.move_to_end(k)
            return self.store[k]
        return None

    def put(self, k, v):
        self.store[k] = v
        if len(self.store) > self.size:
            self.store.popitem(last=False)


_WARNED = set()


def _warn_missing_ions(name, kT):
    """Warn, once per process for each set of elements, where ions without lines in the table
    hold a fifth or more of an element (:func:`sherpa_rim.emission.missing.missing_ions`)."""
    if kT > 0.6:                                  # cheap exit: nothing is named above ~0.5 keV
        return
    found = frozenset(k for k in missing.missing_ions(kT) if k not in missing.NOT_NAMED)
    if found and found not in _WARNED:
        _WARNED.add(found)
        warnings.warn(f"{name}: {missing.missing_ions_note(kT)}", UserWarning, stacklevel=4)


class _Thermal(RegriddableModel1D):
    """Shared machinery: grid checks and caching."""

    def _setup_kT(self, name):
        t = cie.load_table()
        self.kT = Parameter(name, "kT", 1.0, min=t.kT_min, max=t.kT_max,
                            hard_min=t.kT_min, hard_max=t.kT_max, units="keV")

    def _setup_abundance(self, name):
        self.Abundanc = Parameter(name, "Abundanc", 1.0, min=0.0, max=5.0, hard_min=0.0,
                                  hard_max=1000.0, frozen=True)

    def _setup_elements(self, name):
        """One abundance Parameter per element He ... Ni (the v- models); returns them."""
        pars = []
        for sym in SYMBOLS[1:]:
            p = Parameter(name, sym, 1.0, min=0.0, max=1000.0, hard_min=0.0, hard_max=1000.0,
                          frozen=True)
            setattr(self, sym, p)
            pars.append(p)
        return pars

    def _setup_redshift(self, name):
        self.redshift = Parameter(name, "redshift", 0.0, min=-0.999, max=10.0, hard_min=-0.999,
                                  hard_max=10.0, frozen=True)

    def _setup_norm(self, name):
        self.norm = Parameter(name, "norm", 1.0, min=0.0, max=1e24, hard_min=0.0, hard_max=1e24)

    def _evaluator(self, lo, hi, z) -> GridEvaluator:
        """The evaluator of this grid (kept per grid, a few grids per model), for a redshift
        range that holds ``z``."""
        store = self.__dict__.setdefault("_sr_evaluators", OrderedDict())
        key = (lo.size, hash(lo.tobytes()), hash(hi.tobytes()))
        ev = store.get(key)
        if ev is None or not ev.covers(z):
            z_range = (min(0.0, z), max(2.0, z)) if ev is None else (
                min(ev.z_range[0], z), max(ev.z_range[1], z))
            ev = GridEvaluator(lo, hi, z_range=z_range)
            store[key] = ev
            if len(store) > 4:
                store.popitem(last=False)
        store.move_to_end(key)
        return ev

    def _fast(self, kT, weights, z, norm, velocity=None):
        """fn(lo, hi) for :meth:`_cached`: the grid's evaluator at these parameters (the pure
        function where the grid is one no evaluator takes: empty, or overlapping bins).
        ``velocity`` (km/s): Gaussian lines, thermally and velocity broadened."""
        broaden = velocity is not None
        v = float(velocity or 0.0)

        def fn(lo, hi):
            lo = np.ascontiguousarray(lo, float)
            hi = np.ascontiguousarray(hi, float)
            t = cie.load_table()
            t.t_index(kT)                         # the table's own range check and message
            _warn_missing_ions(self.name, kT)
            cie.warn_beyond_table(hi, z, self.name)
            try:
                ev = self._evaluator(lo, hi, z)
            except ValueError:
                return t.evaluate(kT, lo, hi, z, norm, weights, line_binning="linear",
                                  broaden=broaden, velocity=v)
            return ev.evaluate(kT, weights, z, norm, broaden=broaden, velocity=v)
        return fn

    def _cached(self, p, lo, hi, fn):
        if hi is None:
            raise ModelErr("integrated grid required: evaluate on energy bins (lo, hi) in keV, "
                           f"as a PHA response does; {self.name} is an XSPEC-style additive model")
        if getattr(self, "_use_caching", True):
            cache = self.__dict__.setdefault("_sr_cache", _Cache())
            k = cache.key(p, lo, hi)
            v = cache.get(k)
            if v is not None:
                return v.copy()
        v = fn(*energy_bins(lo, hi))
        if getattr(self, "_use_caching", True):
            cache.put(k, v.copy())
        return v

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_sr_cache", None)
        state.pop("_sr_evaluators", None)
        return state


class CIE(_Thermal):
    """Collisional-ionisation-equilibrium plasma from the shipped CHIANTI table.

    Parameters
    ----------
    kT : keV, inside the table range (about 0.068-21.6 keV: hard limits).
    Abundanc : metal abundance relative to solar (``set_abund`` picks the table).
    redshift : z.
    norm : 1e-14 / (4 pi [D_A (1+z)]^2) int n_e n_H dV (cm^-5), as XSPEC's apec.

    Notes
    -----
    Photons/cm^2/s per bin; see :func:`sherpa_rim.emission.spectrum`. Lines are shared
    linearly between the two bins around them (``line_binning='linear'``) so that the model,
    and the fit statistic, are continuous in redshift. Below about 0.5 keV some ions have no
    lines in the table (Fe VIII-XIII, Ar XIV, Ca XVI, ...): the model warns where they hold a
    fifth or more of an element (docs/emission.md).
    """

    def __init__(self, name="cie"):
        self._setup_kT(name)
        self._setup_abundance(name)
        self._setup_redshift(name)
        self._setup_norm(name)
        RegriddableModel1D.__init__(self, name, (self.kT, self.Abundanc, self.redshift, self.norm))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        kT, ab, z, norm = p
        w = cie.load_table().weights(ab, get_abund())
        return self._cached(p, lo, hi, self._fast(kT, w, z, norm))


class VCIE(_Thermal):
    """``cie`` with one abundance per element (He ... Ni), like XSPEC's vapec."""

    def __init__(self, name="vcie"):
        self._setup_kT(name)
        pars = [self.kT] + self._setup_elements(name)
        self._setup_redshift(name)
        self._setup_norm(name)
        pars += [self.redshift, self.norm]
        RegriddableModel1D.__init__(self, name, tuple(pars))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        kT = p[0]
        elems = dict(zip(SYMBOLS[1:], p[1:len(SYMBOLS)]))
        z, norm = p[len(SYMBOLS)], p[len(SYMBOLS) + 1]
        w = cie.load_table().weights(1.0, get_abund(), elems)
        return self._cached(p, lo, hi, self._fast(kT, w, z, norm))


def _velocity(name):
    # the evaluator keeps lines 20 % beyond its grid and integrates +-6 sigma: c 0.2 / 6
    vmax = 9990.0
    return Parameter(name, "Velocity", 0.0, min=0.0, max=vmax, hard_min=0.0, hard_max=vmax,
                     units="km/s", frozen=True)


class BCIE(_Thermal):
    """``cie`` with broadened lines, as XSPEC's ``bapec``: each line a Gaussian of sigma
    E sqrt(kT / (m c^2) + (Velocity / c)^2) (the ion's thermal motion at kT and a velocity
    dispersion), integrated over each bin, so that it is right at any bin width: a line
    narrower than its bin stays in it, one wider than several bins is a Gaussian.

    Parameters: kT, Abundanc, redshift, Velocity (Gaussian sigma, km/s; frozen at 0 by
    default, 0-9,990 km/s), norm."""

    def __init__(self, name="bcie"):
        self._setup_kT(name)
        self._setup_abundance(name)
        self._setup_redshift(name)
        self.Velocity = _velocity(name)
        self._setup_norm(name)
        RegriddableModel1D.__init__(self, name, (self.kT, self.Abundanc, self.redshift,
                                                 self.Velocity, self.norm))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        kT, ab, z, v, norm = p
        w = cie.load_table().weights(ab, get_abund())
        return self._cached(p, lo, hi, self._fast(kT, w, z, norm, velocity=v))


class BVCIE(_Thermal):
    """``bcie`` with one abundance per element (He ... Ni), as XSPEC's ``bvapec``."""

    def __init__(self, name="bvcie"):
        self._setup_kT(name)
        pars = [self.kT] + self._setup_elements(name)
        self._setup_redshift(name)
        self.Velocity = _velocity(name)
        self._setup_norm(name)
        pars += [self.redshift, self.Velocity, self.norm]
        RegriddableModel1D.__init__(self, name, tuple(pars))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        n = len(SYMBOLS)
        kT = p[0]
        elems = dict(zip(SYMBOLS[1:], p[1:n]))
        z, v, norm = p[n], p[n + 1], p[n + 2]
        w = cie.load_table().weights(1.0, get_abund(), elems)
        return self._cached(p, lo, hi, self._fast(kT, w, z, norm, velocity=v))
