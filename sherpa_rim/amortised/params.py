"""The parameter network at run time: kT, abundance, redshift and norm with calibrated
intervals, and start values for a Sherpa fit.

    post = estimate(id=1)                # exact posterior: post["kT"]["median"], ["lo90"], post.ess...
    est = estimate(id=1, method="network")   # the network alone (milliseconds)
    guess(id=1)                          # sets the cie component's start values and soft limits

The network works on the RIM's canonical grid (:mod:`sherpa_rim.observation`); ignored
channels are filled by the DAE first (:func:`sherpa_rim.amortised.dae.network_input`).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np

from ..emission.abundances import get_abund
from ..emission.absorption import transmission
from ..emission.fast import GridEvaluator
from ..errors import DataError
from ..observation import (GALACTIC_ABSORBERS, Observation, check_column, find_component,
                           observation_from_files, observation_from_session)
from ..poisson import SpectralData
from ..response.ogip import read_ogip, read_spectrum
from ..response.grid import CanonicalGrid
from ..runtime import check_applicable, open_model, shared
from .dae import network_input
from .posterior import check_against_sherpa, check_model, exact_posterior

log = logging.getLogger(__name__)

__all__ = ["ParameterEstimator", "estimate", "estimate_files", "guess", "thermal_component",
           "flux_scale", "PARAMS"]

Z68, Z90 = 1.0, 1.6448536269514722
PARAMS = ("log_kT", "abundance", "redshift", "log_flux")


def flux_scale(S, R):
    """The flux scale of the parameter network's inputs (total counts over total effective
    area, per spectrum): the numpy twin of the scale in ``training.param.param_features``."""
    eff = R.sum(1)
    tot = np.clip(S, 0, None).sum(1, keepdims=True)
    scale = np.maximum(tot / eff.sum(1, keepdims=True), 1e-30)
    return scale


class ParameterEstimator:
    def __init__(self, name="param_default", providers=None, folder=None):
        self.session = open_model(name, folder=folder, providers=providers)
        self.entry = self.session.entry
        self.grid = CanonicalGrid.from_dict(self.entry["grid"])
        self.calibration = np.asarray(self.entry["calibration"], float)
        self.name = name
        self._ev = None                  # the cie evaluator of the grid (norm conversion)

    def raw(self, obs_list, nH=None):
        """Network outputs. Ignored channels are filled by the DAE first (the network was
        trained on whole 0.3-10 keV spectra), told the Galactic column ``nH`` (1e22 cm^-2,
        one per observation; 0 where not given)."""
        cols = [0.0] * len(obs_list) if nH is None else list(np.broadcast_to(nH, len(obs_list)))
        filled = [network_input(o, c) for o, c in zip(obs_list, cols)]
        return self.forward(np.stack([f[0] for f in filled]), np.stack([o.R for o in obs_list]),
                            np.stack([f[1] for f in filled]))

    def forward(self, S, R, sigma):
        """:meth:`raw` on network inputs (S, sigma: (n, channels), the ignored channels
        filled; R: (n, channels, energies) or one (channels, energies) for all)."""
        S = np.asarray(S, np.float32)
        R = np.broadcast_to(np.asarray(R, np.float32), S.shape[:1] + np.shape(R)[-2:])
        sig = np.asarray(sigma, np.float32)
        out = self.session.run({"S": S, "R": R, "sigma": sig})
        mean = out["param_mean"].astype(float)
        sd = np.exp(out["param_logsd"].astype(float)) * self.calibration[None, :]
        return mean, sd, flux_scale(S.astype(float), R.astype(float))

    def estimate(self, obs: Observation, nH: float = 0.0,
                 allow_instrument: bool = False) -> Dict[str, Dict[str, float]]:
        return self.estimate_many([obs], [nH], allow_instrument)[0]

    def estimate_many(self, obs_list, nH=None, allow_instrument: bool = False):
        """Median and 68 / 90 % intervals of kT, abundance, redshift and norm per observation.

        ``nH`` (1e22 cm^-2, one per observation, default 0) is the Galactic column of the
        model the norm belongs to: the network measures the *absorbed* photon flux, and
        ``norm`` is that flux over the flux of ``mmabs(nH) * cie(kT, Z, z, norm=1)``."""
        cols = np.zeros(len(obs_list)) if nH is None else np.broadcast_to(
            np.asarray(check_column(nH), float), (len(obs_list),))
        warns = [check_applicable(self.entry, self.name, o.meta, o.counts_noticed, allow_instrument)
                 + _shape_warnings(o) + list(o.meta.get("notes", [])) for o in obs_list]
        mean, sd, scale = self.raw(obs_list, cols)
        results = []
        for k, obs in enumerate(obs_list):
            m, s = mean[k], sd[k]
            out = {}

            def interval(mu, sig, fn=lambda x: x):
                return {"median": float(fn(mu)), "lo68": float(fn(mu - Z68 * sig)),
                        "hi68": float(fn(mu + Z68 * sig)), "lo90": float(fn(mu - Z90 * sig)),
                        "hi90": float(fn(mu + Z90 * sig))}
            out["kT"] = interval(m[0], s[0], np.exp)
            out["abundance"] = interval(m[1], s[1])
            out["redshift"] = interval(m[2], s[2])
            # total photon flux (photons/cm^2/s in the grid's band, absorbed) -> APEC norm
            # behind the column: ln norm = ln flux - ln U(ln kT, Z, z), U = sum(T cie(norm=1));
            # its width adds the shape parameters' widths through dlnU (delta method)
            lnU, grad = self._ln_unit(m[:3], cols[k])
            s_norm = np.sqrt(s[3] ** 2 + float(np.sum((grad * s[:3]) ** 2)))
            ln_norm = m[3] + np.log(scale[k, 0]) - lnU
            out["norm"] = interval(ln_norm, s_norm, np.exp)
            out["nH"] = float(cols[k])
            # the network's Gaussian in (ln kT, abundance, redshift, ln norm): where the exact
            # posterior starts its proposal (sherpa_rim.amortised.posterior)
            out["proposal"] = {"mean": [float(m[0]), float(m[1]), float(m[2]), float(ln_norm)],
                               "sd": [float(s[0]), float(s[1]), float(s[2]), float(s_norm)]}
            out["method"] = "network"
            out["warnings"] = warns[k]
            results.append(out)
        return results

    def _ln_unit(self, shape, nH, step=(0.02, 0.02, 0.002)):
        """ln of the photon flux on the grid of mmabs(nH) * cie(norm=1) at (ln kT, abundance,
        redshift) = ``shape``, and its gradient in those three (central differences); the cie
        spectra from a per-grid evaluator (the Sherpa models' numbers)."""
        lo, hi = self.grid.energy_lo, self.grid.energy_hi
        T = transmission(nH, lo, hi)
        if self._ev is None:
            self._ev = GridEvaluator(lo, hi, z_range=(0.0, 2.0))
        ev = self._ev

        def lnU(v):
            kT = float(np.clip(np.exp(v[0]), 0.07, 21.0))
            ab = float(np.clip(v[1], 0.0, 5.0))
            z = float(np.clip(v[2], 0.0, 2.0))
            return float(np.log((ev.evaluate(kT, ev.table.weights(ab), z, 1.0) * T).sum()))
        v0 = np.asarray(shape, float)
        grad = np.empty(3)
        for i, h in enumerate(step):
            e = np.zeros(3)
            e[i] = h
            grad[i] = (lnU(v0 + e) - lnU(v0 - e)) / (2 * h)
        return lnU(v0), grad


def _shape_warnings(obs) -> list:
    """A 'spectrum' whose counts sit in a handful of channels is not one the network knows."""
    c = np.sort(np.clip(np.where(obs.noticed, obs.S, 0.0), 0, None))[::-1]
    n90 = int(np.searchsorted(np.cumsum(c), 0.9 * c.sum()) + 1)
    if n90 <= 3:
        return [f"90 % of the counts sit in {n90} channel(s): not a continuum spectrum, and not "
                "one the network was trained on; its estimate is meaningless"]
    return []


METHODS = ("exact", "network")


def estimate(id=1, model: str = "param_default", nH: Optional[float] = None,
             allow_instrument: bool = False, method: str = "exact", fix: Optional[dict] = None,
             seed: int = 0):
    """kT, abundance, redshift and norm of a data set (median, 68 % and 90 % intervals).

    ``method="exact"`` (default): the posterior of ``mmabs * cie`` under the data set's own
    statistic, the parameter network as its proposal (:mod:`sherpa_rim.amortised.posterior`;
    a :class:`~sherpa_rim.amortised.posterior.Posterior`, with ESS, k-hat and the path that
    ran). ``method="network"``: the network alone, in milliseconds, for batch work; its
    intervals are calibrated on the validation responses only (a dict).

    ``nH``: the Galactic column (1e22 cm^-2). When not given it is read from a Galactic
    absorber in the data set's source expression (``mmabs``, ``xsphabs``, ...); a source
    without one gets 0, so that ``norm`` is that of its unabsorbed model. With the exact
    method, a thawed ``mmabs`` nH is sampled. ``fix``: parameters held at a value in the exact
    posterior, e.g. ``{"redshift": 0.0123}``."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose 'exact' or 'network'")
    est = shared(ParameterEstimator, model)
    obs = observation_from_session(id, est.grid)
    column, free = (float(check_column(nH)), False) if nH is not None else _column(id)
    net = est.estimate(obs, column, allow_instrument)
    if method == "network":
        return net
    return _exact_in_session(id, net, column, free, fix, seed)


def _column(id):
    """(nH, free?) from the Galactic absorber of the data set's source (0, fixed, without)."""
    from sherpa.astro import ui
    from sherpa.utils.err import IdentifierErr, ModelErr
    try:
        src = ui.get_source(id)
    except (IdentifierErr, ModelErr):
        return 0.0, False
    gal = find_component(src, lambda m: type(m).__name__.lower() in GALACTIC_ABSORBERS)
    return (0.0, False) if gal is None else (float(gal.nH.val), not gal.nH.frozen)


def _check_source(id):
    """The exact posterior is of mmabs * cie: the data set's source must be that (or cie
    alone, or none)."""
    from sherpa.astro import ui
    from sherpa.utils.err import IdentifierErr, ModelErr
    try:
        src = ui.get_source(id)
    except (IdentifierErr, ModelErr):
        return
    parts, stack = [], [src]
    while stack:
        m = stack.pop()
        sub = getattr(m, "parts", ())
        if sub:
            if getattr(m, "op", None) is not np.multiply:
                raise DataError(f"data set {id!r}: the exact posterior is of mmabs * cie, and the "
                                f"source is {src.name}; use estimate(method='network') or a fit")
            stack.extend(sub)
        else:
            parts.append(type(m).__name__.lower())
    if sorted(parts) not in (["cie"], ["cie", "mmabs"]):
        raise DataError(f"data set {id!r}: the exact posterior is of mmabs * cie, and the source "
                        f"is {src.name}; use estimate(method='network') or a fit")


def _exact_in_session(id, net, nH, nH_free, fix, seed):
    from sherpa.astro import ui

    _check_source(id)
    d = ui.get_data(id)
    stat = "wstat" if getattr(d, "background_ids", None) and not d.subtracted else "cstat"
    data = SpectralData.from_session(id, stat=stat)
    post = exact_posterior(data, net["proposal"], nH=nH, nH_free=nH_free, fix=fix, seed=seed,
                           abund_table=get_abund())
    _self_check(post, ui.get_data(id), ui.get_response(id), stat)
    post.warnings = list(net["warnings"]) + post.warnings
    return post


def _self_check(post, data, response, stat):
    """The posterior's statistic at its median must be Sherpa's own for mmabs * cie there,
    computed by Sherpa (``Fit.calc_stat``) with the same pure functions as the ``mmabs`` and
    ``cie`` models, on the data set's own response."""
    from sherpa.fit import Fit
    from sherpa.stats import CStat, WStat

    s = post.summary
    pars = [s["kT"]["median"], s["abundance"]["median"], s["redshift"]["median"],
            s["norm"]["median"], s["nH"]["median"] if post.nH_free else post.nH]
    sherpa_stat = Fit(data, response(check_model(*pars)),
                      CStat() if stat == "cstat" else WStat()).calc_stat()
    check_against_sherpa(post._target.data, sherpa_stat, post.stat_at(*pars))


def estimate_files(pha, arf=None, rmf=None, model: str = "param_default", nH: float = 0.0,
                   allow_instrument: bool = False, method: str = "exact", bkg=None,
                   band=(0.3, 10.0), fix: Optional[dict] = None, seed: int = 0):
    """:func:`estimate` for a PHA file (ARF/RMF from its header unless given; ``bkg`` a
    background PHA, then the exact posterior uses wstat); ``nH`` the Galactic column
    (1e22 cm^-2) of the model whose ``norm`` is returned (0: unabsorbed). The exact posterior
    uses the channels in ``band`` (keV) that QUALITY does not flag."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: choose 'exact' or 'network'")
    est = shared(ParameterEstimator, model)
    net = est.estimate(observation_from_files(pha, arf=arf, rmf=rmf, bkg=bkg, grid=est.grid),
                       nH, allow_instrument)
    if method == "network":
        return net
    from sherpa.astro.instrument import Response1D

    d = load_for_fit(pha, arf=arf, rmf=rmf, bkg=bkg, band=band)
    stat = "wstat" if d.background_ids else "cstat"
    data = SpectralData.from_data(d, stat=stat, label=f"spectrum {str(pha)!r}")
    post = exact_posterior(data, net["proposal"], nH=float(check_column(nH)), fix=fix, seed=seed,
                           abund_table=get_abund())
    _self_check(post, d, Response1D(d), stat)
    post.warnings = list(net["warnings"]) + post.warnings
    return post


def load_for_fit(pha, arf=None, rmf=None, bkg=None, band=(0.3, 10.0), with_response=False):
    """A PHA file as a Sherpa ``DataPHA`` ready to fit outside the UI session: its ARF and
    RMF attached, background attached (``bkg``), QUALITY-flagged channels and everything
    outside ``band`` (keV) ignored. ``with_response``: also its dense response, ``(DataPHA,
    Response)`` (for :func:`~sherpa_rim.observation.observation_from_data`, ``rsp=``)."""
    pha_obj, rsp = read_spectrum(pha, arf=arf, rmf=rmf)
    arf_obj, rmf_obj = rsp.meta.get("_arf_obj"), rsp.meta.get("_rmf_obj")
    for b in list(pha_obj.background_ids):
        pha_obj.delete_background(b)
    pha_obj.set_response(arf_obj, rmf_obj)
    if bkg is not None:
        pha_obj.set_background(read_ogip("PHA", bkg, role="bkg"))
    pha_obj.units = "energy"
    if getattr(pha_obj, "quality", None) is not None:
        pha_obj.ignore_bad()
    pha_obj.notice(*band)
    return (pha_obj, rsp) if with_response else pha_obj


def guess(id=1, component=None, model: str = "param_default", soft_limits: bool = True,
          freeze_redshift: bool = False, nH: Optional[float] = None):
    """Set a ``cie``/``vcie``/``xsapec`` component's starting values from the posterior median
    (the exact posterior for ``mmabs * cie``; the network's estimate for other sources).

    The component is the data set's source component of that type (or the one
    named). With ``soft_limits`` its kT, abundance and redshift soft limits are
    set to the 90 % interval widened by 2x (hard limits are never changed). ``nH``: the
    Galactic column, read from the source's absorber when not given (see :func:`estimate`);
    the norm set is the one behind that absorber. Returns the estimate.
    """
    from sherpa.astro import ui

    comp = component if component is not None else thermal_component(ui.get_source(id))
    if comp is None:
        raise ValueError(f"data set {id!r} has no cie/vcie/xsapec component in its source; "
                         "set_source(id, xsphabs.gal * cie.src) first or pass component=")
    try:
        _check_source(id)
        method = "exact" if type(comp).__name__.lower() == "cie" else "network"
    except DataError:
        method = "network"
    est = estimate(id, model, nH=nH, method=method)

    def setp(par, key, lo_clip=None):
        e = est[key]
        v = float(np.clip(e["median"], par.hard_min, par.hard_max))
        if soft_limits:
            half = max(e["hi90"] - e["median"], e["median"] - e["lo90"]) * 2
            lo = max(par.hard_min, v - half if lo_clip is None else max(lo_clip, v - half))
            hi = min(par.hard_max, v + half)
            if hi > lo:
                par.set(val=v, min=lo, max=hi)
                return
        par.val = v

    setp(comp.kT, "kT", lo_clip=0.0)
    ab = getattr(comp, "Abundanc", None) or getattr(comp, "abundanc", None)
    if ab is not None:
        setp(ab, "abundance", lo_clip=0.0)
    setp(comp.redshift, "redshift", lo_clip=0.0)
    if freeze_redshift:
        comp.redshift.freeze()
    comp.norm.val = float(np.clip(est["norm"]["median"], comp.norm.hard_min, comp.norm.hard_max))
    log.info("guess for %s: kT=%.3g Z=%.3g z=%.4g norm=%.3g", comp.name, comp.kT.val,
             ab.val if ab is not None else np.nan, comp.redshift.val, comp.norm.val)
    return est


THERMAL_TYPES = ("cie", "vcie", "xsapec", "xsvapec")


def _is_thermal(m) -> bool:
    tname = type(m).__name__.lower()
    return ((tname in THERMAL_TYPES or hasattr(m, "kT") and hasattr(m, "redshift"))
            and hasattr(m, "kT") and hasattr(m, "norm"))


def thermal_component(expr):
    """The ``cie``/``vcie``/``xsapec``/``xsvapec`` (or kT-redshift-norm) component of a
    source expression, or None."""
    return find_component(expr, _is_thermal)

