"""CIE templates on a temperature grid.

For temperature nodes kT_k the photon spectrum of a plasma with norm = 1 is
split into the part from H and He (``light``) and the part from the metals at
solar abundance (``metal``), so that a particle (kT, Z, L) contributes

    L [ (1 - w) (light_k + Z metal_k) + w (light_{k+1} + Z metal_{k+1}) ]

with w the log-kT interpolation weight between the nodes around kT. The
model is linear in L and in L Z: templates are folded through the response
once, and a whole particle set costs two small matrix products.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..emission import load_table
from ..emission.absorption import transmission

__all__ = ["TemplateGrid", "make_templates", "node_weights", "DEFAULT_KT_RANGE"]

DEFAULT_KT_RANGE = (0.08, 16.0)


@dataclass
class TemplateGrid:
    log_kT: np.ndarray        # (K,) natural log of the node temperatures (keV)
    light: np.ndarray         # (K, n) photons/cm^2/s per bin (or counts, once folded)
    metal: np.ndarray         # (K, n)

    @property
    def kT(self):
        return np.exp(self.log_kT)

    def fold(self, matrix: np.ndarray) -> "TemplateGrid":
        """Apply a linear map (n_out, n) to every template."""
        return TemplateGrid(self.log_kT, self.light @ matrix.T, self.metal @ matrix.T)

    def evaluate(self, log_kT, Z, L):
        """Sum of particles (arrays (..., P)) -> (..., n)."""
        cl, cm = node_weights(self.log_kT, log_kT, Z, L)
        return cl @ self.light + cm @ self.metal


def node_weights(nodes, log_kT, Z, L):
    """Coefficients per node for particles: (..., K) for the light and metal templates."""
    log_kT = np.asarray(log_kT, float)
    Z = np.asarray(Z, float)
    L = np.asarray(L, float)
    K = nodes.size
    x = np.clip(log_kT, nodes[0], nodes[-1])
    step = nodes[1] - nodes[0]
    pos = (x - nodes[0]) / step
    i = np.clip(np.floor(pos).astype(np.int64), 0, K - 2)
    w = pos - i
    lead = log_kT.shape[:-1]
    flat_rows = np.arange(int(np.prod(lead)) if lead else 1).reshape(lead + (1,)) * K
    idx0 = (flat_rows + i).ravel()
    idx1 = (flat_rows + i + 1).ravel()
    n = (int(np.prod(lead)) if lead else 1) * K
    a0 = (L * (1 - w)).ravel()
    a1 = (L * w).ravel()
    cl = (np.bincount(idx0, a0, minlength=n) + np.bincount(idx1, a1, minlength=n)).reshape(lead + (K,))
    b0 = (L * Z * (1 - w)).ravel()
    b1 = (L * Z * w).ravel()
    cm = (np.bincount(idx0, b0, minlength=n) + np.bincount(idx1, b1, minlength=n)).reshape(lead + (K,))
    return cl, cm


def make_templates(e_lo, e_hi, redshift=0.0, nH=0.0, n_nodes=64, kT_range=DEFAULT_KT_RANGE,
                   abund_table="angr") -> TemplateGrid:
    """Templates (norm = 1, photons/cm^2/s per bin) on log-spaced kT nodes."""
    t = load_table()
    lo_k = max(kT_range[0], t.kT_min)
    hi_k = min(kT_range[1], t.kT_max)
    nodes = np.linspace(np.log(lo_k), np.log(hi_k), n_nodes)
    e_lo = np.asarray(e_lo, float)
    e_hi = np.asarray(e_hi, float)
    trans = transmission(nH, np.maximum(e_lo, 0.03), np.maximum(e_hi, 0.03)) if nH > 0 else 1.0
    light = np.empty((n_nodes, e_lo.size))
    metal = np.empty((n_nodes, e_lo.size))
    for k, lk in enumerate(nodes):
        kT = float(np.exp(lk))
        w0 = t.weights(0.0, abund_table)
        w1 = t.weights(1.0, abund_table)
        a = t.evaluate(kT, e_lo, e_hi, redshift, 1.0, w0)
        b = t.evaluate(kT, e_lo, e_hi, redshift, 1.0, w1)
        light[k] = a * trans
        metal[k] = (b - a) * trans
    return TemplateGrid(nodes, light, metal)
