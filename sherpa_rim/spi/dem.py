"""Differential-emission-measure (DEM) peers of SPI on the same templates.

Each DEM model spreads an emission measure over the template temperature nodes
with a few parameters, so it is fitted (cstat/wstat, Nelder-Mead from a grid of
starts) on exactly the likelihood SPI samples:

* ``lognormal``: EM(ln T) ~ exp(-(ln T - mu)^2 / 2 s^2)
* ``gaussian``:  EM(T)    ~ exp(-(T - T0)^2 / 2 s^2)  (in linear T)
* ``powerlaw``:  EM(T)    ~ T^alpha for beta T_max < T < T_max  (like XSPEC's wdem)
* ``twotemp``:   two isothermal components (the classic 2T fit)

All share a single abundance. ``fit_dem`` returns the best parameters, the
statistic and the EM distribution over the template nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .likelihood import SpectralLikelihood

__all__ = ["DEMFit", "fit_dem", "DEM_MODELS", "dem_weights"]


def dem_weights(kind, nodes, theta):
    """Fraction of the emission measure at each ln kT node (sums to 1)."""
    x = nodes
    T = np.exp(x)
    if kind == "lognormal":
        mu, ls = theta
        w = np.exp(-0.5 * ((x - mu) / np.exp(ls)) ** 2)
    elif kind == "gaussian":
        t0, ls = theta
        w = np.exp(-0.5 * ((T - t0) / np.exp(ls)) ** 2)
    elif kind == "powerlaw":
        ltmax, alpha, beta = theta
        tmax = np.exp(ltmax)
        b = 1.0 / (1.0 + np.exp(-beta))               # beta in (0, 1)
        w = np.where((T <= tmax) & (T >= b * tmax), T ** alpha, 0.0)
        if w.sum() == 0:
            w = np.exp(-0.5 * ((x - ltmax) / 0.05) ** 2)
    elif kind == "twotemp":
        l1, l2, f = theta
        fr = 1.0 / (1.0 + np.exp(-f))
        w = (1 - fr) * _delta(x, l1) + fr * _delta(x, l2)
    else:
        raise ValueError(f"unknown DEM model {kind!r}; choose from {DEM_MODELS}")
    s = w.sum()
    return w / s if s > 0 else np.full(x.size, 1.0 / x.size)


def _delta(x, l):
    """A temperature between nodes, as the two-node linear interpolation."""
    step = x[1] - x[0]
    pos = np.clip((l - x[0]) / step, 0, x.size - 1 - 1e-9)
    i = int(pos)
    w = np.zeros(x.size)
    w[i] = 1 - (pos - i)
    w[i + 1] = pos - i
    return w


DEM_MODELS = ("lognormal", "gaussian", "powerlaw", "twotemp")

_STARTS = {
    "lognormal": [(np.log(t), np.log(s)) for t in (0.7, 1.5, 3.0, 6.0) for s in (0.2, 0.6)],
    "gaussian": [(t, np.log(s)) for t in (1.0, 2.5, 5.0) for s in (0.3, 1.5)],
    "powerlaw": [(np.log(t), a, 0.0) for t in (2.0, 5.0, 10.0) for a in (-1.0, 1.0)],
    "twotemp": [(np.log(a), np.log(b), 0.0) for a, b in ((0.8, 3.0), (1.5, 5.0), (1.0, 8.0))],
}


@dataclass
class DEMFit:
    kind: str
    theta: np.ndarray
    abundance: float
    em: float
    stat: float
    weights: np.ndarray
    nodes: np.ndarray
    n_params: int

    @property
    def kT_ew(self):
        return float((self.weights * np.exp(self.nodes)).sum())

    def bic(self, n_data):
        return self.stat + self.n_params * np.log(n_data)


def fit_dem(lik: SpectralLikelihood, kind: str) -> DEMFit:
    """Best-fit DEM of ``kind`` on the likelihood's data and templates."""
    tpl = lik.folded(lik.fixed["redshift"], lik.fixed["nH"])
    nodes = tpl.log_kT
    d = lik.data.counts

    def stat(params):
        theta, Z, lem = params[:-2], params[-2], params[-1]
        if Z < 0 or Z > 3:
            return 1e30
        w = dem_weights(kind, nodes, theta)
        mu = np.exp(lem) * (w @ tpl.light + Z * (w @ tpl.metal))
        return float(lik.data.statistic(mu))

    best = None
    for th in _STARTS[kind]:
        w = dem_weights(kind, nodes, np.asarray(th, float))
        m = w @ tpl.light + 0.4 * (w @ tpl.metal)
        lem = np.log(max(d.sum(), 1.0) / max(m.sum(), 1e-300))
        x0 = np.concatenate([th, [0.4, lem]])
        r = minimize(stat, x0, method="Nelder-Mead",
                     options={"maxiter": 4000, "xatol": 1e-5, "fatol": 1e-6})
        if best is None or r.fun < best.fun:
            best = r
    theta, Z, lem = best.x[:-2], best.x[-2], best.x[-1]
    return DEMFit(kind, theta, float(Z), float(np.exp(lem)), float(best.fun),
                  dem_weights(kind, nodes, theta), nodes, best.x.size)
