"""The parameter network at run time: kT, abundance, redshift and norm with calibrated
intervals, and start values for a Sherpa fit.

    est = estimate(id=1)                 # dict: kT, abundance, redshift, norm -> median, lo68...
    guess(id=1)                          # sets the cie component's start values and soft limits

The network works on the RIM's canonical grid (:mod:`sherpa_rim.observation`); ignored
channels are filled by the DAE first (:func:`sherpa_rim.amortised.dae.fill_ignored`).
"""
from __future__ import annotations

import logging
from typing import Dict, Optional

import numpy as np

from ..emission import spectrum
from ..emission.absorption import transmission
from ..observation import (Observation, check_column, find_component, galactic_column,
                           observation_from_files, observation_from_session)
from ..response.grid import CanonicalGrid
from ..runtime import check_applicable, open_model, shared
from .dae import fill_ignored

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

    def raw(self, obs_list, nH=None):
        """Network outputs. Ignored channels are filled by the DAE first (the network was
        trained on whole 0.3-10 keV spectra), told the Galactic column ``nH`` (1e22 cm^-2,
        one per observation; 0 where not given)."""
        cols = [0.0] * len(obs_list) if nH is None else list(np.broadcast_to(nH, len(obs_list)))
        filled = [np.where(o.noticed, o.S, fill_ignored(o, c)) for o, c in zip(obs_list, cols)]
        S = np.stack(filled).astype(np.float32)
        R = np.stack([o.R for o in obs_list]).astype(np.float32)
        sig = np.stack([np.where(o.noticed, o.sigma, np.sqrt(np.maximum(f, 1.0)))
                        for o, f in zip(obs_list, filled)]).astype(np.float32)
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
            out["norm"] = interval(m[3] + np.log(scale[k, 0]) - lnU, s_norm, np.exp)
            out["nH"] = float(cols[k])
            out["method"] = "network"
            out["warnings"] = warns[k]
            results.append(out)
        return results


    def _ln_unit(self, shape, nH, step=(0.02, 0.02, 0.002)):
        """ln of the photon flux on the grid of mmabs(nH) * cie(norm=1) at (ln kT, abundance,
        redshift) = ``shape``, and its gradient in those three (central differences)."""
        lo, hi = self.grid.energy_lo, self.grid.energy_hi
        T = transmission(nH, lo, hi)

        def lnU(v):
            kT = float(np.clip(np.exp(v[0]), 0.07, 21.0))
            ab = float(np.clip(v[1], 0.0, 5.0))
            z = float(np.clip(v[2], 0.0, 2.0))
            return float(np.log((spectrum(kT, ab, z, 1.0, lo, hi) * T).sum()))
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


def estimate(id=1, model: str = "param_default", nH: Optional[float] = None,
             allow_instrument: bool = False):
    """Network estimate of kT, abundance, redshift and norm (median, 68 % and 90 % intervals).

    ``nH``: the Galactic column (1e22 cm^-2). When not given it is read from a Galactic
    absorber in the data set's source expression (``mmabs``, ``xsphabs``, ...); a source
    without one gets 0, so that ``norm`` is that of its unabsorbed model. The column used is
    returned as ``est["nH"]``."""
    est = shared(ParameterEstimator, model)
    obs = observation_from_session(id, est.grid)
    if nH is None:
        nH = galactic_column(id)
    return est.estimate(obs, 0.0 if nH is None else nH, allow_instrument)


def estimate_files(pha, arf=None, rmf=None, model: str = "param_default", nH: float = 0.0,
                   allow_instrument: bool = False):
    """:func:`estimate` for a PHA file (ARF/RMF from its header unless given); ``nH`` the
    Galactic column (1e22 cm^-2) of the model whose ``norm`` is returned (0: unabsorbed)."""
    est = shared(ParameterEstimator, model)
    return est.estimate(observation_from_files(pha, arf=arf, rmf=rmf, grid=est.grid), nH,
                        allow_instrument)


def guess(id=1, component=None, model: str = "param_default", soft_limits: bool = True,
          freeze_redshift: bool = False, nH: Optional[float] = None):
    """Set a ``cie``/``vcie``/``xsapec`` component's starting values from the network.

    The component is the data set's source component of that type (or the one
    named). With ``soft_limits`` its kT, abundance and redshift soft limits are
    set to the 90 % interval widened by 2x (hard limits are never changed). ``nH``: the
    Galactic column, read from the source's absorber when not given (see :func:`estimate`);
    the norm set is the one behind that absorber. Returns the estimate.
    """
    from sherpa.astro import ui

    est = estimate(id, model, nH=nH)
    comp = component if component is not None else thermal_component(ui.get_source(id))
    if comp is None:
        raise ValueError(f"data set {id!r} has no cie/vcie/xsapec component in its source; "
                         "set_source(id, xsphabs.gal * cie.src) first or pass component=")

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

