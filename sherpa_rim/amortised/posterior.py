"""The exact posterior of mmabs * cie for one spectrum, with the parameter network as proposal.

    post = estimate(1)                    # method="exact" (sherpa_rim.amortised.params)
    post["kT"]["median"], post["kT"]["lo90"], post.ess, post.khat, post.path
    post.plot(); post.write("post.fits")

1. From the network's estimate (its mean and widths for ln kT, abundance, redshift and
   ln norm set the starting point and the scale), the likelihood's maximum is found
   (L-BFGS-B) and its curvature there measured: a multivariate Student-t (4 degrees of
   freedom) with that centre and covariance, widened 1.2x, is the proposal.
2. Each of its 1000 draws is weighted by the data set's own likelihood: Sherpa's cstat, or
   wstat with a background, of ``mmabs(nH) * cie`` folded through the data set's response,
   filter and grouping (:class:`sherpa_rim.poisson.SpectralData`), times the prior, over
   the proposal density. The Galactic column is held at its known value, or sampled when
   it is free. The weights are Pareto-smoothed (ArviZ's PSIS), with the k-hat diagnostic
   and the effective sample size 1 / sum w^2.
3. When k-hat > 0.7 or the ESS is below ``min_ess``, emcee takes over, started from the
   weighted draws, and its chains give the answer (ESS from ArviZ); ``path`` says which ran.

Proposing from the network's own Gaussian (widened, as a Student-t) is kept as
``start="network"``: on ACIS spectra of 3e3-1e5 counts it gave an ESS of 2-5 in 400 draws
(k-hat 1.5-20), because the network's widths are calibrated over a population, not for
one spectrum; the Laplace proposal gives ESS 560-690 of 1000 with k-hat < 0.55
(docs/amortised.md).

The prior is flat in ln kT (the table's range), in abundance (0-5), in redshift (0-2), in
ln norm, and in nH (0-1e22 cm^-2) when it is free: the answer is the likelihood's, not the
network's. The network only has to put its proposal near the posterior; a response it
never saw moves the draws' weights, not the answer.
"""
from __future__ import annotations

import logging
import time
import warnings
from typing import Optional

import numpy as np
from scipy import stats as sps

from ..emission.absorption import transmission
from ..emission.fast import GridEvaluator
from ..errors import DataError, MissingDependencyError
from ..poisson import SpectralData, cstat_expectation
from .result import COORDS, NAMES, Q, Posterior, weighted_quantiles

log = logging.getLogger(__name__)

__all__ = ["Posterior", "exact_posterior", "PRIOR"]

#: the prior's box (flat in these coordinates)
PRIOR = {"ln kT": (np.log(0.0685), np.log(21.6)), "abundance": (0.0, 5.0),
         "redshift": (0.0, 2.0), "ln norm": (-np.inf, np.inf), "nH": (0.0, 1.0)}
def _arviz():
    try:
        with warnings.catch_warnings():           # its import announces a refactor
            warnings.simplefilter("ignore", FutureWarning)
            import arviz
    except ImportError as exc:
        raise MissingDependencyError("the exact posterior needs ArviZ (PSIS, ESS): pip install "
                                     "'arviz>=0.20,<1'") from exc
    return arviz


class _Target:
    """log likelihood (-stat / 2) and log prior of mmabs * cie for one data set, in the
    coordinates ``coords`` (the free ones), the others held at ``fixed``."""

    def __init__(self, data: SpectralData, coords, fixed, abund_table="angr"):
        self.data = data
        self.coords = list(coords)
        self.fixed = dict(fixed)
        self.ev = GridEvaluator(data.energy_lo, data.energy_hi, z_range=PRIOR["redshift"])
        self.abund_table = abund_table
        self._T = {}
        self.n_eval = 0

    def full(self, U):
        """(K, 5) in all coordinates from (K, d) free ones."""
        U = np.atleast_2d(U)
        out = np.empty((U.shape[0], len(COORDS)))
        for j, c in enumerate(COORDS):
            out[:, j] = U[:, self.coords.index(c)] if c in self.coords else self.fixed[c]
        return out

    def log_prior(self, U):
        U = np.atleast_2d(U)
        ok = np.ones(U.shape[0], bool)
        for j, c in enumerate(self.coords):
            lo, hi = PRIOR[c]
            ok &= (U[:, j] >= lo) & (U[:, j] <= hi)
        return np.where(ok, 0.0, -np.inf)

    def transmission(self, nH):
        key = round(float(nH), 12)
        if key not in self._T:
            if len(self._T) > 4096:
                self._T.clear()
            self._T[key] = transmission(nH, self.data.energy_lo, self.data.energy_hi)
        return self._T[key]

    def log_like(self, U):
        A = self.full(U)
        lp = self.log_prior(U)
        out = np.full(A.shape[0], -np.inf)
        ok = np.flatnonzero(np.isfinite(lp))
        if ok.size == 0:
            return out
        F = np.empty((ok.size, self.data.energy_lo.size))
        t = self.ev.table
        for r, k in enumerate(ok):
            lnkT, Z, z, lnN, nH = A[k]
            w = t.weights(Z, self.abund_table)
            F[r] = self.ev.evaluate(np.exp(lnkT), w, z, np.exp(lnN)) * self.transmission(nH)
        self.n_eval += ok.size
        mu = F @ self.data.matrix.T
        out[ok] = -0.5 * self.data.statistic(mu)
        return out


def _t_draws(mean, cov, n, rng, df=4.0):
    d = mean.size
    L = np.linalg.cholesky(cov)
    g = rng.standard_normal((n, d)) @ L.T
    u = rng.chisquare(df, n) / df
    return mean + g / np.sqrt(u)[:, None]


def _t_logpdf(X, mean, cov, df=4.0):
    return sps.multivariate_t(loc=mean, shape=cov, df=df).logpdf(X)


def _weighted_moments(X, w):
    m = w @ X
    d = X - m
    C = (w[:, None] * d).T @ d
    return m, C


def exact_posterior(data: SpectralData, proposal: dict, nH: float = 0.0, nH_free: bool = False,
                    fix: Optional[dict] = None, seed: int = 0, n_draws: int = 1000,
                    min_ess: float = 200.0, widen: float = 1.2, abund_table: str = "angr",
                    emcee_steps: int = 1500, start: str = "laplace") -> Posterior:
    """The posterior of mmabs(nH) * cie for ``data`` (module docstring).

    ``proposal``: the network's {"mean", "sd"} in (ln kT, abundance, redshift, ln norm).
    ``fix``: parameters held at a value, e.g. {"redshift": 0.0123} (names of :data:`NAMES`).
    ``start="laplace"`` (default): the likelihood's maximum is found from the network's mean
    (its widths set the scale), and a Student-t with the curvature there (widened
    ``widen``) is the proposal. ``start="network"``: the network's Gaussian itself, widened
    1.5x and adapted once to the weighted draws (measured worse: ``docs/amortised.md``).
    """
    t0 = time.perf_counter()
    az = _arviz()
    rng = np.random.default_rng(seed)
    fix = dict(fix or {})
    fixed = {"nH": float(nH)}
    for name, v in fix.items():
        if name not in NAMES:
            raise ValueError(f"fix: unknown parameter {name!r}; fix one of {NAMES}")
        c = COORDS[NAMES.index(name)]
        fixed[c] = np.log(v) if c.startswith("ln ") else float(v)
    coords = [c for c in COORDS[:4] if c not in fixed] + (["nH"] if nH_free and "nH" not in fix else [])
    if "nH" in coords:
        del fixed["nH"]
    target = _Target(data, coords, fixed, abund_table)
    m0 = np.array([proposal["mean"][COORDS.index(c)] if c != "nH" else max(nH, 0.02)
                   for c in coords], float)
    floor = {"ln kT": 0.02, "abundance": 0.02, "redshift": 0.002, "ln norm": 0.02, "nH": 0.02}
    s0 = np.array([max(proposal["sd"][COORDS.index(c)] if c != "nH" else 0.3 * max(nH, 0.05),
                       floor[c]) for c in coords], float)
    for j, c in enumerate(coords):                 # start inside the prior's box
        lo, hi = PRIOR[c]
        m0[j] = np.clip(m0[j], lo + 1e-3 * s0[j] if np.isfinite(lo) else lo,
                        hi - 1e-3 * s0[j] if np.isfinite(hi) else hi)
    warns = []

    def weigh(X, mean, cov):
        lw = target.log_like(X) - _t_logpdf(X, mean, cov)
        good = np.isfinite(lw)
        if not good.any():
            return lw, np.zeros(X.shape[0]), 0.0, np.inf
        lw_s, khat = az.psislw(np.where(good, lw, -1e300))
        w = np.exp(lw_s - lw_s.max())
        w[~good] = 0.0
        w /= w.sum()
        return lw, w, 1.0 / np.sum(w ** 2), float(khat)

    if start == "laplace":
        mean, cov = _laplace(target, m0, s0)
        cov = widen ** 2 * cov
        gof = _goodness(target, mean)
        path = "maximum from the network's estimate, Laplace proposal, PSIS"
    elif start == "network":
        cov = np.diag((1.5 * s0) ** 2)
        X = _t_draws(m0, cov, n_draws // 2, rng)
        _, w, ess, khat = weigh(X, m0, cov)
        log.debug("network proposal: ESS %.1f, k-hat %.2f", ess, khat)
        mean, C1 = _weighted_moments(X, w)
        cov = 1.5 ** 2 * (C1 + np.diag((0.05 * s0) ** 2))
        path = "network proposal, one adaptation, PSIS"
        gof = _goodness(target, X[np.argmax(w)])
    else:
        raise ValueError("start must be 'laplace' or 'network'")
    Xf = _t_draws(mean, cov, n_draws, rng)
    _, wf, ess, khat = weigh(Xf, mean, cov)
    log.debug("final proposal: ESS %.1f, k-hat %.2f", ess, khat)
    if khat > 0.7 or ess < min_ess:
        is_khat, is_ess = khat, ess
        Xf, wf, ess = _run_emcee(target, Xf, wf, rng, emcee_steps, az)
        path = f"emcee (importance sampling had k-hat {is_khat:.2f}, ESS {is_ess:.0f})"
        warns.append("importance sampling was not reliable for this spectrum (k-hat > 0.7 or "
                     "small ESS): the answer is from emcee, started from the weighted draws")
        khat = None
    A = target.full(Xf)
    natural = np.column_stack([np.exp(A[:, 0]), A[:, 1], A[:, 2], np.exp(A[:, 3]), A[:, 4]])
    keep = [j for j, c in enumerate(COORDS) if c in coords]
    names = [NAMES[j] for j in keep]
    summary = {}
    for j, n in enumerate(NAMES):
        q = weighted_quantiles(natural[:, j], wf, list(Q.values()))
        summary[n] = {k: float(v) for k, v in zip(Q, q)}
    post = Posterior(names=names, draws=natural[:, keep], weights=np.asarray(wf, float),
                     summary=summary, nH=float(nH), nH_free="nH" in coords, path=path,
                     ess=float(ess), khat=khat, statistic=data.stat,
                     seconds=time.perf_counter() - t0, n_evaluations=target.n_eval,
                     warnings=warns)
    post._target = target
    post.gof_p = gof
    if gof is not None and gof < 1e-3:
        post.warnings.append(f"mmabs * cie does not describe this spectrum (goodness of fit "
                             f"p = {gof:.1e}, C-statistic against its expectation): the "
                             "posterior is that of a model the data reject")
    return post


def _goodness(target: _Target, u) -> Optional[float]:
    """Goodness of fit of the model at ``u`` (the maximum): its C-statistic against the
    expectation for the model (Kaastra 2017), less one per free parameter; None for wstat."""
    if target.data.stat != "cstat":
        return None
    A = target.full(u)[0]
    w = target.ev.table.weights(A[1], target.abund_table)
    F = target.ev.evaluate(np.exp(A[0]), w, A[2], np.exp(A[3])) * target.transmission(A[4])
    mu = target.data.matrix @ F
    C = float(target.data.statistic(mu))
    e, v = cstat_expectation(mu)
    return float(sps.norm.sf((C - (e - len(target.coords))) / np.sqrt(v)))


def _laplace(target: _Target, m0, s0):
    """The maximum of the log likelihood (x prior) from ``m0``, and the inverse of minus its
    Hessian there (central differences); ``s0`` sets the scales. Falls back to diag(s0^2)
    where the curvature is not positive definite."""
    from scipy.optimize import minimize

    def f(x):                                  # in units of s0 around m0
        v = target.log_like((m0 + x * s0)[None, :])[0]
        return 1e30 if not np.isfinite(v) else -v
    bounds = []
    for j, c in enumerate(target.coords):
        lo, hi = PRIOR[c]
        bounds.append(((lo - m0[j]) / s0[j] if np.isfinite(lo) else None,
                       (hi - m0[j]) / s0[j] if np.isfinite(hi) else None))
    res = minimize(f, np.zeros(m0.size), method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 200, "eps": 1e-4})
    x = res.x
    mode = m0 + x * s0
    # Hessian of -log L in the scaled coordinates (step 0.05 s0, kept inside the prior box)
    d, h = x.size, 0.05
    f0 = f(x)
    H = np.empty((d, d))
    for a in range(d):
        ea = np.zeros(d)
        ea[a] = h
        H[a, a] = (f(x + ea) - 2 * f0 + f(x - ea)) / h ** 2
        for b in range(a):
            eb = np.zeros(d)
            eb[b] = h
            H[a, b] = H[b, a] = (f(x + ea + eb) - f(x + ea - eb) - f(x - ea + eb)
                                 + f(x - ea - eb)) / (4 * h * h)
    # invert through the eigen-decomposition, each direction's variance kept within
    # [1e-4, 100] network variances: a flat or wrongly curved direction (a parameter the
    # data barely constrain) gets a wide but finite proposal, and importance sampling says
    # whether that was enough (k-hat), with emcee behind it
    lam, V = np.linalg.eigh(0.5 * (H + H.T))
    lam = np.where(np.isfinite(lam) & (lam > 0), lam, 1e-2)
    C = (V / np.clip(lam, 1e-2, 1e4)) @ V.T
    return mode, C * np.outer(s0, s0)


def _run_emcee(target: _Target, X, w, rng, steps, az):
    """emcee from the weighted draws; returns (draws, equal weights, ESS)."""
    import emcee
    d = X.shape[1]
    nw = max(4 * d, 16)
    pick = rng.choice(X.shape[0], nw, p=w if np.all(np.isfinite(w)) and w.sum() > 0 else None)
    p0 = X[pick] + 1e-4 * rng.standard_normal((nw, d))
    sampler = emcee.EnsembleSampler(nw, d, lambda U: target.log_like(U), vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2 ** 31))).get_state()
    sampler.run_mcmc(p0, steps, progress=False, skip_initial_state_check=True)
    burn = steps // 3
    chain = sampler.get_chain()[burn:]                        # (draws, walkers, d)
    per_walker = np.transpose(chain, (1, 0, 2))                  # walkers as chains
    ess = float(min(az.ess(np.ascontiguousarray(per_walker[:, :, j])) for j in range(d)))
    flat = chain.reshape(-1, d)
    return flat, np.full(flat.shape[0], 1.0 / flat.shape[0]), ess


def check_against_sherpa(data: SpectralData, stat_value: float, ours: float):
    """The vectorised statistic must be the data set's own Sherpa statistic."""
    if not np.isclose(ours, stat_value, rtol=1e-6, atol=1e-3):
        raise DataError(f"the exact posterior's {data.stat} ({ours:.6g}) differs from Sherpa's "
                        f"({stat_value:.6g}) for this data set: its source is not mmabs * cie as "
                        "the posterior assumes; use method='network' or a plain fit")


def check_model(kT, abundance, redshift, norm, nH):
    """mmabs(nH) * cie(kT, abundance, redshift, norm) as a Sherpa model with no free
    parameters, made from the same pure functions as the Sherpa models ``mmabs`` and ``cie``
    (not from the posterior's fast evaluator): the independent side of the self-check."""
    from sherpa.models.model import ArithmeticModel

    from ..emission import spectrum
    from ..emission.abundances import get_abund
    from ..response.grid import energy_bins

    class MMAbsCIE(ArithmeticModel):
        def __init__(self):
            ArithmeticModel.__init__(self, "mmabs_cie_check", ())

        def calc(self, p, lo, hi=None, *args, **kwargs):
            lo, hi = energy_bins(lo, hi)
            return (spectrum(kT, abundance, redshift, norm, lo, hi, abund_table=get_abund(),
                             line_binning="linear") * transmission(nH, lo, hi))
    return MMAbsCIE()
