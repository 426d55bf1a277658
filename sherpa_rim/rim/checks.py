"""When a RIM reconstruction should not be trusted: the out-of-prior checks.

A network always returns *a* spectrum; these checks say when the data are outside what
it has learnt (the refolded reconstruction does not fit, no plasma of the training prior
describes the data, too few counts, a Galactic column above the training range).
"""
from __future__ import annotations

import logging
from typing import List, Optional, Tuple

from scipy.stats import chi2 as chi2_dist

from ..baselines import parametric_fit
from ..observation import IGNORED_SIGMA

log = logging.getLogger(__name__)

__all__ = ["prior_checks", "NH_TRAINING_MAX", "OUT_OF_PRIOR_CHI2"]

NH_TRAINING_MAX = 0.1        # 1e22 cm^-2: the RIM's training mixture (training.data.MIXTURE)
OUT_OF_PRIOR_CHI2 = 1.5      # refolded chi^2/dof above this (and p < 1e-3): outside the prior


def prior_checks(chi2, dof, obs, nH=None) -> Tuple[List[str], Optional[bool]]:
    """Warnings when the reconstruction should not be trusted, and the verdict: True (inside
    the training prior), False (outside), None (the check could not be made).

    1. the refolded reconstruction does not fit the data;
    2. the data are not thermal: no plasma of the training prior (one or two temperatures
       in 0.5-8 keV, abundance 0.15-1.5, z <= 0.3) describes them (chi2/dof > 1.5 with
       p < 1e-3). A network always returns *a* spectrum; this says when it is outside what
       it has learnt (e.g. a line-free power law, which only a metal-free plasma mimics).
       A known Galactic column ``nH`` is held fixed in those fits: without it an absorbed
       group (the demo's, 1e21 cm^-2) looks unlike any unabsorbed plasma.
    """
    w = []
    inside = True
    if dof > 0:
        p = chi2_dist.sf(chi2, dof)
        if chi2 / dof > OUT_OF_PRIOR_CHI2 and p < 1e-3:
            w.append(f"the refolded reconstruction does not fit the data (chi2/dof = "
                     f"{chi2 / dof:.2f}, p = {p:.1e}): the spectrum is outside the training prior "
                     "(thermal plasma, kT 0.5-8 keV); do not use this reconstruction")
            inside = False
    if obs.counts_total < 300:
        w.append(f"only {obs.counts_total:.0f} counts: the reconstruction is mostly the prior")
    elif inside:
        verdict, msg = _not_thermal(obs, nH)
        if msg:
            w.append(msg)
        inside = verdict
    if nH is not None and nH > NH_TRAINING_MAX:
        w.append(f"Galactic column {nH:g}e22 cm^-2 is above the training range (<= {NH_TRAINING_MAX:g}e22): "
                 "the soft band of the reconstruction is an extrapolation")
    return w, inside


def _not_thermal(obs, nH=None) -> Tuple[Optional[bool], Optional[str]]:
    """(True, None) when a plasma of the training prior fits; (False, why) when none does;
    (None, why) when the fits could not be made."""
    m = obs.noticed & (obs.sigma < IGNORED_SIGMA)
    grid = obs.grid
    best = None
    for nt in (1, 2):
        try:
            _, p = parametric_fit(obs.S, obs.R, obs.sigma, grid.energy_lo, grid.energy_hi,
                                  starts=((0.8, 0.02), (2.5, 0.1), (6.0, 0.05)), return_params=True,
                                  kT_range=(0.5, 8.0), n_temperatures=nt, mask=m,
                                  abundance_range=(0.15, 1.5), z_max=0.3, nH=nH or None)
        except Exception as exc:   # noqa: BLE001 - reported, never taken for a pass
            log.warning("out-of-prior check failed: %s", exc)
            return None, (f"the out-of-prior check failed ({type(exc).__name__}: {exc}): whether "
                          "the spectrum is inside the training prior is not known")
        red = p["stat"] / max(p["dof"], 1)
        best = red if best is None else min(best, red)
        if red < OUT_OF_PRIOR_CHI2 or chi2_dist.sf(p["stat"], max(p["dof"], 1)) > 1e-3:
            return True, None
    absorbed = (f"seen through the Galactic column {nH:g}e22 cm^-2" if nH else
                "unabsorbed: give nH= if the source has a Galactic column")
    return False, (f"no thermal plasma of the training prior (1 or 2 temperatures in 0.5-8 keV, "
                   f"abundance >= 0.15; {absorbed}) fits "
                   f"these data (best chi2/dof = {best:.2f}): the spectrum is outside the training "
                   "prior; the RIM reconstruction is an interpolation, not a measurement")
