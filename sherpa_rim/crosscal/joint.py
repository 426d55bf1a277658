"""The joint forward fit: one source model for every observation, a gain and an
effective-area correction for each but the reference.

    counts_k = R_k [ areacorr_k(E) x gainshift_k(source) ],   k != reference
    counts_ref = R_ref [ source ]

fitted together (Sherpa's cstat, or wstat with backgrounds; LevMar) twice: with every
calibration parameter at its nominal value (one intrinsic spectrum, the responses as they
are) and free. The likelihood ratio of the two, Delta C, against chi2 with as many degrees
of freedom as parameters freed, is the consistency p-value; the Fisher information of the free
fit (central differences of the model counts, :func:`fisher_covariance`) gives each parameter's
1-sigma error (Sherpa's ``covar()`` steps a gain slope far wider than its width).
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import stats as sps

from ..errors import DataError
from ..models import AreaCorr, GainShift
from ..response.gain import AREA_KNOTS_KEV, apparent_shift, area_factor

log = logging.getLogger(__name__)

__all__ = ["JointResult", "joint_fit", "AREA_MODES", "GAIN_MODES"]

GAIN_MODES = {"slope": ("slope",), "slope+offset": ("slope", "offset"), "none": ()}
AREA_MODES = {"knots": tuple(f"d{k}" for k in range(1, len(AREA_KNOTS_KEV) + 1)),
              "constant": ("factor",), "none": ()}


@dataclass
class JointResult:
    statistic: str
    stat_null: float
    stat_free: float
    n_free: int
    p: float
    params: Dict[str, Dict[str, float]] = field(default_factory=dict)   # per obs: name -> value
    cov: Dict[int, np.ndarray] = field(default_factory=dict)           # per obs: over `free[k]`
    free: Dict[int, List[str]] = field(default_factory=dict)
    source: Optional[object] = None
    warnings: List[str] = field(default_factory=list)

    def gain_shift(self, k: int, energy: float):
        """(shift, sigma) in eV at ``energy`` keV for observation ``k``."""
        p = self.params[k]
        s, o = p.get("slope", 1.0), p.get("offset", 0.0)
        val = 1e3 * float(apparent_shift(energy, s, o))
        grad = {"slope": 1e3 * (energy + o), "offset": 1e3 * s}
        return val, _sigma(self, k, grad)

    def area_ratio(self, k: int, energy: float):
        """(ratio, sigma) of observation ``k``'s effective area to the nominal at ``energy``."""
        p = self.params[k]
        vals = [p.get(f"d{j}", 0.0) for j in range(1, len(AREA_KNOTS_KEV) + 1)]
        val = float(area_factor(energy, p.get("factor", 1.0), vals))
        n = len(AREA_KNOTS_KEV)
        f = p.get("factor", 1.0)
        grad = {"factor": float(area_factor(energy, 1.0, vals))}
        for j in range(n):             # d(E) is linear in the knot values: hat functions
            grad[f"d{j + 1}"] = f * float(np.interp(np.log(energy), np.log(AREA_KNOTS_KEV),
                                                    np.eye(n)[j]))
        return val, _sigma(self, k, grad)


def _sigma(res: JointResult, k: int, grad: Dict[str, float]) -> float:
    names = res.free.get(k, [])
    if not names:
        return 0.0
    g = np.array([grad.get(n, 0.0) for n in names])
    return float(np.sqrt(max(g @ res.cov[k] @ g, 0.0)))


def default_source(nH: float = 0.0):
    """mmabs(nH, frozen) * cie with kT, abundance, redshift and norm free."""
    from ..models import CIE, MMAbs
    gal, c = MMAbs("gal"), CIE("c")
    gal.nH = nH
    gal.nH.frozen = True
    c.Abundanc.frozen = False
    c.redshift.frozen = False
    return gal * c


def joint_fit(datas: Sequence, reference: int = 0, source=None, gain: str = "slope",
              area: str = "knots", statistic: Optional[str] = None) -> JointResult:
    """The joint fit of ``datas`` (Sherpa ``DataPHA`` objects, filters applied) with a shared
    ``source`` (a Sherpa model expression, copied; default :func:`default_source`), one
    ``gainshift`` and ``areacorr`` per non-reference observation, ``gain`` and ``area`` saying
    which of their parameters are freed (:data:`GAIN_MODES`, :data:`AREA_MODES`)."""
    from sherpa.astro.instrument import Response1D
    from sherpa.data import DataSimulFit
    from sherpa.estmethods import Covariance
    from sherpa.fit import Fit
    from sherpa.models.model import SimulFitModel
    from sherpa.optmethods import LevMar
    from sherpa.stats import CStat, WStat

    if gain not in GAIN_MODES or area not in AREA_MODES:
        raise ValueError(f"gain={gain!r} / area={area!r}: choose gain from {list(GAIN_MODES)} and "
                         f"area from {list(AREA_MODES)}")
    if len(datas) < 2:
        raise DataError("a cross-calibration needs at least two observations of the source")
    src = default_source() if source is None else copy.deepcopy(source)
    if statistic is None:
        statistic = "wstat" if all(getattr(d, "background_ids", None) for d in datas) else "cstat"
    stat = WStat() if statistic == "wstat" else CStat()
    calib, models = {}, []
    for k, d in enumerate(datas):
        if k == reference:
            models.append(Response1D(d)(src))
            continue
        g = GainShift(f"gain{k}").attach(arf=_arf(d))
        a = AreaCorr(f"area{k}")
        calib[k] = (g, a)
        models.append(Response1D(d)(a * g(src)))
    fit = Fit(DataSimulFit("crosscal", tuple(datas)), SimulFitModel("crosscal", tuple(models)),
              stat=stat, method=LevMar(), estmethod=Covariance())

    def set_free(on: bool):
        for g, a in calib.values():
            for p in g.pars + a.pars:
                p.frozen = True
            if on:
                for n in GAIN_MODES[gain]:
                    getattr(g, n).frozen = False
                for n in AREA_MODES[area]:
                    getattr(a, n).frozen = False
    set_free(False)
    r0 = fit.fit()
    r0b = fit.fit()                                  # LevMar restarted from its own minimum
    c0 = min(r0.statval, r0b.statval)
    set_free(True)
    r1 = fit.fit()
    c1 = min(fit.fit().statval, r1.statval)
    n_free = sum(len(GAIN_MODES[gain]) + len(AREA_MODES[area]) for _ in calib)
    delta = max(c0 - c1, 0.0)
    p = float(sps.chi2.sf(delta, n_free)) if n_free else 1.0
    res = JointResult(statistic=statistic, stat_null=float(c0), stat_free=float(c1), n_free=n_free,
                      p=p, source=src)
    thawed = [p.fullname for p in fit.model.get_thawed_pars()]
    try:
        C = fisher_covariance(fit, datas, models)
    except Exception as exc:        # noqa: BLE001 - reported: the errors are then unknown
        log.warning("covariance of the joint fit failed: %s", exc)
        res.warnings.append(f"the covariance of the joint fit failed ({exc}): no errors")
        C = np.full((len(thawed), len(thawed)), np.nan)
    for k, (g, a) in calib.items():
        names = [n for n in GAIN_MODES[gain]] + [n for n in AREA_MODES[area]]
        full = [f"gain{k}.{n}" if n in ("slope", "offset") else f"area{k}.{n}" for n in names]
        idx = [thawed.index(f) for f in full]
        res.params[k] = {p.name: float(p.val) for p in g.pars + a.pars}
        res.free[k] = names
        res.cov[k] = C[np.ix_(idx, idx)]
    res.params[reference] = {}
    return res


def fisher_covariance(fit, datas, models, rel_step: float = 1e-4) -> np.ndarray:
    """Inverse Fisher information of the Poisson likelihood at the fit's parameters,
    sum_c (d mu_c / d theta_i)(d mu_c / d theta_j) / mu_c over the fitted channels of every
    data set (mu: model counts, with the background's for wstat), derivatives by central
    differences. Sherpa's ``Covariance`` takes steps of 1 % of a value, far wider than a
    gain's statistical width (1e-4 of the slope at 1e5 counts), and fails there."""
    pars = fit.model.get_thawed_pars()
    x0 = np.array([p.val for p in pars], float)

    def counts(x):
        for p, v in zip(pars, x):
            p.val = v
        out = []
        for d, m in zip(datas, models):
            mu = np.asarray(d.eval_model_to_fit(m), float)
            if getattr(d, "background_ids", None) and not d.subtracted:
                b = d.get_background(d.background_ids[0])
                scale = d.get_background_scale(d.background_ids[0])
                mu = mu + np.asarray(d.apply_filter(b.counts * scale, groupfunc=np.sum), float)
            out.append(mu)
        return np.concatenate(out)
    try:
        mu0 = np.maximum(counts(x0), 1e-10)
        J = np.empty((mu0.size, x0.size))
        for i, p in enumerate(pars):
            h = rel_step * max(abs(x0[i]), 1e-2 if abs(x0[i]) < 1e-2 else 0.0, 1e-12)
            h = min(h, 0.5 * (p.max - p.min)) if np.isfinite(p.max - p.min) else h
            xp, xm = x0.copy(), x0.copy()
            xp[i] = min(x0[i] + h, p.max)        # one-sided at a limit
            xm[i] = max(x0[i] - h, p.min)
            J[:, i] = (counts(xp) - counts(xm)) / (xp[i] - xm[i])
    finally:
        for p, v in zip(pars, x0):
            p.val = v
    info = J.T @ (J / mu0[:, None])
    return np.linalg.inv(info)


def _arf(d):
    """The data set's one ARF, or None (an RMF that holds the area)."""
    ids = list(getattr(d, "response_ids", []) or [])
    if len(ids) > 1:
        raise DataError(f"{d.name}: {len(ids)} responses; the cross-calibration takes one per "
                        "observation")
    try:
        return d.get_arf()
    except Exception:               # noqa: BLE001
        return None
