"""A data set's own Sherpa statistic, vectorised over many models, and what to expect of it.

* :class:`SpectralData`: a ``DataPHA`` (session id or object) as counts per noticed group and
  the matrix G diag(exposure x AREASCAL) R that folds a model spectrum into them (G the
  grouping and filter, from Sherpa's own ``apply_filter``); ``statistic(mu)`` is Sherpa's
  cstat, or wstat with a background, for many model count vectors at once.
* :func:`cstat_expectation`, :func:`cstat_pvalue`: the expected value and variance of the
  C-statistic of a model (Kaastra 2017, A&A 605, A51), by exact sums over the Poisson
  distribution per bin, and the goodness-of-fit p-value they give: it means the same at
  300 counts and at 300,000 (chi2/dof does not).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats as sps

from .errors import DataError
from .response.ogip import load_response, response_from_data

log = logging.getLogger(__name__)

__all__ = ["SpectralData", "cstat", "TRUNC", "cstat_expectation", "cstat_pvalue"]

TRUNC = 1e-25        # Sherpa's default truncation value for the model


def cstat(data, model):
    """Sherpa's cstat: 2 sum [mu - d + d ln(d / mu)] (mu truncated at 1e-25); vectorised."""
    m = np.where(model > 0, model, TRUNC)
    d = data
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d * (np.log(d) - np.log(m)), 0.0)
    return 2.0 * np.sum(m - d + term, axis=-1)


@dataclass
class SpectralData:
    """A data set as SPI needs it (from :meth:`from_session`)."""

    counts: np.ndarray            # grouped, filtered source counts
    matrix: np.ndarray            # (n_groups, n_energy): G diag(exposure*areascal) R
    energy_lo: np.ndarray
    energy_hi: np.ndarray
    stat: str = "cstat"
    bkg_counts: Optional[np.ndarray] = None
    exp_src: Optional[np.ndarray] = None
    exp_bkg: Optional[np.ndarray] = None
    backscale_ratio: Optional[np.ndarray] = None
    id: object = None

    @classmethod
    def from_session(cls, id=1, stat: Optional[str] = None) -> "SpectralData":
        """Data set ``id`` of the Sherpa session (``stat``: 'cstat' or 'wstat'; by default the
        session's statistic when it is wstat, else cstat)."""
        from sherpa.astro import ui

        if stat is None:
            stat = "wstat" if ui.get_stat_name() == "wstat" else "cstat"
        out = cls.from_data(ui.get_data(id), stat, rsp=load_response(id=id), label=f"data set {id!r}")
        out.id = id
        return out

    @classmethod
    def from_data(cls, d, stat: str = "cstat", rsp=None, label: Optional[str] = None) -> "SpectralData":
        """A Sherpa ``DataPHA`` object (its filter, grouping, background and response)."""
        label = label or f"spectrum {d.name!r}"
        id = label
        rsp = response_from_data(d) if rsp is None else rsp
        nchan = rsp.n_channels
        if d.subtracted:
            raise DataError(f"{id} is background-subtracted; the statistic needs the counts: "
                            "unsubtract it and use wstat (or cstat without a background)")
        # grouping/filter matrix from Sherpa itself (columns: unit counts in one channel)
        eye = np.eye(nchan)
        G = np.stack([d.apply_filter(eye[c], groupfunc=np.sum) for c in range(nchan)], axis=1)
        ascal = np.asarray(rsp.areascal, float)
        scale = rsp.exposure * (ascal if ascal.ndim else float(ascal))
        matrix = G @ (rsp.matrix * (scale[:, None] if np.ndim(scale) else scale))
        counts = np.asarray(d.get_dep(filter=True), float)
        if stat not in ("cstat", "wstat"):
            raise ValueError(f"stat must be 'cstat' or 'wstat', not {stat!r}")
        out = cls(counts=counts, matrix=matrix, energy_lo=rsp.energy_lo, energy_hi=rsp.energy_hi,
                  stat=stat, id=None)
        if stat == "wstat":
            if not d.background_ids:
                raise DataError(f"wstat needs a background for {id}; load_bkg() or use cstat")
            b = d.get_background(d.background_ids[0])
            dummy = np.ones(nchan)
            out.bkg_counts = np.asarray(d.apply_filter(b.get_dep(False), groupfunc=np.sum), float)
            sb = d.apply_filter(d.backscal * dummy, groupfunc=d._middle)
            bb = d.apply_filter(b.backscal * dummy, groupfunc=d._middle)
            out.backscale_ratio = bb / sb
            sa = dummy if d.areascal is None else d.areascal * dummy
            ba = dummy if b.areascal is None else b.areascal * dummy
            out.exp_src = d.exposure * d.apply_filter(sa, groupfunc=d._middle)
            out.exp_bkg = b.exposure * d.apply_filter(ba, groupfunc=d._middle)
        return out

    def statistic(self, mu):
        """The statistic for model counts ``mu`` (..., n_groups)."""
        if self.stat == "cstat":
            return cstat(self.counts, mu)
        from sherpa.stats import _statfcts
        mu2 = np.atleast_2d(mu)
        out = np.empty(mu2.shape[0])
        n = [self.counts.size]
        for k in range(mu2.shape[0]):
            out[k] = _statfcts.calc_wstat_stat(self.counts, mu2[k], n, self.exp_src, self.exp_bkg,
                                               self.bkg_counts, self.backscale_ratio, TRUNC)[0]
        return out.reshape(np.shape(mu)[:-1])


@functools.lru_cache(maxsize=1)
def _expectation_table():
    """E[C] and Var[C] of one bin's cstat term 2 (mu - n + n ln(n / mu)), n ~ Poisson(mu),
    by exact sums over n, on a log grid of mu (1e-5 to 1e5)."""
    mus = np.geomspace(1e-5, 1e5, 1201)
    E = np.empty_like(mus)
    V = np.empty_like(mus)
    for k, mu in enumerate(mus):
        lo = max(0, int(mu - 12 * np.sqrt(mu) - 10))
        hi = int(mu + 12 * np.sqrt(mu) + 30)
        n = np.arange(lo, hi + 1, dtype=float)
        p = sps.poisson.pmf(n, mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = 2.0 * (mu - n + np.where(n > 0, n * np.log(n / mu), 0.0))
        E[k] = (p * c).sum()
        V[k] = (p * c * c).sum() - E[k] ** 2
    return np.log(mus), E, V


def cstat_expectation(mu):
    """Expected value and variance of the C-statistic for model counts ``mu`` per bin
    (Kaastra 2017, A&A 605, A51, computed exactly): (sum E_i, sum Var_i). For large mu
    each bin tends to E = 1, Var = 2, as chi^2 does."""
    lm, E, V = _expectation_table()
    mu = np.maximum(np.asarray(mu, float), 1e-5)
    big = mu > 1e5
    x = np.log(np.minimum(mu, 1e5))
    e = np.where(big, 1.0 + 1.0 / (6.0 * mu), np.interp(x, lm, E))
    v = np.where(big, 2.0 + 1.0 / mu, np.interp(x, lm, V))
    return float(e.sum()), float(v.sum())


def cstat_pvalue(C: float, mu, n_free: int = 0) -> float:
    """Goodness of fit of model counts ``mu`` to data with C-statistic ``C``: the chance of a
    C at least this large if the model is right (normal approximation to the distribution
    of C with Kaastra's mean and variance; upper tail). ``n_free``: parameters fitted to
    these data, each lowering the expectation by about one."""
    e, v = cstat_expectation(mu)
    return float(sps.norm.sf((C - (e - n_free)) / np.sqrt(v)))
