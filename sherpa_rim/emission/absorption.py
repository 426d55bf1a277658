"""Galactic photoelectric absorption, Morrison & McCammon (1983).

The effective cross-section per hydrogen atom of a gas with solar abundances
(Anders & Ebihara 1982), piecewise

    sigma(E) = (c0 + c1 E + c2 E^2) E^-3 x 1e-24 cm^2,    E in keV,

over 14 ranges from 0.03 to 10 keV (Morrison & McCammon 1983, ApJ 270, 119,
Table 2); above 10 keV the last range is continued. The transmission is
exp(-N_H sigma(E)), averaged over each bin by Simpson's rule (or taken at the bin
centre, the simulator's rule: :func:`transmission`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["mm83_cross_section", "transmission"]

# lower edge (keV), c0, c1, c2
_MM83 = np.array([
    [0.030, 17.3, 608.1, -2150.0],
    [0.100, 34.6, 267.9, -476.1],
    [0.284, 78.1, 18.8, 4.3],
    [0.400, 71.4, 66.8, -51.4],
    [0.532, 95.5, 145.8, -61.1],
    [0.707, 308.9, -380.6, 294.0],
    [0.867, 120.6, 169.3, -47.7],
    [1.303, 141.3, 146.8, -31.5],
    [1.840, 202.7, 104.7, -17.0],
    [2.471, 342.7, 18.7, 0.0],
    [3.210, 352.2, 18.7, 0.0],
    [4.038, 433.9, -2.4, 0.75],
    [7.111, 629.0, 30.9, 0.0],
    [8.331, 701.2, 25.2, 0.0],
])


def mm83_cross_section(energy) -> np.ndarray:
    """Cross-section per H atom (cm^2) at ``energy`` (keV); valid from 0.03 keV."""
    e = np.asarray(energy, dtype=float)
    if np.any(e < 0.03):
        raise ValueError("the Morrison & McCammon (1983) cross-sections start at 0.03 keV; "
                         "ignore lower energies (notice 0.1 keV and above)")
    k = np.clip(np.searchsorted(_MM83[:, 0], e, side="right") - 1, 0, len(_MM83) - 1)
    c0, c1, c2 = _MM83[k, 1], _MM83[k, 2], _MM83[k, 3]
    return (c0 + c1 * e + c2 * e * e) * e ** -3 * 1e-24


def transmission(nh_1e22, e_lo, e_hi, rule: str = "simpson") -> np.ndarray:
    """Transmission exp(-N_H sigma(E)) per energy bin for a column ``nh_1e22`` (units of
    1e22 cm^-2; a scalar gives (n_bins,), an array of columns (..., n_bins)).

    ``rule`` says how each bin is represented:

    * ``"simpson"`` (the Sherpa model ``mmabs``, fits, SPI templates): the bin average
      by Simpson's rule over its edges and midpoint;
    * ``"centre"`` (the simulator, the DAE's response input, the amortised benchmark):
      the value at the bin's geometric centre. The shipped networks were trained with
      this rule, so the run-time features that mirror training keep it.
    """
    e_lo = np.asarray(e_lo, float)
    e_hi = np.asarray(e_hi, float)
    nh = np.asarray(nh_1e22, float)[..., None] * 1e22
    if rule == "centre":
        return np.exp(-nh * mm83_cross_section(np.sqrt(e_lo * e_hi)))
    if rule != "simpson":
        raise ValueError(f"rule must be 'simpson' or 'centre', not {rule!r}")
    if nh.ndim == 1 and nh[0] == 0:
        return np.ones_like(e_lo)
    mid = 0.5 * (e_lo + e_hi)
    t = [np.exp(-nh * mm83_cross_section(np.maximum(x, 0.03))) for x in (e_lo, mid, e_hi)]
    return (t[0] + 4 * t[1] + t[2]) / 6.0
