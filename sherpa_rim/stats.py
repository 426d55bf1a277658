"""A RIM prior for conventional fits: Sherpa statistics with -2 ln prior added.

    set_stat("rimprior_cstat")            # cstat + the RIM prior, for every data set fitted
    set_stat("rimprior_chi2")             # chi2 (data variance) + the RIM prior
    set_stat("netprior_cstat")            # cstat + the parameter network's density
    from sherpa_rim.stats import RIMPriorCStat
    set_stat(RIMPriorCStat(id=1, weight=1.0))     # other settings: construct one

``import sherpa_rim`` registers the four statistics under their names (call
``sherpa_rim.register()`` again after ``clean()``, which resets Sherpa's list), so that
``set_stat(name)`` and Sherpa's ``save_all`` / ``restore`` work. Each works with LevMar (the
prior terms are in the per-bin vector), NelderMead, MonCar and ``get_draws``.

By default (``id=None``) a prior statistic applies to each data set being fitted (the
data sets of the session that the fit's data are); ``id=`` restricts it to one.

The RIM prior compares the *intrinsic* source model of a data set with the RIM
reconstruction of the same data in eight broad bands (0.5-7 keV, log-spaced; only
the bands inside the noticed range), in log flux:

    d_b = ln M_b(theta) - ln F_b - mu_b,     -2 ln p = d^T C^-1 d

where mu is the mean of ln(true / RIM) band fluxes measured on simulated spectra through
the *validation* responses for the data set's class of total counts
(``training/calibrate_rim.py``), and C = D Corr D: D the reconstruction's own calibrated
1-sigma widths (half the log width of its calibrated 68 % band in each band,
:mod:`sherpa_rim.rim.band`, calibrated on the same responses by
``training/calibrate_band.py``), Corr the correlation of those errors in the class. So
the prior is as wide as the RIM's real error on this spectrum, bias at low counts
included, not the spread of its output under resampling (a per-bin prior of that width
pulls fits *away* from the truth: it trusts a reconstruction that leans on its training
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
from .errors import DataError, ModelFileError
from .metrics import band_mask
from .observation import data_fingerprint
from .rim.deconvolver import deconvolve
from .runtime import models_dir, read_manifest

log = logging.getLogger(__name__)

__all__ = ["RIMPriorChi2", "RIMPriorCStat", "NetworkPriorChi2", "NetworkPriorCStat", "STATISTICS",
           "register", "band_matrix", "band_prior_terms"]


def band_matrix(energy_lo, energy_hi, edges) -> np.ndarray:
    """(n_bands, n_energy) 0/1 matrix: which energy bins (by midpoint) sum into which band
    (the same bin-to-band rule as :mod:`sherpa_rim.metrics`)."""
    return np.stack([band_mask(energy_lo, energy_hi, (a, b)) for a, b in zip(edges[:-1], edges[1:])]).astype(float)


def band_prior_terms(calibration, energy_lo, energy_hi, total_counts, band_lo, band_hi, sd=None):
    """(band matrix, mu, whitening matrix W) for the bands inside [band_lo, band_hi] keV,
    for the calibration class of ``total_counts``: -2 ln p = |W (ln M_b - ln F_b - mu)|^2.

    ``sd``: the reconstruction's own calibrated 1-sigma widths of ln F_b (one per band, from
    its calibrated 68 % band); the covariance is then D Corr D with D = diag(sd) and Corr
    the class's correlation matrix. Without it, the class's covariance."""
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
    if sd is not None:
        d = np.sqrt(np.diag(C))
        D = np.asarray(sd, float)[keep]
        C = C / np.outer(d, d) * np.outer(D, D)
    W = np.linalg.cholesky(np.linalg.inv(C)).T          # W^T W = C^-1
    return B[keep], mu, W


class _Prior:
    """What every prior statistic shares: its settings, the data sets it applies to, and
    per data set terms cached against that data set's fingerprint (counts, filter,
    grouping, background, response), so that ``notice``, ``ignore`` or new data rebuild
    them."""

    _defaults: dict = {}

    def _init_prior(self, name, **settings):
        w = float(settings["weight"])
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"{type(self).__name__}: weight = {settings['weight']!r} must be "
                             "a finite number >= 0 (it scales -2 ln prior)")
        settings["weight"] = w
        self.settings = settings
        self.prior_id = settings.get("id")
        self.weight = w
        self._cache = {}
        if name is None:
            # the name carries every setting that differs from the default, so that a script
            # that names the statistic (Sherpa's save_all) never restores another one silently
            def show(k, v):
                if k == "result":
                    return "result=given"
                if k == "component":
                    return f"component={v.name!r}"
                return f"{k}={v!r}"
            changed = [show(k, v) for k, v in settings.items()
                       if v is not None and v != self._defaults.get(k)]
            name = self._base_name + (f"({', '.join(changed)})" if changed else "")
        return name

    def _ids(self, data):
        if self.prior_id is not None:
            return [self.prior_id]
        from sherpa.astro import ui
        ids = []
        for d in getattr(data, "datasets", [data]):
            match = [i for i in ui.list_data_ids() if ui.get_data(i) is d]
            if not match:
                raise DataError(f"{self.name}: the data being fitted are not a data set of the "
                                "Sherpa session; give the statistic id= (a session data set)")
            ids.append(match[0])
        return ids

    def _prior(self, data):
        from sherpa.astro import ui
        out = []
        for i in self._ids(data):
            fp = data_fingerprint(ui.get_data(i))
            hit = self._cache.get(i)
            if hit is None or hit[0] != fp:
                hit = (fp, self._setup(i))
                self._cache[i] = hit
            out.append(self._residuals(i, hit[1]))
        return np.sqrt(self.weight) * np.concatenate(out) if out else np.zeros(0)

    def _only(self, what):
        """The terms of the one data set set up so far (for inspection)."""
        if len(self._cache) != 1:
            return None
        return next(iter(self._cache.values()))[1][what]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_cache"] = {}                 # rebuilt from the data on first use
        return state


class _RIMPriorTerms(_Prior):
    """-2 ln p = d^T C^-1 d over the calibrated bands (module docstring)."""

    _base_name = "rimprior"
    _defaults = {"id": None, "weight": 0.5, "model": "rim_default"}

    def _setup(self, i):
        res = self.settings.get("result")
        if res is None:
            res = deconvolve(id=i, model=self.settings["model"])
        entry = read_manifest(models_dir())["models"].get(res.model_name, {})
        cal = entry.get("prior_calibration")
        if cal is None:
            raise ModelFileError(f"model {res.model_name!r} has no prior_calibration in its manifest; "
                                 "run python -m training.calibrate_rim --name " + res.model_name)
        m = res.noticed
        lo = res.channel_lo[m].min() if m.any() else res.energy_lo[0]
        hi = res.channel_hi[m].max() if m.any() else res.energy_hi[-1]
        total = float(np.clip(res.data[m], 0, None).sum())
        B, mu, W = band_prior_terms(cal, res.energy_lo, res.energy_hi, total, lo, hi,
                                    sd=_band_widths(res, cal["band_edges_keV"]))
        lnF = np.log(np.maximum(B @ res.flux, 1e-300))
        return {"result": res, "B": B, "target": lnF + mu, "W": W}

    def _residuals(self, i, t):
        from sherpa.astro import ui
        res = t["result"]
        model = ui.get_source(i)(res.energy_lo, res.energy_hi)
        d = np.log(np.maximum(t["B"] @ model, 1e-300)) - t["target"]
        return t["W"] @ d

    @property
    def reconstruction(self):
        """The RIM result behind the prior (when it applies to one data set)."""
        return self._only("result")


def _band_widths(res, edges):
    """The calibrated 1-sigma width of ln(band flux) of a reconstruction, per prior band:
    half the log width of its calibrated 68 % band (sherpa_rim.rim.band). A floor of 0.01
    keeps a band whose resampling spread vanished from weighing without limit."""
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        band = res.bands[f"{a:g}-{b:g} keV"]
        w = 0.5 * np.log(max(band["hi68"], 1e-300) / max(band["lo68"], 1e-300))
        out.append(max(w, 0.01))
    return np.asarray(out)


class _PlusPrior:
    """calc_stat = the base statistic + |prior residuals|^2, and the residuals appended to the
    per-bin vector. LevMar minimises the sum of squares of that vector: Sherpa's chi^2 vector
    is (data - model) / sigma and its cstat vector is the square root of each bin's deviance,
    so in both the prior residuals enter as they are and the sum of squares is calc_stat."""

    def calc_stat(self, data, model):
        stat, fvec = super().calc_stat(data, model)
        pr = self._prior(data)
        return stat + float((pr ** 2).sum()), np.concatenate([fvec, pr])


class RIMPriorChi2(_RIMPriorTerms, _PlusPrior, Chi2DataVar):
    """chi^2 (data variance) plus the RIM prior (``set_stat("rimprior_chi2")``)."""

    _base_name = "rimprior_chi2"

    def __init__(self, id=None, weight=0.5, result=None, model="rim_default", name=None):
        # Sherpa objects refuse new attributes once initialised: set ours first
        name = self._init_prior(name, id=id, weight=weight, model=model, result=result)
        Chi2DataVar.__init__(self, name)


class RIMPriorCStat(_RIMPriorTerms, _PlusPrior, CStat):
    """cstat plus the RIM prior (``set_stat("rimprior_cstat")``)."""

    _base_name = "rimprior_cstat"

    def __init__(self, id=None, weight=0.5, result=None, model="rim_default", name=None):
        name = self._init_prior(name, id=id, weight=weight, model=model, result=result)
        CStat.__init__(self, name)


# ---------------------------------------------------------------------------
# The parameter network's density as a prior
# ---------------------------------------------------------------------------
class _NetworkPriorTerms(_Prior):
    """-2 ln p = sum over the thawed kT (in ln), abundance and redshift of
    ((theta - mu) / s)^2, mu and s the parameter network's Gaussian for the data set
    (s from its calibrated 68 % interval)."""

    _defaults = {"id": None, "weight": 1.0, "model": "param_default", "component": None}

    def _setup(self, i):
        from sherpa.astro import ui

        comp = self.settings.get("component") or thermal_component(ui.get_source(i))
        if comp is None:
            raise DataError(f"data set {i!r} has no cie/vcie/xsapec component; "
                            "pass component= to the statistic")
        est = estimate(i, self.settings["model"], method="network")
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
        return {"estimate": est, "terms": terms}

    def _residuals(self, i, t):
        return np.asarray([((np.log(max(p.val, 1e-30)) if lg else p.val) - mu) / s
                           for p, mu, s, lg in t["terms"] if not p.frozen], float)

    @property
    def estimate(self):
        """The network's estimate behind the prior (when it applies to one data set)."""
        return self._only("estimate")


class NetworkPriorChi2(_NetworkPriorTerms, _PlusPrior, Chi2DataVar):
    """chi^2 (data variance) plus the parameter network's density (``"netprior_chi2"``)."""

    _base_name = "netprior_chi2"

    def __init__(self, id=None, component=None, weight=1.0, model="param_default", name=None):
        name = self._init_prior(name, id=id, component=component, weight=weight, model=model)
        Chi2DataVar.__init__(self, name)


class NetworkPriorCStat(_NetworkPriorTerms, _PlusPrior, CStat):
    """cstat plus the parameter network's density (``"netprior_cstat"``)."""

    _base_name = "netprior_cstat"

    def __init__(self, id=None, component=None, weight=1.0, model="param_default", name=None):
        name = self._init_prior(name, id=id, component=component, weight=weight, model=model)
        CStat.__init__(self, name)


STATISTICS = (RIMPriorChi2, RIMPriorCStat, NetworkPriorChi2, NetworkPriorCStat)


def register() -> None:
    """Make ``set_stat("rimprior_chi2")`` (and the other three) work in the Sherpa session:
    one instance of each, with its default settings, in the session's statistics. Sherpa's
    ``clean()`` resets that list; call this (or ``sherpa_rim.register()``) again after it."""
    from sherpa.astro import ui
    for cls in STATISTICS:
        st = cls()
        ui._session._stats[st.name.lower()] = st     # where set_stat(name) looks (no public API)
