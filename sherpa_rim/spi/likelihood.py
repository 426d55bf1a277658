"""The SPI likelihood on a Sherpa data set: the same data, filter, grouping and
background as the session, and the same statistic (cstat, or wstat with a
background), evaluated for many walkers at once.

Expected source counts in the noticed groups are

    mu = G . diag(exposure x AREASCAL) . R . T(theta)

with G the grouping/filter matrix of the data set (built with Sherpa's own
``apply_filter``), R the dense response and T the particle spectrum from the
templates. Everything up to T is precomputed per (redshift, nH).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import DataError
from ..response.ogip import load_response
from .templates import TemplateGrid, make_templates, node_weights

log = logging.getLogger(__name__)

__all__ = ["SpectralData", "SpectralLikelihood", "cstat", "log_posterior"]

TRUNC = 1e-25        # Sherpa's default truncation value for the model


def cstat(data, model):
    """Sherpa's cstat: 2 sum [mu - d + d ln(d / mu)] (mu truncated at 1e-25); vectorised."""
    m = np.where(model > 0, model, TRUNC)
    d = data
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(d > 0, d * (np.log(d) - np.log(m)), 0.0)
    return 2.0 * np.sum(m - d + term, axis=-1)


def log_posterior(lik, X):
    """log posterior = -stat/2 + log prior, and label-invariant blobs, for walkers X of a
    likelihood ``lik`` (anything with ``log_prior``, ``stat`` and ``blobs``)."""
    X = np.atleast_2d(X)
    lp = lik.log_prior(X)
    out = np.full(X.shape[0], -np.inf)
    ok = np.isfinite(lp)
    if np.any(ok):
        out[ok] = -0.5 * lik.stat(X[ok]) + lp[ok]
    return out, lik.blobs(X)


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
        from sherpa.astro import ui

        d = ui.get_data(id)
        rsp = load_response(id=id)
        nchan = rsp.n_channels
        if d.subtracted:
            raise DataError(f"data set {id!r} is background-subtracted; SPI models the counts: "
                            f"unsubtract({id!r}) and use wstat (or cstat without background)")
        # grouping/filter matrix from Sherpa itself (columns: unit counts in one channel)
        eye = np.eye(nchan)
        G = np.stack([d.apply_filter(eye[c], groupfunc=np.sum) for c in range(nchan)], axis=1)
        ascal = np.asarray(rsp.areascal, float)
        scale = rsp.exposure * (ascal if ascal.ndim else float(ascal))
        matrix = G @ (rsp.matrix * (scale[:, None] if np.ndim(scale) else scale))
        counts = np.asarray(d.get_dep(filter=True), float)
        if stat is None:
            stat = ui.get_stat_name()
            stat = "wstat" if stat == "wstat" else "cstat"
        out = cls(counts=counts, matrix=matrix, energy_lo=rsp.energy_lo, energy_hi=rsp.energy_hi,
                  stat=stat, id=id)
        if stat == "wstat":
            if not d.background_ids:
                raise DataError(f"wstat needs a background for data set {id!r}; load_bkg() or use cstat")
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


class SpectralLikelihood:
    """Statistic of particle sets, with templates folded through the data's response.

    Walker coordinates are the thawed globals (in ``global_names`` order)
    followed by P x (ln kT, Z, log10 L).
    """

    def __init__(self, data: SpectralData, n_particles: int, redshift: float = 0.0,
                 nH: float = 0.0, free_globals=(), n_nodes: int = 64,
                 kT_range=(0.08, 16.0), Z_range=(0.0, 3.0), logL_range=(-8.0, 2.0)):
        self.data = data
        self.P = int(n_particles)
        self.fixed = {"redshift": float(redshift), "nH": float(nH)}
        self.global_names = [g for g in ("redshift", "nH") if g in free_globals]
        self.n_nodes = n_nodes
        self.kT_range = kT_range
        self.Z_range = Z_range
        self.logL_range = logL_range
        self._cache = {}
        self.ndim = len(self.global_names) + 3 * self.P
        self.n_global = len(self.global_names)
        self.n_eval = 0

    # -- templates ------------------------------------------------------------
    def folded(self, redshift, nH) -> TemplateGrid:
        key = (round(float(redshift), 6), round(float(nH), 6))
        if key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            t = make_templates(self.data.energy_lo, self.data.energy_hi, key[0], key[1],
                               self.n_nodes, self.kT_range)
            self._cache[key] = t.fold(self.data.matrix)
        return self._cache[key]

    # -- coordinates --------------------------------------------------------------
    def split(self, X):
        X = np.atleast_2d(X)
        g = X[:, :self.n_global]
        p = X[:, self.n_global:].reshape(X.shape[0], self.P, 3)
        return g, p[..., 0], p[..., 1], p[..., 2]

    def globals_of(self, g_row):
        vals = dict(self.fixed)
        for name, v in zip(self.global_names, g_row):
            vals[name] = float(v)
        return vals

    def log_prior(self, X):
        g, lkT, Z, lL = self.split(X)
        ok = ((lkT >= np.log(self.kT_range[0])) & (lkT <= np.log(self.kT_range[1]))
              & (Z >= self.Z_range[0]) & (Z <= self.Z_range[1])
              & (lL >= self.logL_range[0]) & (lL <= self.logL_range[1])).all(axis=1)
        for j, name in enumerate(self.global_names):
            lo, hi = (0.0, 2.0) if name == "redshift" else (0.0, 10.0)
            ok &= (g[:, j] >= lo) & (g[:, j] <= hi)
        return np.where(ok, 0.0, -np.inf)

    def expected(self, X):
        """Model counts (walkers, n_groups)."""
        g, lkT, Z, lL = self.split(X)
        mu = np.empty((g.shape[0], self.data.counts.size))
        if self.n_global == 0:
            groups = {(): np.arange(g.shape[0])}
        else:
            groups = {}
            for i, row in enumerate(np.round(g, 8)):
                groups.setdefault(tuple(row), []).append(i)
        for key, rows in groups.items():
            rows = np.asarray(rows)
            gv = self.globals_of(key) if key else self.fixed
            tpl = self.folded(gv["redshift"], gv["nH"])
            cl, cm = node_weights(tpl.log_kT, lkT[rows], Z[rows], 10.0 ** lL[rows])
            mu[rows] = cl @ tpl.light + cm @ tpl.metal
        return mu

    def stat(self, X):
        self.n_eval += np.atleast_2d(X).shape[0]
        return self.data.statistic(self.expected(X))

    def __call__(self, X):
        return log_posterior(self, X)

    # -- label-invariant summaries ---------------------------------------------
    EM_EDGES = np.array([0.08, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 11.0, 16.0])

    def blobs(self, X):
        """(walkers, n): emission-weighted kT, total EM, and the EM fraction per kT bin."""
        g, lkT, Z, lL = self.split(X)
        L = 10.0 ** lL
        tot = L.sum(axis=1)
        ew = (L * np.exp(lkT)).sum(axis=1) / np.maximum(tot, 1e-300)
        k = np.clip(np.searchsorted(self.EM_EDGES, np.exp(lkT)) - 1, 0, self.EM_EDGES.size - 2)
        nb = self.EM_EDGES.size - 1
        rows = np.repeat(np.arange(X.shape[0]), self.P)
        hist = np.bincount(rows * nb + k.ravel(), weights=L.ravel(),
                           minlength=X.shape[0] * nb).reshape(X.shape[0], nb)
        frac = hist / np.maximum(tot, 1e-300)[:, None]
        zbar = (L * Z).sum(axis=1) / np.maximum(tot, 1e-300)
        return np.column_stack([ew, np.log10(np.maximum(tot, 1e-300)), zbar, frac])

    @classmethod
    def blob_names(cls):
        edges = cls.EM_EDGES
        return (["kT_ew", "log10_EM", "Z_ew"]
                + [f"frac_{edges[i]:g}_{edges[i + 1]:g}" for i in range(edges.size - 1)])
