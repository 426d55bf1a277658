"""The exact posterior's result: weighted draws of (kT, abundance, redshift, norm[, nH]),
their medians and 68 / 90 % intervals, a corner plot and a FITS table
(:mod:`sherpa_rim.amortised.posterior` computes it)."""
from __future__ import annotations

import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

__all__ = ["Posterior", "weighted_quantiles", "NAMES", "COORDS", "Q"]

NAMES = ("kT", "abundance", "redshift", "norm", "nH")
COORDS = ("ln kT", "abundance", "redshift", "ln norm", "nH")
Q = {"median": 50.0, "lo68": 15.865, "hi68": 84.135, "lo90": 5.0, "hi90": 95.0}


def weighted_quantiles(x, w, qs):
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    c = np.cumsum(ws) - 0.5 * ws
    c /= ws.sum()
    return np.interp(np.asarray(qs) / 100.0, c, xs)


@dataclass
class Posterior(Mapping):
    """Weighted draws of (kT, abundance, redshift, norm[, nH]) and their summaries.

    Behaves like the network's estimate: ``post["kT"]`` is {median, lo68, hi68, lo90, hi90};
    ``post["nH"]`` the column (its median when it was free); ``post["method"]``, ``["path"]``,
    ``["warnings"]`` as well."""

    names: List[str]
    draws: np.ndarray                 # (S, d), natural units
    weights: np.ndarray               # (S,), sum 1
    summary: Dict[str, Dict[str, float]]
    nH: float
    nH_free: bool
    path: str
    ess: float
    khat: Optional[float]
    statistic: str
    seconds: float
    n_evaluations: int
    warnings: List[str] = field(default_factory=list)
    method: str = "exact"
    _target: object = field(default=None, repr=False, compare=False)
    gof_p: Optional[float] = None     # goodness of fit at the maximum (cstat; Kaastra 2017)

    def stat_at(self, kT, abundance, redshift, norm, nH=None) -> float:
        """The statistic this posterior used, at one parameter set (for checks)."""
        t = self._target
        full = {"ln kT": np.log(kT), "abundance": abundance, "redshift": redshift,
                "ln norm": np.log(norm), "nH": self.nH if nH is None else nH}
        U = np.array([[full[c] for c in t.coords]])
        saved = dict(t.fixed)
        t.fixed.update({c: full[c] for c in COORDS if c not in t.coords})
        try:
            return float(-2.0 * t.log_like(U)[0])
        finally:
            t.fixed = saved

    def __getitem__(self, key):
        if key in self.summary and key != "nH":
            return self.summary[key]
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self):
        return len(self.to_dict())

    def to_dict(self) -> dict:
        out = {k: dict(v) for k, v in self.summary.items() if k != "nH"}
        out.update(nH=float(self.summary["nH"]["median"]) if self.nH_free else float(self.nH),
                   nH_free=self.nH_free, method=self.method, path=self.path,
                   ess=float(self.ess), khat=None if self.khat is None else float(self.khat),
                   statistic=self.statistic, seconds=round(self.seconds, 3), gof_p=self.gof_p,
                   n_evaluations=int(self.n_evaluations), warnings=list(self.warnings))
        if self.nH_free:
            out["nH_posterior"] = dict(self.summary["nH"])
        return out

    def plot(self, fig=None):
        """A corner plot of the weighted draws (the ``corner`` package), 68 / 90 % contours."""
        import corner
        labels = [{"kT": "kT (keV)", "norm": "norm", "nH": "nH (1e22)"}.get(n, n) for n in self.names]
        return corner.corner(self.draws, weights=self.weights, labels=labels, fig=fig,
                             levels=(0.68, 0.90), quantiles=(0.05, 0.5, 0.95),
                             show_titles=True, title_fmt=".3g")

    def write(self, path, overwrite: bool = False) -> pathlib.Path:
        """A FITS binary table: one row per draw (its parameters and WEIGHT); the header holds
        the summaries, ESS, KHAT, PATH and what the intervals are."""
        from astropy.table import Table
        path = pathlib.Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (--clobber) or another name")
        t = Table()
        for j, n in enumerate(self.names):
            t[n.upper()] = self.draws[:, j]
        t["WEIGHT"] = self.weights
        t["KT"].unit = "keV"
        t.meta.update({"EXTNAME": "POSTERIOR", "CREATOR": "sherpa_rim", "METHOD": self.method,
                       "PATH": self.path[:68], "ESS": float(self.ess),
                       "KHAT": -1.0 if self.khat is None else float(self.khat),
                       "STAT": self.statistic, "NH": float(self.nH), "NHFREE": self.nH_free,
                       "INTERVAL": "equal-tailed 68 and 90 percent, weighted draws"})
        for n, s in self.summary.items():
            key = n[:4].upper()
            t.meta.update({f"{key}_MED": s["median"], f"{key}_L68": s["lo68"], f"{key}_H68": s["hi68"],
                           f"{key}_L90": s["lo90"], f"{key}_H90": s["hi90"]})
        if self.warnings:
            t.meta["comments"] = [f"WARNING: {w}" for w in self.warnings]
        t.write(path, format="fits", overwrite=overwrite)
        return path
