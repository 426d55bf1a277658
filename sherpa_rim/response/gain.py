"""Response calibration as pure functions: XSPEC's gain and a smooth effective-area factor.

**Gain** (XSPEC's ``gain`` command, https://heasarc.gsfc.nasa.gov/docs/xanadu/xspec/manual/XSgain.html):
the energies on which the response matrix is defined are mapped by

    E' = E / slope - offset          (offset in keV)

so the matrix row that was defined for energy E now receives photons of energy E': the model
is evaluated on the mapped bins, the redistribution is unchanged, and the effective area
is the ARF's at the photon's own energy E' (XSPEC re-bins the saved effective-area curve on
the new bins). A photon of true energy E' is therefore detected as if it had energy
E = slope (E' + offset): the apparent shift at energy E' is (slope - 1) E' + slope offset.

**Area correction**: factor x (1 + d(E)), d piecewise linear in log E through fixed knots
(0.5, 1, 2, 4, 8 keV), constant beyond the end knots. ``factor`` is a constant
cross-normalisation; the knot values bend the effective area smoothly.
"""
from __future__ import annotations

import numpy as np

from .grid import bin_integral

__all__ = ["shifted_bins", "apparent_shift", "area_on_bins", "AREA_KNOTS_KEV", "area_factor"]

AREA_KNOTS_KEV = (0.5, 1.0, 2.0, 4.0, 8.0)
_E_MIN = 1e-6                  # keV: mapped energies are kept above this


def shifted_bins(lo, hi, slope: float, offset: float):
    """The bins [lo, hi) (keV) mapped by E' = E / slope - offset (kept above 1e-6 keV)."""
    if not slope > 0:
        raise ValueError(f"gain slope = {slope!r}: it must be > 0")
    lo = np.asarray(lo, float) / slope - offset
    hi = np.asarray(hi, float) / slope - offset
    return np.maximum(lo, _E_MIN), np.maximum(hi, _E_MIN)


def apparent_shift(energy, slope: float, offset: float):
    """Detected minus true energy (keV) of a photon of true energy ``energy`` (keV) under the
    gain (slope, offset): slope (E + offset) - E."""
    e = np.asarray(energy, float)
    return slope * (e + offset) - e


def area_on_bins(arf_lo, arf_hi, specresp, lo, hi):
    """The effective area (cm^2) averaged over each bin [lo, hi) (keV), from an ARF defined
    on [arf_lo, arf_hi) (zero outside it)."""
    arf_lo = np.asarray(arf_lo, float)
    arf_hi = np.asarray(arf_hi, float)
    edges = np.append(arf_lo, arf_hi[-1])
    cells = np.asarray(specresp, float) * (arf_hi - arf_lo)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    width = hi - lo
    out = bin_integral(edges, cells, lo, hi)
    return np.divide(out, width, out=np.zeros_like(out), where=width > 0)


def area_factor(energy, factor: float, values, knots=AREA_KNOTS_KEV):
    """factor x (1 + d(E)), d piecewise linear in log E through ``values`` at ``knots``."""
    e = np.maximum(np.asarray(energy, float), _E_MIN)
    d = np.interp(np.log(e), np.log(np.asarray(knots, float)), np.asarray(values, float))
    return factor * (1.0 + d)
