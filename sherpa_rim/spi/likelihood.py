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

import numpy as np

from ..poisson import TRUNC, SpectralData, cstat
from .templates import TemplateGrid, make_templates, node_weights

log = logging.getLogger(__name__)

__all__ = ["SpectralData", "SpectralLikelihood", "cstat", "log_posterior", "TRUNC"]


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
