"""CIE spectra on one energy grid, evaluated many times: the same numbers as
:func:`sherpa_rim.emission.spectrum` with ``line_binning="linear"`` (what the Sherpa models
use), at a fraction of the cost.

What is prepared once per grid (and redshift range) and reused by every evaluation:

* the bins sorted, their centres and which neighbours are contiguous (for the linear sharing
  of a line between the two bins whose centres bracket it);
* the lines that can fall on the grid at any redshift of the range (others add nothing),
  their log emissivities laid out per temperature node, contiguous in memory;
* the continuum cells that can reach the grid, per element, per node.

An evaluation then interpolates the emissivities between the two nodes around kT (as the
table does: geometrically), weights the elements, bins the lines and integrates the
continuum: about 0.4 ms for a 1,000-bin grid on one core, against 1.2 ms for
:func:`~sherpa_rim.emission.spectrum`, which prepares all of that on every call. Gaussian
(broadened) lines are evaluated at the bin edges within +-6 sigma of each line, pairs planned
once per bucket of kT, velocity and redshift (:meth:`GridEvaluator._plan`).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
from scipy.special import ndtr

from ..response.grid import bin_integral
from .abundances import SYMBOLS
from .cie import _TINY, AMU_KEV, C_KM_S, GAUSS_SIGMAS, load_table

__all__ = ["GridEvaluator", "BROAD_MARGIN"]

BROAD_MARGIN = 0.2           # lines kept 20 % beyond the grid's energies (broadened spill-over)
PLAN_DZ = 2e-4               # ln(1 + z) bucket of a Gaussian-line plan
PLAN_CACHE = 16              # plans kept per evaluator
PLAN_PAIRS = 20_000_000      # ... and their (line, edge) pairs in all (about 0.5 GB)


class GridEvaluator:
    """CIE spectra on the bins ``[e_lo, e_hi)`` (keV) for redshifts in ``z_range``.

    ``evaluate(kT, weights, z, norm)`` returns photons/cm^2/s per bin, ``weights`` the number
    abundance of each table element relative to H (:meth:`CIETable.weights`).
    """

    def __init__(self, e_lo, e_hi, z_range: Sequence[float] = (0.0, 2.0)):
        t = load_table()
        self.table = t
        lo = np.asarray(e_lo, float)
        hi = np.asarray(e_hi, float)
        if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
            raise ValueError("e_lo and e_hi must be 1-D arrays of the same, non-zero length (keV)")
        self.e_lo, self.e_hi = lo, hi
        self.z_range = (float(min(z_range)), float(max(z_range)))
        if self.z_range[0] <= -1:
            raise ValueError("redshift must be > -1")
        self.order = np.argsort(lo, kind="stable")
        self.lo_s, self.hi_s = lo[self.order], hi[self.order]
        n = lo.size
        self.centre = 0.5 * (self.lo_s + self.hi_s)
        nxt = np.minimum(np.arange(n) + 1, n - 1)
        prv = np.maximum(np.arange(n) - 1, 0)
        self.contig_next = (np.arange(n) + 1 < n) & np.isclose(self.hi_s, self.lo_s[nxt], rtol=1e-9, atol=0)
        self.contig_prev = (np.arange(n) - 1 >= 0) & np.isclose(self.lo_s, self.hi_s[prv], rtol=1e-9, atol=0)
        self._edges3 = np.stack([self.lo_s, self.centre, self.hi_s], axis=1).ravel()
        if np.any(np.diff(self._edges3) < 0):
            raise ValueError("energy bins overlap; give non-overlapping bins (keV)")
        # rest-frame energies that can land on the grid for z in the range (lines are kept
        # BROAD_MARGIN beyond it: a broadened line outside the grid spills into it)
        e_min = float(self.lo_s.min()) * (1 + self.z_range[0])
        e_max = float(self.hi_s.max()) * (1 + self.z_range[1])
        sel = (t.line_energy >= e_min / (1 + BROAD_MARGIN)) & (t.line_energy < e_max * (1 + BROAD_MARGIN))
        self.line_energy = t.line_energy[sel]
        self.line_elem = t.line_elem[sel]
        self.line_mass_kev = t.mass_amu[self.line_elem] * AMU_KEV       # m c^2 of each line's ion
        self.elem_mass_kev = t.mass_amu * AMU_KEV
        # the distinct bin edges, and where each (sorted) bin's ends are among them
        self._edges = np.unique(np.concatenate([self.lo_s, self.hi_s]))
        self._lo_edge = np.searchsorted(self._edges, self.lo_s)
        self._hi_edge = np.searchsorted(self._edges, self.hi_s)
        self.log_eps = np.ascontiguousarray(t._log_eps[sel].T)          # (nT, nl)
        pos = t.line_eps[sel] > 0
        self.line_on = np.ascontiguousarray((pos[:, :-1] | pos[:, 1:]).T)  # (nT-1, nl)
        cells = (t.cont_energy[1:] > e_min) & (t.cont_energy[:-1] < e_max)
        k0, k1 = int(np.argmax(cells)), int(cells.size - np.argmax(cells[::-1]))
        self.cont_edges = t.cont_energy[k0:k1 + 1]
        self.log_dens = np.ascontiguousarray(t._log_dens[:, :, k0:k1].transpose(1, 0, 2))
        self.cell_width = t._cell_width[k0:k1]
        self.log_tiny = np.log(_TINY) + 50

    def covers(self, z: float) -> bool:
        return self.z_range[0] <= z <= self.z_range[1]

    def _node(self, kT):
        t = self.table
        i, w = t.t_index(kT)
        return i, w

    def evaluate(self, kT: float, weights: np.ndarray, z: float = 0.0, norm: float = 1.0,
                 lines: bool = True, continuum: bool = True, broaden: bool = False,
                 velocity: float = 0.0) -> np.ndarray:
        """``broaden``: Gaussian lines, sigma = E sqrt(kT / (m c^2) + (velocity / c)^2), as
        :func:`sherpa_rim.emission.spectrum` (``broaden=True``); else lines shared linearly."""
        if not self.covers(z):
            raise ValueError(f"redshift {z} is outside this evaluator's range {self.z_range}")
        i, w = self._node(kT)
        zf = 1.0 + z
        out_s = np.zeros(self.lo_s.size)
        weights = np.asarray(weights, float)
        if continuum:
            ld = (1 - w) * self.log_dens[i] + w * self.log_dens[i + 1]      # (nel, nc)
            dens = np.exp(ld)
            dens[ld < self.log_tiny] = 0.0
            cells = (weights[:, None] * dens).sum(axis=0) * self.cell_width
            out_s += bin_integral(self.cont_edges, cells, self.lo_s * zf, self.hi_s * zf)
        if lines:
            eps = np.exp((1 - w) * self.log_eps[i] + w * self.log_eps[i + 1])
            eps *= self.line_on[i]
            eps *= weights[self.line_elem]
            e = self.line_energy / zf
            if broaden:
                if velocity < 0 or velocity / C_KM_S > BROAD_MARGIN / GAUSS_SIGMAS:
                    raise ValueError(f"velocity = {velocity} km/s: give 0-"
                                     f"{C_KM_S * BROAD_MARGIN / GAUSS_SIGMAS:.0f} km/s")
                out_s += self._bin_gauss_planned(zf, kT, velocity, eps)
            else:
                out_s += self._bin_linear(e, eps)
        out = np.empty_like(out_s)
        out[self.order] = out_s
        return out * (norm * 1e14 / zf)

    def _plan(self, zf, kT, velocity):
        """The (line, bin edge) pairs that Gaussian lines can reach, for any kT, velocity and
        1 + z in the bucket of these (kT up to 1.5x, velocity up to 1.25x, ln(1 + z) within
        PLAN_DZ / 2 of the bucket's): built once per bucket, kept for the last PLAN_CACHE."""
        kb = int(np.floor(np.log(max(kT, 1e-6)) / np.log(1.5)))
        vb = None if velocity <= 0 else int(np.floor(np.log(velocity) / np.log(1.25)))
        qb = int(np.round(np.log(zf) / PLAN_DZ))
        key = (kb, vb, qb)
        plans = self.__dict__.setdefault("_plans", OrderedDict())
        plan = plans.get(key)
        if plan is not None:
            plans.move_to_end(key)
            return plan
        kT_hi = 1.5 ** (kb + 1)
        v_hi = 0.0 if vb is None else 1.25 ** (vb + 1)
        s_hi = np.sqrt(kT_hi / self.line_mass_kev + (v_hi / C_KM_S) ** 2)   # per line
        zf_lo, zf_hi = np.exp((qb - 0.5) * PLAN_DZ), np.exp((qb + 0.5) * PLAN_DZ)
        left = self.line_energy / zf_hi * (1 - GAUSS_SIGMAS * s_hi)
        right = self.line_energy / zf_lo * (1 + GAUSS_SIGMAS * s_hi)
        X = self._edges
        a = np.searchsorted(X, left, side="left")          # first edge inside the window
        b = np.searchsorted(X, right, side="right")        # one past the last
        reach = b > 0                                      # a window below the grid adds nothing
        line = np.flatnonzero(reach)
        k = (b - a)[line]
        pl = np.repeat(line, k)
        start = np.repeat(np.cumsum(k) - k, k)
        edge = np.repeat(a[line], k) + (np.arange(pl.size) - start)
        # edges right of a line's window see all of it: one cumulative term per line
        tail = np.minimum(b[line], X.size)
        plan = {"line": pl, "edge": edge, "ratio": X[edge] / self.line_energy[pl],
                "elem": self.line_elem[pl], "tail_line": line, "tail": tail}
        plans[key] = plan
        while len(plans) > 1 and (len(plans) > PLAN_CACHE or
                                  sum(q["line"].size for q in plans.values()) > PLAN_PAIRS):
            plans.popitem(last=False)
        return plan

    def _bin_gauss_planned(self, zf, kT, velocity, f):
        """Gaussian lines (sigma = E sqrt(kT / (m c^2) + (velocity / c)^2)) integrated over
        each bin: every line's normal CDF at the bin edges within +-6 sigma of it (the pairs of
        :meth:`_plan`), summed per edge into C(x) = sum_l f_l Phi((x - E_l) / sigma_l) (a
        line's whole flux at the edges above its window), and each bin = C(hi) - C(lo). A
        line narrower than its bin stays in it; the 2e-9 of a line beyond +-6 sigma goes to
        the window's outermost bins, so every line's flux is kept."""
        p = self._plan(zf, kT, velocity)
        inv_s = 1.0 / np.sqrt(kT / self.elem_mass_kev + (velocity / C_KM_S) ** 2)
        arg = p["ratio"] * zf
        arg -= 1.0
        arg *= inv_s[p["elem"]]
        w = ndtr(arg)
        w *= f[p["line"]]
        m = self._edges.size
        C = np.bincount(p["edge"], weights=w, minlength=m)
        C += np.cumsum(np.bincount(p["tail"], weights=f[p["tail_line"]], minlength=m + 1))[:m]
        # differences of running sums: a bin far from every line can come out at -1e-16 of
        # the total instead of 0
        return np.maximum(C[self._hi_edge] - C[self._lo_edge], 0.0)

    def _bin_linear(self, e, f):
        """Each line shared between the two contiguous bins whose centres bracket it
        (``sherpa_rim.emission.cie._bin_lines_linear``), from sums over runs of the sorted
        lines: between two centres a line's share of the upper bin rises linearly, so a
        half-bin's share is (sum f e - c sum f) / (c' - c) over the lines in it. The runs are
        the half-bins [lo, c) and [c, hi), summed with one ``np.add.reduceat`` each (no
        prefix-sum differences, so weak bins beside strong lines keep their precision)."""
        lo, c = self.lo_s, self.centre
        n = lo.size
        idx = np.searchsorted(e, self._edges3, side="left")            # (3n,), non-decreasing
        fe = np.append(f, 0.0)
        S = np.add.reduceat(fe, idx)
        G = np.add.reduceat(np.append(f * e, 0.0), idx)
        empty = np.append(idx[1:] == idx[:-1], True)
        S[empty] = 0.0
        G[empty] = 0.0
        s0, s1 = S[0::3], G[0::3]                                      # [lo, c)
        u0, u1 = S[1::3], G[1::3]                                      # [c, hi)
        prev, nxt = self.contig_prev, self.contig_next
        cp = c[np.maximum(np.arange(n) - 1, 0)]
        cn = c[np.minimum(np.arange(n) + 1, n - 1)]
        dl = np.where(prev, c - cp, 1.0)
        du = np.where(nxt, cn - c, 1.0)
        up = np.where(prev, (s1 - cp * s0) / dl, s0)                   # lower half -> this bin
        down = np.where(prev, s0 - up, 0.0)                            # ... -> the bin below
        keep = np.where(nxt, (cn * u0 - u1) / du, u0)                  # upper half -> this bin
        give = np.where(nxt, u0 - keep, 0.0)                           # ... -> the bin above
        out = up + keep
        out[1:] += give[:-1]
        out[:-1] += down[1:]
        return out

    def spectrum(self, kT, abundance, z, norm, abund_table="angr",
                 elements: Optional[dict] = None, broaden: bool = False,
                 velocity: float = 0.0) -> np.ndarray:
        """As :func:`sherpa_rim.emission.spectrum` (``line_binning='linear'``, or
        ``broaden=True`` with ``velocity``) on this grid."""
        return self.evaluate(kT, self.table.weights(abundance, abund_table, elements), z, norm,
                             broaden=broaden, velocity=velocity)


def _check_symbols():          # the per-element weights follow SYMBOLS' order
    assert len(SYMBOLS) == load_table().elements.size
