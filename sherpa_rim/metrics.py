"""Metrics shared by every deconvolution method and benchmark.

All take the true intrinsic spectrum ``F`` and the estimate ``Fhat`` on the same
energy bins (``energy_lo``/``energy_hi`` in keV).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["band_mask", "relative_l2", "noise_normalised_error", "refolded_chi2", "band_flux_error",
           "FE_L_BAND", "FE_K_BAND", "EVAL_BAND", "evaluate"]

EVAL_BAND = (0.5, 7.0)      # keV: relative L2 error band
FE_L_BAND = (0.7, 1.3)      # keV: Fe-L complex
FE_K_BAND = (6.4, 7.0)      # keV: Fe-K complex


def band_mask(energy_lo, energy_hi, band):
    """Bool per energy bin: its midpoint lies in [band[0], band[1]) keV."""
    mid = 0.5 * (np.asarray(energy_lo) + np.asarray(energy_hi))
    return (mid >= band[0]) & (mid < band[1])


def relative_l2(F, Fhat, energy_lo, energy_hi, band=EVAL_BAND) -> np.ndarray:
    """||Fhat - F|| / ||F|| over the bins of ``band`` (works on batches: (..., n_energy))."""
    m = band_mask(energy_lo, energy_hi, band)
    F = np.asarray(F)[..., m]
    Fhat = np.asarray(Fhat)[..., m]
    return np.linalg.norm(Fhat - F, axis=-1) / np.maximum(np.linalg.norm(F, axis=-1), 1e-300)


def noise_normalised_error(F, Fhat, sigma_F) -> np.ndarray:
    """Per-bin error in units of the propagated noise, (Fhat - F) / sigma_F."""
    return (np.asarray(Fhat) - np.asarray(F)) / np.maximum(np.asarray(sigma_F), 1e-300)


def refolded_chi2(S, R, Fhat, sigma) -> np.ndarray:
    """chi^2 / n_channels of the refolded estimate against the data."""
    S = np.asarray(S, float)
    m = np.einsum("...ce,...e->...c", R, Fhat) if np.ndim(R) == 3 else np.asarray(Fhat) @ np.asarray(R).T
    return (((S - m) / sigma) ** 2).mean(axis=-1)


def band_flux_error(F, Fhat, energy_lo, energy_hi, band) -> np.ndarray:
    """Relative error of the photon flux in ``band`` (sum over its bins)."""
    m = band_mask(energy_lo, energy_hi, band)
    a = np.asarray(F)[..., m].sum(axis=-1)
    b = np.asarray(Fhat)[..., m].sum(axis=-1)
    return (b - a) / np.maximum(np.abs(a), 1e-300)


def evaluate(F, Fhat, S, R, sigma, energy_lo, energy_hi, sigma_F: Optional[np.ndarray] = None
             ) -> Dict[str, np.ndarray]:
    out = {
        "rel_l2": relative_l2(F, Fhat, energy_lo, energy_hi),
        "chi2_dof": refolded_chi2(S, R, Fhat, sigma),
        "fe_l_err": band_flux_error(F, Fhat, energy_lo, energy_hi, FE_L_BAND),
        "fe_k_err": band_flux_error(F, Fhat, energy_lo, energy_hi, FE_K_BAND),
    }
    if sigma_F is not None:
        z = noise_normalised_error(F, Fhat, sigma_F)
        out["z_rms"] = np.sqrt(np.mean(z ** 2, axis=-1))
    return out
