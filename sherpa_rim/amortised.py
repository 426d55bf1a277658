"""Amortised networks at run time (ONNX Runtime): thermal parameters with
calibrated uncertainties, and a denoising autoencoder that fills missing bands.

    est = estimate(id=1)                 # dict: kT, abundance, redshift, norm -> median, lo68...
    guess(id=1)                          # sets the cie component's start values and soft limits
    filled = fill_missing(id=1)          # counts in the ignored channels, flagged

The networks work on the same canonical grid as the RIM (see
:func:`sherpa_rim.deconvolution.prepare_observation`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from .deconvolution import Observation, observation_from_session, prepare_observation
from .errors import DataError

log = logging.getLogger(__name__)

__all__ = ["ParameterEstimator", "estimate", "estimate_observation", "guess", "GapFiller",
           "fill_missing", "param_features_np", "dae_log_area_np"]

Z68, Z90 = 1.0, 1.6448536269514722
PARAMS = ("log_kT", "abundance", "redshift", "log_flux")


def param_features_np(S, R, sigma):
    """The inputs of the parameter network (mirrors training.amortised.param_features)."""
    eff = R.sum(1)
    tot = np.clip(S, 0, None).sum(1, keepdims=True)
    scale = np.maximum(tot / eff.sum(1, keepdims=True), 1e-30)
    return scale


class ParameterEstimator:
    def __init__(self, name="param_default", providers=None, folder=None):
        from .response import CanonicalGrid
        from .runtime import open_model

        self.session = open_model(name, folder=folder, providers=providers)
        self.entry = self.session.entry
        self.grid = CanonicalGrid.from_dict(self.entry["grid"])
        self.calibration = np.asarray(self.entry["calibration"], float)
        self.name = name

    def raw(self, obs_list):
        """Network outputs. Ignored channels are filled by the DAE first (the network was
        trained on whole 0.3-10 keV spectra)."""
        from .deconvolution import fill_ignored
        filled = [np.where(o.noticed, o.S, fill_ignored(o)) for o in obs_list]
        S = np.stack(filled).astype(np.float32)
        R = np.stack([o.R for o in obs_list]).astype(np.float32)
        sig = np.stack([np.where(o.noticed, o.sigma, np.sqrt(np.maximum(f, 1.0)))
                        for o, f in zip(obs_list, filled)]).astype(np.float32)
        out = self.session.run({"S": S, "R": R, "sigma": sig})
        mean = out["param_mean"].astype(float)
        sd = np.exp(out["param_logsd"].astype(float)) * self.calibration[None, :]
        return mean, sd, param_features_np(S.astype(float), R.astype(float), sig.astype(float))

    def estimate(self, obs: Observation) -> Dict[str, Dict[str, float]]:
        return self.estimate_many([obs])[0]

    def estimate_many(self, obs_list):
        from .emission import spectrum

        mean, sd, scale = self.raw(obs_list)
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
            # total photon flux (photons/cm^2/s in the grid's band) -> APEC norm at the median
            # kT, abundance, redshift: norm = flux / sum(cie spectrum with norm = 1)
            flux = lambda x: np.exp(x) * scale[k, 0]          # noqa: E731
            kT = float(np.clip(np.exp(m[0]), 0.07, 21.0))
            ab = float(np.clip(m[1], 0.0, 5.0))
            z = float(np.clip(m[2], 0.0, 2.0))
            unit = spectrum(kT, ab, z, 1.0, self.grid.energy_lo, self.grid.energy_hi).sum()
            out["norm"] = interval(m[3], s[3], lambda x: flux(x) / unit)
            results.append(out)
        return results


_EST = {}


def _estimator(name="param_default"):
    if name not in _EST:
        _EST[name] = ParameterEstimator(name)
    return _EST[name]


def estimate_observation(obs: Observation, model="param_default"):
    return _estimator(model).estimate(obs)


def estimate(id=1, model: str = "param_default"):
    """Network estimate of kT, abundance, redshift and norm (median, 68 % and 90 % intervals)."""
    est = _estimator(model)
    obs = observation_from_session(id, est.grid)
    return est.estimate(obs)


def estimate_files(pha, arf=None, rmf=None, model: str = "param_default"):
    from .response import _read, load_response

    est = _estimator(model)
    rsp = load_response(pha=pha, arf=arf, rmf=rmf)
    counts = np.asarray(_read("PHA", pha).counts, float)
    return est.estimate(prepare_observation(rsp, counts, est.grid, name=str(pha)))


def guess(id=1, component=None, model: str = "param_default", soft_limits: bool = True,
          freeze_redshift: bool = False):
    """Set a ``cie``/``vcie``/``xsapec`` component's starting values from the network.

    The component is the data set's source component of that type (or the one
    named). With ``soft_limits`` its kT, abundance and redshift soft limits are
    set to the 90 % interval widened by 2x (hard limits are never changed).
    Returns the estimate.
    """
    from sherpa.astro import ui

    est = estimate(id, model)
    comp = component if component is not None else _find_thermal(ui.get_source(id))
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


def _find_thermal(expr):
    stack = [expr]
    while stack:
        m = stack.pop()
        tname = type(m).__name__.lower()
        if tname in ("cie", "vcie", "xsapec", "xsvapec") or hasattr(m, "kT") and hasattr(m, "redshift"):
            if hasattr(m, "kT") and hasattr(m, "norm"):
                return m
        stack.extend(getattr(m, "parts", ()))
        if hasattr(m, "model"):
            stack.append(m.model)
    return None


# ---------------------------------------------------------------------------
# Missing-band reconstruction
# ---------------------------------------------------------------------------
@dataclass
class FilledSpectrum:
    channel_lo: np.ndarray
    channel_hi: np.ndarray
    counts: np.ndarray            # observed counts where noticed, reconstruction elsewhere
    expected: np.ndarray          # the DAE's noise-free expected counts everywhere
    reconstructed: np.ndarray     # bool: True where the value is a reconstruction (always flagged)


class GapFiller:
    def __init__(self, name="dae_default", providers=None, folder=None):
        from .response import CanonicalGrid
        from .runtime import open_model

        self.session = open_model(name, folder=folder, providers=providers)
        self.grid = CanonicalGrid.from_dict(self.session.entry["grid"])

    @property
    def needs_response(self) -> bool:
        return "log_area" in self.session.entry["inputs"]

    @property
    def needs_nH(self) -> bool:
        """True when the DAE was trained with the Galactic column folded into its response
        input (``area_nH``): it then needs the observation's Galactic nH."""
        return bool(self.session.entry.get("model_config", {}).get("area_nH", False))

    def fill(self, counts, mask, R=None, nH=None, passes: int = 2) -> np.ndarray:
        """Expected counts everywhere from ``counts`` known where ``mask`` (the seed's
        two-phase refinement: reconstruct, re-insert the known channels, reconstruct again).

        ``R`` is the observation's response on the canonical grid ((C, E) or (B, C, E),
        from :func:`sherpa_rim.deconvolution.prepare_observation`): the DAE needs the relative
        channel response to know how many counts a soft band should hold. ``nH`` is the
        Galactic column (1e22 cm^-2; scalar or one per spectrum), e.g. from HI4PI / CIAO
        ``prop_colden``: the soft band's counts depend on it as much as on the response,
        and it is known for every real observation. Give 0 for an unabsorbed source."""
        counts = np.atleast_2d(np.asarray(counts, float))
        mask = np.atleast_2d(np.asarray(mask, float))
        if counts.shape[1] != self.grid.n_channels:
            raise DataError(f"{counts.shape[1]} channels; the DAE works on "
                            f"{self.grid.n_channels} canonical channels (prepare_observation)")
        s = np.maximum(np.where(mask > 0, np.clip(counts, 0, None), 0).sum(1, keepdims=True)
                       / np.maximum(mask.sum(1, keepdims=True), 1), 1e-3)
        y = np.log1p(np.clip(counts, 0, None) / s) * mask
        feeds = {"y_obs": y.astype(np.float32), "obs_mask": mask.astype(np.float32)}
        if self.needs_response:
            if R is None:
                raise DataError("this DAE needs the observation's response: fill(counts, mask, R=obs.R) "
                                "with R on the canonical grid (prepare_observation)")
            if self.needs_nH and nH is None:
                raise DataError("this DAE needs the Galactic column: fill(counts, mask, R=obs.R, nH=...) "
                                "with nH in 1e22 cm^-2 (e.g. from HI4PI or CIAO prop_colden; 0 for none)")
            feeds["log_area"] = dae_log_area_np(R, mask, self.grid,
                                                nH if self.needs_nH else None).astype(np.float32)
        out = self.session.run(feeds)["y_full"]
        for _ in range(passes - 1):
            feeds["y_obs"] = np.where(mask > 0, y, out).astype(np.float32)
            feeds["obs_mask"] = np.ones_like(mask, np.float32)
            out = self.session.run(feeds)["y_full"]
        return np.expm1(np.clip(out.astype(float), 0, 50)) * s


def galactic_transmission_np(nH, grid) -> np.ndarray:
    """exp(-nH sigma_MM83(E)) on ``grid``'s energy bins, as the training sets absorb; nH in
    1e22 cm^-2, scalar or (B,) -> (B, E)."""
    from .deconvolution import check_column
    from .emission.absorption import grid_transmission

    return grid_transmission(check_column(nH), grid.energy_lo, grid.energy_hi)


def dae_log_area_np(R, mask, grid, nH=None) -> np.ndarray:
    """numpy twin of training.amortised.dae_log_area: log of the counts per channel of a
    flat photon spectrum (seen through the Galactic column ``nH`` when given), relative to
    their mean over the observed channels."""
    R = np.asarray(R, float)
    if R.ndim == 2:
        R = R[None]
    mask = np.atleast_2d(np.asarray(mask, float))
    if R.shape[1:] != (grid.n_channels, grid.n_energy):
        raise DataError(f"response of shape {R.shape[1:]}; the DAE needs ({grid.n_channels}, "
                        f"{grid.n_energy}) on the canonical grid (prepare_observation)")
    w = (grid.energy_hi - grid.energy_lo)[None, :]
    if nH is not None:
        w = w * galactic_transmission_np(nH, grid)
    B = max(R.shape[0], w.shape[0])
    A = np.einsum("bce,be->bc", np.broadcast_to(R, (B,) + R.shape[1:]), np.broadcast_to(w, (B, w.shape[1])))
    A = np.broadcast_to(A, mask.shape)
    mean = (A * mask).sum(1, keepdims=True) / np.maximum(mask.sum(1, keepdims=True), 1)
    return np.log(A / np.maximum(mean, 1e-30) + 1e-3)


def fill_missing(id=1, model: str = "dae_default", nH=None) -> FilledSpectrum:
    """Reconstruct the counts in a data set's ignored channels (always flagged).

    ``nH``: the Galactic column (1e22 cm^-2). When not given it is read from the absorption
    component of the data set's source expression (``mmabs``, ``xsphabs``, ``xstbabs``,
    ``xswabs``); with none there, pass it (0 for an unabsorbed source)."""
    gf = GapFiller(model)
    obs = observation_from_session(id, gf.grid)
    if gf.needs_nH and nH is None:
        nH = _galactic_column(id)
    mask = obs.noticed.astype(float)
    exp = gf.fill(np.where(obs.noticed, obs.S, 0.0), mask, R=obs.R, nH=nH)[0]
    counts = np.where(obs.noticed, obs.S, exp)
    return FilledSpectrum(gf.grid.channel_lo, gf.grid.channel_hi, counts, exp, ~obs.noticed)


def _galactic_column(id) -> float:
    """nH of the Galactic absorber in the data set's source expression (a clear error if none)."""
    from .deconvolution import galactic_column
    nH = galactic_column(id)
    if nH is None:
        raise DataError(f"the DAE needs the Galactic column of data set {id!r}: pass "
                        "fill_missing(id, nH=...) in 1e22 cm^-2 (HI4PI / CIAO prop_colden; 0 for none), "
                        "or put an absorber in the source (set_source(id, mmabs.gal * cie.src))")
    return nH
