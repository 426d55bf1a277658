"""A RIM prior for conventional fits: Sherpa statistics with -2 ln prior added.

    from sherpa_rim.prior import RIMPriorChi2, RIMPriorCStat
    set_stat(RIMPriorChi2(id=1))          # works with LevMar (the prior is in the per-bin vector)
    set_stat(RIMPriorCStat(id=1))         # cstat + prior, for NelderMead / MonCar / get_draws

The prior compares the *intrinsic* source model of data set ``id`` (evaluated
on the RIM's energy bins in the noticed band) with the RIM reconstruction of the
same data, within its 16-84 % band:

    -2 ln p = sum_k ((M_k(theta) - F_k) / s_k)^2,   s_k = (F_hi - F_lo)/2 (floored)

so a fit is pulled toward the reconstruction where the data alone constrain
it poorly. ``weight`` scales the prior (1 = as above).
"""
from __future__ import annotations

import logging

import numpy as np
from sherpa.stats import Chi2DataVar, CStat

log = logging.getLogger(__name__)

__all__ = ["RIMPriorChi2", "RIMPriorCStat"]


class _PriorTerms:
    def _init_prior(self, id, weight, floor, result):
        self.prior_id = id
        self.weight = float(weight)
        self.floor = float(floor)
        self._res = result

    def _prior(self):
        from sherpa.astro import ui

        from .deconvolution import deconvolve
        if self._res is None:
            self._res = deconvolve(id=self.prior_id)
        res = self._res
        src = ui.get_source(self.prior_id)
        lo, hi = res.energy_lo, res.energy_hi
        mid = np.sqrt(lo * hi)
        # the prior acts over the energies of the noticed channels
        if np.any(res.noticed):
            band = (mid >= res.channel_lo[res.noticed].min()) & (mid <= res.channel_hi[res.noticed].max())
        else:
            band = np.ones(mid.size, bool)
        model = src(lo, hi)
        s = np.maximum(0.5 * (res.flux_hi - res.flux_lo), self.floor * np.abs(res.flux) + 1e-30)
        r = (model - res.flux) / s
        return np.sqrt(self.weight) * r[band]

    @property
    def reconstruction(self):
        return self._res


class RIMPriorChi2(_PriorTerms, Chi2DataVar):
    """chi^2 (data variance) plus the RIM prior, usable with LevMar."""

    def __init__(self, id=1, weight=1.0, floor=0.05, result=None, name="rimprior_chi2"):
        # Sherpa objects refuse new attributes once initialised: set ours first
        self._init_prior(id, weight, floor, result)
        Chi2DataVar.__init__(self, name)

    def calc_stat(self, data, model):
        stat, fvec = Chi2DataVar.calc_stat(self, data, model)
        pr = self._prior()                 # signed residuals: LevMar squares fvec itself
        return stat + float((pr ** 2).sum()), np.concatenate([fvec, pr])

    # calc_chisqr is inherited: Sherpa squares the fvec of calc_stat, prior terms included


class RIMPriorCStat(_PriorTerms, CStat):
    """cstat plus the RIM prior (NelderMead, MonCar, get_draws)."""

    def __init__(self, id=1, weight=1.0, floor=0.05, result=None, name="rimprior_cstat"):
        self._init_prior(id, weight, floor, result)
        CStat.__init__(self, name)

    def calc_stat(self, data, model):
        stat, fvec = CStat.calc_stat(self, data, model)
        pr = self._prior()
        return stat + float((pr ** 2).sum()), np.concatenate([fvec, pr ** 2])
