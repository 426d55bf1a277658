"""A RIM prior for conventional fits: Sherpa statistics with -2 ln prior added.

    from sherpa_rim.stats import RIMPriorChi2, RIMPriorCStat
    set_stat(RIMPriorChi2(id=1))          # works with LevMar (the prior is in the per-bin vector)
    set_stat(RIMPriorCStat(id=1))         # cstat + prior (LevMar, NelderMead, MonCar, get_draws)

The prior compares the *intrinsic* source model of data set ``id`` with the RIM
reconstruction of the same data in eight broad bands (0.5-7 keV, log-spaced; only
the bands inside the noticed range), in log flux:

    d_b = ln M_b(theta) - ln F_b - mu_b,     -2 ln p = d^T C^-1 d

where mu and C are the mean and covariance of ln(true / RIM) band fluxes measured
on simulated spectra through the *validation* responses, for the data set's class
of total counts (``training/calibrate_rim.py``, stored in the model's manifest).
So the prior is as wide as the RIM's real error, bias at low counts included,
not the spread of its output under resampling (a per-bin prior of that width pulls
fits *away* from the truth: it trusts a reconstruction that leans on its training
prior at low counts, 200 times over).

Caveat: the reconstruction is computed from the same counts as the fit statistic,
so data and prior are not independent; what the prior adds is the RIM's learned
population of spectra. ``weight`` scales -2 ln p; the default 1/2 gives the counts,
which enter twice, their weight once where the RIM only restates them (at high
counts). ``benchmarks/prior.py`` measures what it does (docs/sherpa_session.md).
"""
from __future__ import annotations

import logging

import numpy as np
from sherpa.stats import Chi2DataVar, CStat

from .amortised.params import estimate, thermal_component
from .errors import ModelFileError
from .metrics import band_mask
from .rim.deconvolver import deconvolve
from .runtime import models_dir, read_manifest

log = logging.getLogger(__name__)

__all__ = ["RIMPriorChi2", "RIMPriorCStat", "band_matrix", "band_prior_terms", "NetworkPriorChi2", "NetworkPriorCStat"]


def band_matrix(energy_lo, energy_hi, edges) -> np.ndarray:
    """(n_bands, n_energy) 0/1 matrix: which energy bins (by midpoint) sum into which band
    (the same bin-to-band rule as :mod:`sherpa_rim.metrics`)."""
    return np.stack([band_mask(energy_lo, energy_hi, (a, b)) for a, b in zip(edges[:-1], edges[1:])]).astype(float)


def band_prior_terms(calibration, energy_lo, energy_hi, total_counts, band_lo, band_hi):
    """(band matrix, mu, whitening matrix W) for the bands inside [band_lo, band_hi] keV,
    for the calibration class of ``total_counts``: -2 ln p = |W (ln M_b - ln F_b - mu)|^2."""
    edges = np.asarray(calibration["band_edges_keV"], float)
    B = band_matrix(energy_lo, energy_hi, edges)
    keep = (edges[:-1] >= band_lo - 1e-9) & (edges[1:] <= band_hi + 1e-9)
    if not keep.any():
        raise ValueError(f"no RIM prior band ({edges[0]:g}-{edges[-1]:g} keV) lies inside the "
                         f"noticed range {band_lo:.2f}-{band_hi:.2f} keV; notice a wider band")
    cls = None
    for c in calibration["classes"]:
        hi = c["counts"][1] if c["counts"][1] is not None else np.inf
        if c["counts"][0] <= total_counts < hi:
            cls = c
    if cls is None:
        cls = calibration["classes"][0]
    mu = np.asarray(cls["mean"], float)[keep]
    C = np.asarray(cls["cov"], float)[np.ix_(keep, keep)]
    W = np.linalg.cholesky(np.linalg.inv(C)).T          # W^T W = C^-1
    return B[keep], mu, W


class _PriorTerms:
    def _init_prior(self, id, weight, result):
        self.prior_id = id
        self.weight = float(weight)
        self._res = result
        self._terms = None

    def _setup(self):
        if self._res is None:
            self._res = deconvolve(id=self.prior_id)
        res = self._res
        entry = read_manifest(models_dir())["models"].get(res.model_name, {})
        cal = entry.get("prior_calibration")
        if cal is None:
            raise ModelFileError(f"model {res.model_name!r} has no prior_calibration in its manifest; "
                                 "run python -m training.calibrate_rim --name " + res.model_name)
        m = res.noticed
        lo = res.channel_lo[m].min() if m.any() else res.energy_lo[0]
        hi = res.channel_hi[m].max() if m.any() else res.energy_hi[-1]
        total = float(np.clip(res.data[m], 0, None).sum())
        B, mu, W = band_prior_terms(cal, res.energy_lo, res.energy_hi, total, lo, hi)
        lnF = np.log(np.maximum(B @ res.flux, 1e-300))
        self._terms = (B, lnF + mu, W)

    def _prior(self):
        from sherpa.astro import ui

        if self._terms is None:
            self._setup()
        B, target, W = self._terms
        res = self._res
        model = ui.get_source(self.prior_id)(res.energy_lo, res.energy_hi)
        d = np.log(np.maximum(B @ model, 1e-300)) - target
        return np.sqrt(self.weight) * (W @ d)

    @property
    def reconstruction(self):
        return self._res


class _PlusPrior:
    """calc_stat = the base statistic + |prior residuals|^2, and the residuals appended to the
    per-bin vector. LevMar minimises the sum of squares of that vector: Sherpa's chi^2 vector
    is (data - model) / sigma and its cstat vector is the square root of each bin's deviance,
    so in both the prior residuals enter as they are and the sum of squares is calc_stat."""

    def calc_stat(self, data, model):
        stat, fvec = super().calc_stat(data, model)
        pr = self._prior()
        return stat + float((pr ** 2).sum()), np.concatenate([fvec, pr])


class RIMPriorChi2(_PriorTerms, _PlusPrior, Chi2DataVar):
    """chi^2 (data variance) plus the RIM prior, usable with LevMar (calc_chisqr is inherited:
    Sherpa squares the fvec of calc_stat, prior terms included)."""

    def __init__(self, id=1, weight=0.5, result=None, name="rimprior_chi2"):
        # Sherpa objects refuse new attributes once initialised: set ours first
        self._init_prior(id, weight, result)
        Chi2DataVar.__init__(self, name)


class RIMPriorCStat(_PriorTerms, _PlusPrior, CStat):
    """cstat plus the RIM prior (LevMar, NelderMead, MonCar, get_draws)."""

    def __init__(self, id=1, weight=0.5, result=None, name="rimprior_cstat"):
        self._init_prior(id, weight, result)
        CStat.__init__(self, name)


# ---------------------------------------------------------------------------
# The parameter network's density as a prior
# ---------------------------------------------------------------------------
class _NetworkPriorTerms:
    """-2 ln p = sum over the thawed kT (in ln), abundance and redshift of
    ((theta - mu) / s)^2, mu and s the parameter network's Gaussian for the data set
    (s from its calibrated 68 % interval)."""

    def _init_net(self, id, component, weight, model):
        self.prior_id = id
        self.component = component
        self.weight = float(weight)
        self.model = model
        self._net_terms = None
        self.estimate = None

    def _setup_net(self):
        from sherpa.astro import ui

        comp = (self.component if self.component is not None
                else thermal_component(ui.get_source(self.prior_id)))
        if comp is None:
            raise ValueError(f"data set {self.prior_id!r} has no cie/vcie/xsapec component; "
                             "pass component= to the statistic")
        est = estimate(self.prior_id, self.model)
        terms = []
        pars = {p.name.lower(): p for p in comp.pars}
        for key, names, log_space in (("kT", ("kt",), True), ("abundance", ("abundanc", "abundance"), False),
                                      ("redshift", ("redshift",), False)):
            par = next((pars[n] for n in names if n in pars), None)
            if par is None:
                continue
            e = est[key]
            if log_space:
                mu = np.log(e["median"])
                s = 0.5 * (np.log(e["hi68"]) - np.log(e["lo68"]))
            else:
                mu, s = e["median"], 0.5 * (e["hi68"] - e["lo68"])
            terms.append((par, mu, max(s, 1e-6), log_space))
        self._net_terms = terms
        self.estimate = est

    def _prior(self):
        if self._net_terms is None:
            self._setup_net()
        r = [((np.log(max(p.val, 1e-30)) if lg else p.val) - mu) / s
             for p, mu, s, lg in self._net_terms if not p.frozen]
        return np.sqrt(self.weight) * np.asarray(r, float)


class NetworkPriorChi2(_NetworkPriorTerms, _PlusPrior, Chi2DataVar):
    """chi^2 (data variance) plus the parameter network's density, usable with LevMar."""

    def __init__(self, id=1, component=None, weight=1.0, model="param_default", name="netprior_chi2"):
        self._init_net(id, component, weight, model)
        Chi2DataVar.__init__(self, name)


class NetworkPriorCStat(_NetworkPriorTerms, _PlusPrior, CStat):
    """cstat plus the parameter network's density (LevMar, NelderMead, MonCar, get_draws)."""

    def __init__(self, id=1, component=None, weight=1.0, model="param_default", name="netprior_cstat"):
        self._init_net(id, component, weight, model)
        CStat.__init__(self, name)
