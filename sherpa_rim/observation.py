"""An observation on a model's canonical grid: counts, noise, background, notice filter
and response, from a Sherpa data set or from files; and what the engines read from a
session's source expression (the Galactic column, a component of a given type).

    obs = observation_from_session(1, RIM_GRID)
    obs.S, obs.sigma, obs.R, obs.noticed

The response is regridded onto the grid and multiplied by the exposure (and AREASCAL),
so that a flux F in photons/cm^2/s per energy bin gives expected counts R @ F. Channels
the user ignored get no weight (noise ``IGNORED_SIGMA``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy import sparse

from .errors import DataError, GridError
from .response.grid import RIM_GRID, CanonicalGrid, rebin_matrix
from .response.matrix import Response
from .response.ogip import load_response, read_ogip, read_spectrum, response_from_data

log = logging.getLogger(__name__)

__all__ = ["Observation", "IGNORED_SIGMA", "prepare_observation", "observation_from_session",
           "observation_from_data", "data_fingerprint", "resampled",
           "observation_from_files", "background_scale", "background_terms", "check_column",
           "galactic_column",
           "GALACTIC_ABSORBERS", "find_component"]

IGNORED_SIGMA = 1e6          # noise given to ignored channels: no information


@dataclass
class Observation:
    """Data and response on a model's canonical grid (counts, cm^2 s)."""

    S: np.ndarray            # counts per canonical channel (background subtracted)
    sigma: np.ndarray        # their noise
    R: np.ndarray            # (n_channels, n_energy) cm^2 s, exposure and AREASCAL included
    noticed: np.ndarray      # bool per canonical channel
    grid: CanonicalGrid
    exposure: float
    name: str = ""
    background: Optional[np.ndarray] = None       # scaled background counts b = r B
    counts_total: float = 0.0
    background_var: Optional[np.ndarray] = None   # their variance r^2 B = r b
    counts_noticed: float = 0.0                   # counts in the noticed channels
    meta: dict = field(default_factory=dict)      # the response's TELESCOP / INSTRUME / DETNAM, notes
    noise: str = "poisson"                        # "poisson" (counts) or "gaussian" (S with sigma)
    full: Optional[dict] = None                   # the data on the response's own channels and
    #   energies (counts, background, noticed, R in cm^2 s, energy_lo/hi): for plasma fits that
    #   must resolve lines finer than the canonical grid (rim.checks at high counts)


def _channel_map(rsp: Response, grid: CanonicalGrid) -> np.ndarray:
    """(old channels, canonical channels) weights splitting counts by EBOUNDS overlap."""
    return rebin_matrix(rsp.channel_lo, rsp.channel_hi, grid.channel_lo, grid.channel_hi, "old")


def _on_grid(qT, counts, bg, bvar, nmask):
    """(S, sigma), each (n, canonical channels), of a batch of counts (n, original channels):
    split onto the grid, the scaled background ``bg`` (variance ``bvar``) subtracted, noise
    sqrt(counts + r b) at least 1; channels outside ``nmask`` get 0 and IGNORED_SIGMA."""
    counts = np.asarray(counts, float)
    S = np.asarray(qT @ counts.T).T
    var = np.asarray(qT @ np.maximum(counts, 0).T).T
    if bg is not None:
        S = S - bg
        var = var + bvar
    sigma = np.sqrt(np.maximum(var, 1.0))
    return np.where(nmask, S, 0.0), np.where(nmask, sigma, IGNORED_SIGMA)


def resampled(obs: Observation, counts: np.ndarray, background=None, background_var=None):
    """(S, sigma) of a batch of spectra (n, the response's own channels) that replace
    ``obs``'s counts, put on its grid as :func:`prepare_observation` put its data (its notice
    filter; its background subtracted, or the batch's own scaled background counts
    ``background`` (n, channels) with their variance ``background_var``): for simulations
    through the observation's own response (``crosscal.bootstrap``)."""
    if obs.full is None or "channel_map" not in obs.full:
        raise DataError(f"{obs.name or 'the observation'} carries no response on its own "
                        "channels; build it with prepare_observation / observation_from_data")
    qT = obs.full["channel_map"]
    counts = np.atleast_2d(np.asarray(counts, float))
    bg, bvar = obs.background, obs.background_var
    if background is not None:
        bg = np.asarray(qT @ np.atleast_2d(background).T).T
        bvar = np.asarray(qT @ np.atleast_2d(background_var).T).T
    return _on_grid(qT, counts, bg, bvar, obs.noticed)


def prepare_observation(rsp: Response, counts: np.ndarray, grid: CanonicalGrid,
                        noticed: Optional[np.ndarray] = None,
                        background: Optional[np.ndarray] = None,
                        background_var: Optional[np.ndarray] = None, name: str = "") -> Observation:
    """Counts (per original channel) and response onto ``grid``.

    ``background``: the background counts scaled to the source, b = r B per original
    channel (r the exposure x BACKSCAL x AREASCAL ratio), subtracted from the counts;
    ``background_var``: their variance, r^2 B = r b (:func:`background_terms` gives both).
    The noise of each canonical channel is sqrt(counts + r b), at least 1."""
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (rsp.n_channels,):
        raise GridError(f"{counts.size} counts for a response with {rsp.n_channels} channels; "
                        "the spectrum and response do not belong together")
    if not np.all(np.isfinite(counts)):
        raise DataError("NaN/inf counts; repair the spectrum or ignore those channels")
    if np.any(counts < 0):
        raise DataError("negative counts: give the source spectrum and its background "
                        "separately (not a background-subtracted spectrum)")
    in_filter = np.ones(rsp.n_channels, bool) if noticed is None else np.asarray(noticed, bool)
    counts_noticed = float(counts[in_filter].sum())
    if counts_noticed <= 0:
        raise DataError(f"{name or 'the spectrum'} has no counts in its {int(in_filter.sum())} "
                        "noticed channels: there is nothing to deconvolve or estimate; check the "
                        "file (an empty or blank spectrum) or notice the band with the source")
    q = _channel_map(rsp, grid)                                   # (old, new)
    qT = sparse.csr_matrix(q.T)
    we = rebin_matrix(rsp.energy_lo, rsp.energy_hi, grid.energy_lo, grid.energy_hi, "new")
    ascal = np.asarray(rsp.areascal, float)
    mat = rsp.matrix * (ascal[:, None] if ascal.ndim else float(ascal))
    # both maps are sparse (a channel or energy bin overlaps one or two new ones): as sparse
    # products the regridding costs ~2 % of the dense q^T mat we
    R = np.asarray(qT @ (sparse.csc_matrix(we).T @ mat.T).T) * rsp.exposure
    bg = bvar = None
    if background is not None:
        if background_var is None:
            raise TypeError("prepare_observation(background=...) needs background_var= (the "
                            "scaled background's variance r^2 B; see background_terms)")
        bg = qT @ np.asarray(background, float)
        bvar = qT @ np.asarray(background_var, float)
    if noticed is None:
        nmask = np.ones(grid.n_channels, bool)
    else:
        frac = q.T @ np.asarray(noticed, float)                   # noticed fraction per new channel
        cover = q.T @ np.ones(rsp.n_channels)
        nmask = frac > 0.5 * np.maximum(cover, 1e-12)
    covered = (q.sum(axis=0) > 0.5)
    nmask &= covered
    S, sigma = _on_grid(qT, counts[None], bg, bvar, nmask)
    S, sigma = S[0], sigma[0]
    if R.max() <= 0:
        raise GridError("the response has no effective area on the model's energy grid "
                        f"({grid.energy_lo[0]:.2f}-{grid.energy_hi[-1]:.2f} keV)")
    # the plasma checks on the response's own channels see the channels the canonical grid
    # keeps (those mapped mostly onto noticed canonical channels), not the ones outside it
    full_noticed = in_filter & (q @ nmask.astype(float) > 0.5)
    full = {"counts": counts, "noticed": full_noticed, "R": mat * rsp.exposure,
            "energy_lo": np.asarray(rsp.energy_lo, float), "energy_hi": np.asarray(rsp.energy_hi, float),
            "background": None if background is None else np.asarray(background, float),
            "background_var": None if background_var is None else np.asarray(background_var, float),
            "channel_map": qT}
    return Observation(S=S, sigma=sigma, R=R, noticed=nmask, grid=grid, exposure=rsp.exposure,
                       name=name, background=bg, counts_total=float(counts.sum()),
                       background_var=bvar, counts_noticed=counts_noticed,
                       meta={k: rsp.meta.get(k, "") for k in ("telescop", "instrume", "detnam")},
                       full=full)


def observation_from_session(id=1, grid: Optional[CanonicalGrid] = None) -> Observation:
    """The data set's counts, background, notice filter and response on ``grid``; ``id`` a
    session data set id, or a Sherpa ``DataPHA`` object (the object API)."""
    from sherpa.astro import ui
    from sherpa.astro.data import DataPHA

    if isinstance(id, DataPHA):
        return observation_from_data(id, grid)
    rsp = load_response(id=id)
    return observation_from_data(ui.get_data(id), grid, rsp=rsp, label=f"data set {id!r}")


def observation_from_data(d, grid: Optional[CanonicalGrid] = None, rsp: Optional[Response] = None,
                          label: Optional[str] = None) -> Observation:
    """A Sherpa ``DataPHA`` object's counts, background, notice filter and response on
    ``grid`` (``rsp``: its response when already built)."""
    grid = RIM_GRID if grid is None else grid
    label = label or f"spectrum {d.name!r}"
    rsp = response_from_data(d) if rsp is None else rsp
    counts = np.asarray(d.counts, float)
    # the notice filter on ungrouped channels (Sherpa keeps it per channel in .mask when grouped)
    if d.mask is False or not np.any(d.get_mask()):
        raise DataError(f"every channel of {label} is ignored; notice a band first")
    noticed = np.asarray(d.get_mask(), bool)            # per channel (grouping undone)
    qf = getattr(d, "quality_filter", None)
    if qf is not None and noticed.size != counts.size:
        # after ignore_bad() Sherpa's mask covers the good channels only: the bad ones are out
        full = np.zeros(counts.size, bool)
        full[np.asarray(qf, bool)] = noticed
        noticed = full
    bkg, bvar = background_terms(d)
    name = str(d.name) if d.name and d.name != "faked" else label
    return prepare_observation(rsp, counts, grid, noticed=noticed, background=bkg,
                               background_var=bvar, name=name)


def data_fingerprint(d) -> str:
    """A digest of what a reconstruction of a ``DataPHA`` depends on: counts, notice filter,
    grouping, quality, exposure, backgrounds and responses. It changes after ``notice``,
    ``ignore``, ``group``, ``load_pha``, ``load_bkg``, ``load_arf``/``load_rmf``..."""
    import hashlib
    h = hashlib.sha1()

    def add(x):
        h.update(np.ascontiguousarray(np.asarray(x, dtype=float)).tobytes() if x is not None
                 else b"-")
    add(d.counts)
    add(d.get_mask() if d.mask is not False else np.zeros(0))
    add(getattr(d, "grouping", None))
    add(getattr(d, "quality", None))
    add([d.exposure or 0.0])
    for bid in getattr(d, "background_ids", ()):
        add(d.get_background(bid).counts)
        add(d.get_background_scale(bid, units="counts", group=False))
    for rid in getattr(d, "response_ids", ()):
        for part in d.get_response(rid):
            h.update(repr((id(part), getattr(part, "name", None))).encode())
    return h.hexdigest()


def observation_from_files(pha, arf=None, rmf=None, bkg=None,
                           grid: Optional[CanonicalGrid] = None) -> Observation:
    """A PHA file's counts and response (ARF/RMF from its header unless given), with the
    background PHA ``bkg`` if given (scaled as Sherpa scales it), on ``grid``."""
    grid = RIM_GRID if grid is None else grid
    pha_obj, rsp = read_spectrum(pha, arf=arf, rmf=rmf)
    if bkg is not None:
        pha_obj.set_background(read_ogip("PHA", bkg, role="bkg"))
    b, bvar = background_terms(pha_obj)
    # QUALITY flags: channels marked bad (QUALITY != 0) are left out, as Sherpa's ignore_bad()
    quality = getattr(pha_obj, "quality", None)
    good = None if quality is None else np.asarray(quality) == 0
    obs = prepare_observation(rsp, np.asarray(pha_obj.counts, float), grid, noticed=good,
                              background=b, background_var=bvar, name=str(pha))
    if good is not None and not good.all():
        obs.meta["notes"] = [f"{int((~good).sum())} channels with QUALITY != 0 left out"]
    return obs


def background_scale(src, bkg_id=None):
    """Per-channel factor that scales background ``bkg_id`` of a Sherpa ``DataPHA`` to the
    source (exposure x BACKSCAL x AREASCAL ratios), as Sherpa's ``get_background_scale``
    defines it (``units='counts'``, ungrouped)."""
    bid = src.background_ids[0] if bkg_id is None else bkg_id
    return np.asarray(src.get_background_scale(bid, units="counts", group=False), float)


def background_terms(src):
    """(b, var_b) per channel for a Sherpa ``DataPHA``: its background counts scaled to the
    source, b = sum_i r_i B_i, and their variance sum_i r_i^2 B_i (r_i from
    :func:`background_scale`; Sherpa's scale carries 1 / the number of backgrounds, so
    several backgrounds are averaged); (None, None) without a background."""
    if not src.background_ids:
        return None, None
    if len(src.background_ids) > 1:
        log.info("%s: %d backgrounds, averaged as Sherpa averages them", src.name,
                 len(src.background_ids))
    b = var = 0.0
    for bid in src.background_ids:
        B = np.asarray(src.get_background(bid).counts, float)
        r = background_scale(src, bid)
        b = b + r * B
        var = var + r * r * B
    return b, var


def find_component(expr, predicate: Callable) -> Optional[object]:
    """The first component of a Sherpa model expression for which ``predicate(component)``
    is true, walking products, sums (``parts``) and wrapped models (``model``, e.g. a
    convolution or a response), or None."""
    stack = [expr]
    while stack:
        m = stack.pop()
        if predicate(m):
            return m
        stack.extend(getattr(m, "parts", ()))
        inner = getattr(m, "model", None)
        if inner is not None:
            stack.append(inner)
    return None


def check_column(nH):
    """A Galactic column (1e22 cm^-2; scalar or array) as given, or a DataError that says why."""
    a = np.asarray(nH, float)
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise DataError(f"Galactic column nH = {nH} must be finite and >= 0 (1e22 cm^-2)")
    return a


GALACTIC_ABSORBERS = ("mmabs", "xsphabs", "xstbabs", "xswabs")      # redshift-0 absorbers


def galactic_column(id=1) -> Optional[float]:
    """nH (1e22 cm^-2) of the Galactic absorber in the data set's source expression, or None
    when there is no source or no such component."""
    from sherpa.astro import ui
    from sherpa.astro.data import DataPHA
    from sherpa.utils.err import IdentifierErr, ModelErr

    if isinstance(id, DataPHA):          # the object API: no session source to read
        return None
    try:
        src = ui.get_source(id)
    except (IdentifierErr, ModelErr):
        return None
    gal = find_component(src, lambda m: type(m).__name__.lower() in GALACTIC_ABSORBERS)
    return None if gal is None else float(gal.nH.val)
