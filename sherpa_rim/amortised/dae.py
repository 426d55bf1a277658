"""The denoising autoencoder at run time: counts in a spectrum's missing bands.

    filled = fill_missing(id=1)          # counts in the ignored channels, flagged

The DAE works on the RIM's canonical grid (:mod:`sherpa_rim.observation`). Its response
feature :func:`dae_log_area_np` is the numpy twin of ``training.dae.dae_log_area``
(the run time never imports torch; a test holds the two equal).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..emission.absorption import transmission
from ..errors import DataError, GridError, ModelFileError
from ..observation import Observation, check_column, galactic_column, observation_from_session
from ..response.grid import CanonicalGrid
from ..runtime import check_applicable, open_model, shared

log = logging.getLogger(__name__)

__all__ = ["GapFiller", "FilledSpectrum", "fill_missing", "fill_ignored", "network_input", "dae_log_area_np",
           "galactic_transmission_np"]


@dataclass
class FilledSpectrum:
    channel_lo: np.ndarray
    channel_hi: np.ndarray
    counts: np.ndarray            # observed counts where noticed, reconstruction elsewhere
    expected: np.ndarray          # the DAE's noise-free expected counts everywhere
    reconstructed: np.ndarray     # bool: True where the value is a reconstruction (always flagged)
    warnings: list = field(default_factory=list)


class GapFiller:
    def __init__(self, name="dae_default", providers=None, folder=None):
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
        from :func:`sherpa_rim.observation.prepare_observation`): the DAE needs the relative
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
    return np.atleast_2d(transmission(check_column(nH), grid.energy_lo, grid.energy_hi, rule="centre"))


def dae_log_area_np(R, mask, grid, nH=None) -> np.ndarray:
    """numpy twin of training.dae.dae_log_area: log of the counts per channel of a
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


def fill_missing(id=1, model: str = "dae_default", nH=None,
                 allow_instrument: bool = False) -> FilledSpectrum:
    """Reconstruct the counts in a data set's ignored channels (always flagged).

    ``nH``: the Galactic column (1e22 cm^-2). When not given it is read from the absorption
    component of the data set's source expression (``mmabs``, ``xsphabs``, ``xstbabs``,
    ``xswabs``); with none there, pass it (0 for an unabsorbed source)."""
    gf = shared(GapFiller, model)
    obs = observation_from_session(id, gf.grid)
    warnings = check_applicable(gf.session.entry, model, obs.meta, obs.counts_noticed,
                                allow_instrument)
    if gf.needs_nH and nH is None:
        nH = _galactic_column(id)
    mask = obs.noticed.astype(float)
    exp = gf.fill(np.where(obs.noticed, obs.S, 0.0), mask, R=obs.R, nH=nH)[0]
    counts = np.where(obs.noticed, obs.S, exp)
    return FilledSpectrum(gf.grid.channel_lo, gf.grid.channel_hi, counts, exp, ~obs.noticed,
                          warnings)


def _galactic_column(id) -> float:
    """nH of the Galactic absorber in the data set's source expression (a clear error if none)."""
    nH = galactic_column(id)
    if nH is None:
        raise DataError(f"the DAE needs the Galactic column of data set {id!r}: pass "
                        "fill_missing(id, nH=...) in 1e22 cm^-2 (HI4PI / CIAO prop_colden; 0 for none), "
                        "or put an absorber in the source (set_source(id, mmabs.gal * cie.src))")
    return nH


def network_input(obs: Observation, nH: float = 0.0, S=None, sigma=None):
    """(S, sigma) for a network trained on whole 0.3-10 keV spectra: the data, the ignored
    channels filled by :func:`fill_ignored` with Poisson noise from the filled counts.
    ``S`` / ``sigma``: a batch (n, channels) of other counts on ``obs``'s grid, response and
    notice filter (:func:`sherpa_rim.observation.resampled`), filled in one DAE call."""
    if (S is None) != (sigma is None):
        raise TypeError("network_input: give a batch's S and sigma together, or neither")
    fill = fill_ignored(obs, nH, S)
    if S is None:
        S, sigma = obs.S, obs.sigma
    S = np.where(obs.noticed, S, fill)
    return S, np.where(obs.noticed, sigma, np.sqrt(np.maximum(S, 1.0)))


def fill_ignored(obs: Observation, nH: float = 0.0, S=None) -> np.ndarray:
    """Expected counts in the ignored channels from the shipped DAE (zeros if there are
    none, or if no DAE is shipped), for a Galactic column ``nH`` (1e22 cm^-2). These counts
    only start the RIM there (ignored channels carry no weight in its likelihood). ``S``:
    a batch of counts in place of ``obs.S`` (see :func:`network_input`)."""
    batch = S is not None
    S = np.atleast_2d(obs.S if S is None else np.asarray(S, float))
    if obs.noticed.all():
        return np.zeros_like(S) if batch else np.zeros_like(obs.S)
    try:
        gf = shared(GapFiller, "dae_default")
        if not gf.grid.same_as(obs.grid):
            raise GridError(f"the DAE works on its own canonical grid ({gf.grid.n_channels} "
                            f"channels); this observation is on another ({obs.S.size}): build it "
                            "on the DAE's grid (observation_from_session(id, GapFiller().grid))")
        mask = np.broadcast_to(obs.noticed.astype(float), S.shape)
        out = gf.fill(np.where(obs.noticed, S, 0.0), mask, R=obs.R, nH=nH)
        return out if batch else out[0]
    except ModelFileError as exc:
        log.warning("no DAE to fill the ignored channels (%s); they start at zero", exc)
        return np.zeros_like(S) if batch else np.zeros_like(obs.S)
