"""The RIM's uncertainty band, calibrated, and its goodness of fit, calibrated.

**The band.** The network is run on the data and on Poisson (or Gaussian) resamplings of
them; the spread of the reconstructions, s = half the 16-84 % range of their logarithm in
each energy bin, measures how much the answer moves with the noise. It is far narrower than
the RIM's real error (the network's own bias is not in it), so it is scaled: on spectra
through the *validation* ObsIDs, per count class and per energy bin, the 68.3 % and 90 %
quantiles q of |ln(true / RIM)| / s are measured (``python -m training.calibrate_band``),
and the band is RIM x exp(+-q s). The same for the photon flux in broad bands (the eight
log bands of the RIM prior, Fe-L 0.7-1.3 keV, Fe-K 6.4-7.0 keV) from the spread of the
resampled band sums. Its coverage on the *test* ObsIDs is measured by
``./dev.sh bench calibration`` (docs/rim.md).

**The goodness of fit.** For counts, the refolded reconstruction's C-statistic is set
against its expectation for the model (Kaastra 2017): z = (C - E[C]) / sd[C]. The
reconstruction was fitted to the same counts, so z sits below 0 on spectra the network
knows; its distribution there is measured per count class on the validation ObsIDs, and
the p-value is the chance of a z at least as large (normal with that class's mean and
width). It means the same at 300 counts and at 300,000; chi2/dof does not. For Gaussian
noise, z = (chi2 - n) / sqrt(2 n), calibrated the same way.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
from scipy import stats as sps

from ..errors import ModelFileError
from ..metrics import FE_K_BAND, FE_L_BAND, band_mask
from ..poisson import cstat, cstat_expectation

__all__ = ["BAND_EDGES", "BANDS", "CLASSES", "S_FLOOR", "count_class", "log_spread", "band_matrix_named",
           "calibration", "calibrated_band", "refold_pvalue"]

BAND_EDGES = tuple(float(x) for x in np.round(np.geomspace(0.5, 7.0, 9), 4))
BANDS = {**{f"{a:g}-{b:g} keV": (a, b) for a, b in zip(BAND_EDGES[:-1], BAND_EDGES[1:])},
         "Fe-L": FE_L_BAND, "Fe-K": FE_K_BAND}
#: count classes (noticed counts of a Poisson spectrum) and the Gaussian-noise class
CLASSES = {"1e2-1e3": (1e2, 1e3), "1e3-1e4": (1e3, 1e4), "1e4-1e5": (1e4, 1e5),
           ">1e5": (1e5, np.inf), "gaussian": (None, None)}
_FLOOR = 1e-30
S_FLOOR = 1e-4               # the smallest resampling spread (of ln F) used as the band's unit


def count_class(counts: float, noise: str = "poisson") -> str:
    if noise == "gaussian":
        return "gaussian"
    for name, (lo, hi) in CLASSES.items():
        if lo is not None and lo <= counts < hi:
            return name
    return "1e2-1e3"            # below 100 counts: the lowest class (and a warning elsewhere)


def log_spread(x, axis=0) -> np.ndarray:
    """Half the 16-84 % range of ln(x) along ``axis``."""
    lo, hi = np.percentile(np.log(np.maximum(x, _FLOOR)), [15.87, 84.13], axis=axis)
    return 0.5 * (hi - lo)


def band_matrix_named(energy_lo, energy_hi) -> np.ndarray:
    """(n_bands, n_energy) 0/1 rows of :data:`BANDS`, in their order."""
    return np.stack([band_mask(energy_lo, energy_hi, b) for b in BANDS.values()]).astype(float)


def calibration(entry: dict) -> dict:
    cal = entry.get("band_calibration")
    if cal is None:
        raise ModelFileError(f"model {entry.get('file')!r} has no band_calibration in its manifest; "
                             "run python -m training.calibrate_band")
    return cal


def calibrated_band(F, samples, energy_lo, energy_hi, cal: dict, cls: str) -> Dict[str, object]:
    """The calibrated 68 % and 90 % intervals per energy bin and per band (module docstring)."""
    c = cal["classes"][cls]
    s = np.maximum(log_spread(samples), S_FLOOR)
    q68, q90 = np.asarray(c["q68_bin"]), np.asarray(c["q90_bin"])
    out = {"lo68": F * np.exp(-q68 * s), "hi68": F * np.exp(q68 * s),
           "lo90": F * np.exp(-q90 * s), "hi90": F * np.exp(q90 * s)}
    B = band_matrix_named(energy_lo, energy_hi)
    fb = B @ F
    sb = np.maximum(log_spread(samples @ B.T), S_FLOOR)
    bands = {}
    for k, name in enumerate(BANDS):
        a68, a90 = c["q68_band"][name], c["q90_band"][name]
        bands[name] = {"flux": float(fb[k]), "lo68": float(fb[k] * np.exp(-a68 * sb[k])),
                       "hi68": float(fb[k] * np.exp(a68 * sb[k])),
                       "lo90": float(fb[k] * np.exp(-a90 * sb[k])),
                       "hi90": float(fb[k] * np.exp(a90 * sb[k]))}
    out["bands"] = bands
    return out


def refold_pvalue(data, model, noticed, cal: Optional[dict], cls: str, noise: str = "poisson",
                  sigma=None) -> Dict[str, float]:
    """Goodness of fit of the refolded reconstruction ``model`` to ``data`` in the noticed
    channels: for counts the calibrated Kaastra z (module docstring), for Gaussian noise
    chi2. Returns {statistic, value, expected, sd, z, p, method}."""
    m = np.asarray(noticed, bool)
    g = (cal or {}).get("gof", {}).get(cls)
    if noise == "gaussian":
        chi2 = float((((data - model) / sigma)[m] ** 2).sum())
        dof = int(m.sum())
        z = (chi2 - dof) / np.sqrt(2 * dof)
        if g is None:
            p, how = float(sps.chi2.sf(chi2, dof)), "chi2 (Gaussian noise), uncalibrated"
        else:
            p = float(sps.norm.sf((z - g["z_mean"]) / g["z_sd"]))
            how = "chi2 (Gaussian noise) against its expectation, calibrated on the validation ObsIDs"
        return {"statistic": "chi2", "value": chi2, "expected": float(dof),
                "sd": float(np.sqrt(2 * dof)), "z": float(z), "p": p, "method": how}
    d = np.clip(np.asarray(data, float)[m], 0, None)
    mu = np.clip(np.asarray(model, float)[m], 1e-10, None)
    C = float(cstat(d, mu))
    e, v = cstat_expectation(mu)
    z = (C - e) / np.sqrt(v)
    if g is None:
        p, how = float(sps.norm.sf(z)), "cstat against its expectation (Kaastra 2017), uncalibrated"
    else:
        p = float(sps.norm.sf((z - g["z_mean"]) / g["z_sd"]))
        how = "cstat against its expectation (Kaastra 2017), calibrated on the validation ObsIDs"
    return {"statistic": "cstat", "value": C, "expected": e, "sd": float(np.sqrt(v)),
            "z": float(z), "p": p, "method": how}
