"""Dense instrument responses from Sherpa data sets or PHA/ARF/RMF files.

The networks and samplers of sherpa_rim work with a dense response matrix

    R[c, e] = RMF(e -> c) * ARF(e)          [cm^2]

with ``c`` the detector channel and ``e`` the model energy bin, so that the
expected counts of a source with photon flux ``F_e`` (photons/cm^2/s in bin
``e``) are

    counts_c = exposure * AREASCAL_c * sum_e R[c, e] F_e ,

exactly what Sherpa's ``get_response(id)(model)`` computes. Any response can be
regridded onto a *canonical grid* (model energy bins and the 1024 ACIS PI
channels) on which a trained network or a set of folded templates lives.

Examples
--------
>>> from sherpa_rim.response import load_response
>>> rsp = load_response(pha="acisf07867_000N001_r0002_pha3.fits")   # doctest: +SKIP
>>> counts = rsp.fold(flux)                                          # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import pathlib
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Union

import numpy as np

from .errors import DataError, GridError, ResponseError

log = logging.getLogger(__name__)

__all__ = ["Response", "CanonicalGrid", "load_response", "dense_rmf", "rebin_matrix",
           "ACIS_PI_CHANNELS", "ACIS_PI_WIDTH_KEV"]

PathLike = Union[str, os.PathLike]

#: number of ACIS PI channels, and their nominal width in keV (14.6 eV)
ACIS_PI_CHANNELS = 1024
ACIS_PI_WIDTH_KEV = 0.0146


# ---------------------------------------------------------------------------
# Grids
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CanonicalGrid:
    """Model energy bins and detector channel edges shared by a trained model.

    Parameters
    ----------
    energy_lo, energy_hi : array
        Model energy bin edges in keV (contiguous, increasing).
    channel_lo, channel_hi : array
        Channel energy bounds in keV (EBOUNDS), one per channel.
    """

    energy_lo: np.ndarray
    energy_hi: np.ndarray
    channel_lo: np.ndarray
    channel_hi: np.ndarray

    def __post_init__(self):
        for name in ("energy_lo", "energy_hi", "channel_lo", "channel_hi"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float))
        _check_bins(self.energy_lo, self.energy_hi, "canonical energy grid")
        if self.channel_lo.shape != self.channel_hi.shape:
            raise GridError("canonical channel_lo and channel_hi differ in length")

    @classmethod
    def acis(cls, n_energy: int = 1024, e_min: float = 0.1, e_max: float = 12.0,
             log_spaced: bool = True) -> "CanonicalGrid":
        """The 1024 ACIS PI channels (14.6 eV each) and ``n_energy`` model bins."""
        edges = (np.geomspace(e_min, e_max, n_energy + 1) if log_spaced
                 else np.linspace(e_min, e_max, n_energy + 1))
        ch = np.arange(ACIS_PI_CHANNELS, dtype=float)
        return cls(edges[:-1], edges[1:], ch * ACIS_PI_WIDTH_KEV, (ch + 1) * ACIS_PI_WIDTH_KEV)

    @property
    def n_energy(self) -> int:
        return self.energy_lo.size

    @property
    def n_channels(self) -> int:
        return self.channel_lo.size

    def to_dict(self) -> dict:
        return {k: getattr(self, k).tolist() for k in
                ("energy_lo", "energy_hi", "channel_lo", "channel_hi")}

    @classmethod
    def from_dict(cls, d: dict) -> "CanonicalGrid":
        return cls(**{k: np.asarray(d[k]) for k in
                      ("energy_lo", "energy_hi", "channel_lo", "channel_hi")})

    def same_as(self, other: "CanonicalGrid", rtol: float = 1e-9) -> bool:
        return all(getattr(self, k).shape == getattr(other, k).shape
                   and np.allclose(getattr(self, k), getattr(other, k), rtol=rtol, atol=0)
                   for k in ("energy_lo", "energy_hi", "channel_lo", "channel_hi"))


def _check_bins(lo, hi, what):
    if lo.ndim != 1 or lo.shape != hi.shape or lo.size == 0:
        raise GridError(f"{what}: lo and hi must be 1-D arrays of the same, non-zero length")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise GridError(f"{what}: bin edges must be finite")
    if np.any(hi <= lo) or np.any(np.diff(lo) <= 0):
        raise GridError(f"{what}: bins must be increasing with hi > lo; "
                        "pass energies in keV in increasing order")


def rebin_matrix(old_lo, old_hi, new_lo, new_hi, normalise: str = "new") -> np.ndarray:
    """Overlap matrix between two 1-D binnings.

    Returns ``W`` with shape (n_old, n_new) and ``W[i, j] = overlap(i, j) / width``
    where ``width`` is that of the new bin (``normalise="new"``: averaging a
    density) or of the old bin (``normalise="old"``: splitting a content so
    that each old bin's content is conserved where it is covered).
    """
    old_lo = np.asarray(old_lo, float)
    old_hi = np.asarray(old_hi, float)
    new_lo = np.asarray(new_lo, float)
    new_hi = np.asarray(new_hi, float)
    ov = np.clip(np.minimum(old_hi[:, None], new_hi[None, :])
                 - np.maximum(old_lo[:, None], new_lo[None, :]), 0.0, None)
    if normalise == "new":
        return ov / (new_hi - new_lo)[None, :]
    if normalise == "old":
        w = old_hi - old_lo
        out = np.zeros_like(ov)
        good = w > 0
        out[good] = ov[good] / w[good, None]
        # zero-width channels: give their content to the bin holding their edge
        for i in np.flatnonzero(~good):
            j = np.searchsorted(new_hi, old_lo[i], side="right")
            if j < new_lo.size and new_lo[j] <= old_lo[i]:
                out[i, j] = 1.0
        return out
    raise ValueError("normalise must be 'new' or 'old'")


# ---------------------------------------------------------------------------
# RMF and ARF -> dense matrix
# ---------------------------------------------------------------------------
def dense_rmf(rmf) -> np.ndarray:
    """The dense redistribution matrix (channels x energy bins) of a Sherpa RMF.

    Handles several groups per energy row (N_GRP > 1) and any channel offset
    (TLMIN of F_CHAN). Works on the arrays Sherpa reads (``n_grp`` per row,
    ``f_chan``/``n_chan`` per group, ``matrix`` flattened).
    """
    n_grp = np.asarray(rmf.n_grp, dtype=np.int64)
    f_chan = np.asarray(rmf.f_chan, dtype=np.int64)
    n_chan = np.asarray(rmf.n_chan, dtype=np.int64)
    values = np.asarray(rmf.matrix, dtype=float)
    n_e = len(rmf.energ_lo)
    nchan = int(rmf.detchans)
    offset = int(getattr(rmf, "offset", 1))
    if n_grp.size != n_e or n_grp.sum() != f_chan.size or f_chan.size != n_chan.size:
        raise ResponseError(f"RMF {rmf.name!r}: N_GRP/F_CHAN/N_CHAN are inconsistent; "
                            "the file is corrupt or not an OGIP RMF (regenerate it with mkacisrmf)")
    if n_chan.sum() != values.size:
        raise ResponseError(f"RMF {rmf.name!r}: MATRIX holds {values.size} values but N_CHAN "
                            f"sums to {n_chan.sum()}; the file is corrupt (regenerate it)")
    rows_g = np.repeat(np.arange(n_e), n_grp)              # energy row of each group
    rows = np.repeat(rows_g, n_chan)                       # energy row of each value
    starts = np.repeat(f_chan - offset, n_chan)
    within = np.arange(values.size) - np.repeat(np.cumsum(n_chan) - n_chan, n_chan)
    cols = starts + within
    if cols.size and (cols.min() < 0 or cols.max() >= nchan):
        raise ResponseError(f"RMF {rmf.name!r}: channel indices fall outside 0..DETCHANS-1; "
                            "check TLMIN/TLMAX of F_CHAN (the file is corrupt)")
    out = np.zeros((nchan, n_e))
    np.add.at(out, (cols, rows), values)
    return out


# ---------------------------------------------------------------------------
# The response object
# ---------------------------------------------------------------------------
@dataclass
class Response:
    """A dense instrument response.

    Attributes
    ----------
    matrix : ndarray, shape (n_channels, n_energy)
        RMF x ARF in cm^2 (counts per photon/cm^2, per second of exposure).
    energy_lo, energy_hi : ndarray
        Model energy bins (keV).
    channel_lo, channel_hi : ndarray
        Channel energy bounds (keV), EBOUNDS of the RMF.
    channels : ndarray
        Channel numbers (e.g. 1..1024 for ACIS PI).
    exposure : float
        Exposure time (s); 1 when unknown.
    areascal : float or ndarray
        AREASCAL of the spectrum (scalar or per channel).
    """

    matrix: np.ndarray
    energy_lo: np.ndarray
    energy_hi: np.ndarray
    channel_lo: np.ndarray
    channel_hi: np.ndarray
    channels: np.ndarray
    exposure: float = 1.0
    areascal: Union[float, np.ndarray] = 1.0
    name: str = ""
    arf_name: Optional[str] = None
    rmf_name: Optional[str] = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.matrix = np.asarray(self.matrix, dtype=float)
        if self.matrix.shape != (self.channels.size, self.energy_lo.size):
            raise ResponseError(f"response matrix has shape {self.matrix.shape}, expected "
                                f"(channels={self.channels.size}, energy bins={self.energy_lo.size})")

    # -- sizes ------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_energy(self) -> int:
        return self.matrix.shape[1]

    @property
    def effective_area(self) -> np.ndarray:
        """Column sums of ``matrix`` (cm^2): the ARF times the RMF's in-band probability."""
        return self.matrix.sum(axis=0)

    @property
    def grid(self) -> CanonicalGrid:
        return CanonicalGrid(self.energy_lo, self.energy_hi, self.channel_lo, self.channel_hi)

    # -- folding ----------------------------------------------------------
    def fold(self, flux: np.ndarray, exposure: Optional[float] = None,
             dtype=np.float64) -> np.ndarray:
        """Expected counts per channel for photon fluxes per energy bin.

        Parameters
        ----------
        flux : array, shape (..., n_energy)
            Photon flux per model energy bin (photons/cm^2/s). Any leading
            batch shape is allowed: a batch is one matrix product.
        exposure : float, optional
            Overrides the response's exposure (s).
        dtype : numpy dtype
            float32 halves the time for large batches.

        Returns
        -------
        counts : array, shape (..., n_channels)
        """
        flux = np.asarray(flux)
        if flux.shape[-1] != self.n_energy:
            raise GridError(f"flux has {flux.shape[-1]} energy bins, the response "
                            f"{self.n_energy}; evaluate the model on response.energy_lo/hi "
                            "or regrid the response with .regrid()")
        m = self.matrix if dtype == np.float64 else self._matrix_as(dtype)
        expo = self.exposure if exposure is None else exposure
        return (flux.astype(dtype, copy=False) @ m.T) * (expo * np.asarray(self.areascal))

    def _matrix_as(self, dtype):
        cache = self.meta.setdefault("_cast", {})
        key = np.dtype(dtype).str
        if key not in cache:
            cache[key] = np.ascontiguousarray(self.matrix, dtype=dtype)
        return cache[key]

    # -- regridding ---------------------------------------------------------
    def regrid(self, grid: Optional[CanonicalGrid] = None) -> "Response":
        """This response on another grid, conserving probability.

        Energy axis: each new bin's response is the average of the old bins'
        response over it (exact for a spectrum flat within each bin).
        Channel axis: a response with the canonical number of channels is
        taken to be on the same (PI) channels; otherwise each old channel's
        counts are split among the new channels by overlap of their energy
        bounds (EBOUNDS), e.g. a 685-channel response onto 1024 PI channels.
        Total counts are conserved wherever the new grid covers the old one.
        """
        grid = CanonicalGrid.acis() if grid is None else grid
        we = rebin_matrix(self.energy_lo, self.energy_hi, grid.energy_lo, grid.energy_hi, "new")
        m = self.matrix @ we                                # (old chan, new energy)
        if self.n_channels == grid.n_channels:
            qc = None
            channels = self.channels
        else:
            qc = rebin_matrix(self.channel_lo, self.channel_hi,
                              grid.channel_lo, grid.channel_hi, "old")   # (old, new)
            m = qc.T @ m
            channels = np.arange(1, grid.n_channels + 1)
        areascal = self.areascal
        if np.ndim(areascal) and qc is not None:
            # fold a per-channel AREASCAL into the matrix before channel regridding
            m = qc.T @ (self.matrix * np.asarray(areascal)[:, None]) @ we
            areascal = 1.0
        return replace(self, matrix=m, energy_lo=grid.energy_lo.copy(),
                       energy_hi=grid.energy_hi.copy(), channel_lo=grid.channel_lo.copy(),
                       channel_hi=grid.channel_hi.copy(), channels=channels,
                       areascal=areascal, meta={**{k: v for k, v in self.meta.items()
                                                   if k != "_cast"}, "regridded": True})

    # -- conveniences -----------------------------------------------------
    def energy_mid(self) -> np.ndarray:
        return 0.5 * (self.energy_lo + self.energy_hi)

    def __repr__(self):
        return (f"Response({self.name or 'unnamed'}: {self.n_channels} channels x "
                f"{self.n_energy} energy bins [{self.energy_lo[0]:.3g}-{self.energy_hi[-1]:.3g} keV], "
                f"exposure={self.exposure:.6g} s)")


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------
def _io():
    try:
        from sherpa.astro import io
    except ImportError as exc:    # pragma: no cover - sherpa is a core dependency
        from .errors import MissingDependencyError
        raise MissingDependencyError(
            "sherpa_rim reads PHA/ARF/RMF files through Sherpa; install it with "
            "'pip install sherpa' (needs bison flex libfftw3-dev pkg-config)") from exc
    return io


def _quiet(fn, *args, **kwargs):
    """Call a Sherpa reader without its INFO chatter."""
    lg = logging.getLogger("sherpa")
    old = lg.level
    lg.setLevel(logging.WARNING)
    try:
        return fn(*args, **kwargs)
    finally:
        lg.setLevel(old)


def _read(kind: str, path: PathLike):
    path = pathlib.Path(path)
    if not path.exists():
        raise ResponseError(f"{kind} file {str(path)!r} does not exist; check the path "
                            f"(or pass {kind.lower()}=... explicitly)")
    io = _io()
    reader = {"PHA": io.read_pha, "ARF": io.read_arf, "RMF": io.read_rmf}[kind]
    try:
        if kind == "PHA":
            return _quiet(reader, str(path), use_errors=False, use_background=False)
        return _quiet(reader, str(path))
    except Exception as exc:     # noqa: BLE001 - re-raised with the fix
        raise ResponseError(f"cannot read {str(path)!r} as an OGIP {kind} file ({exc}); "
                            f"check that it is a FITS {kind} (gzip is fine) and not truncated") from exc


def _resolve_header_file(pha_path: pathlib.Path, value) -> Optional[pathlib.Path]:
    if value is None:
        return None
    value = str(value).strip()
    if value.lower() in ("", "none", "null"):
        return None
    cand = [pathlib.Path(value), pha_path.parent / value, pha_path.parent / pathlib.Path(value).name]
    for c in cand:
        for suffix in ("", ".gz"):
            p = pathlib.Path(str(c) + suffix)
            if p.is_file():
                return p
    return None


def _check_pha(pha, rmf=None):
    counts = np.asarray(pha.counts, dtype=float)
    if not np.all(np.isfinite(counts)):
        bad = np.flatnonzero(~np.isfinite(counts))
        raise DataError(f"spectrum {pha.name!r} has NaN/inf counts in {bad.size} channels "
                        f"(first: channel {int(pha.channel[bad[0]])}); repair the file or "
                        "remove those channels (e.g. dmcopy with a channel filter)")
    if np.any(counts < 0):
        raise DataError(f"spectrum {pha.name!r} has negative counts; sherpa_rim needs the "
                        "source spectrum, not a background-subtracted one (keep the background "
                        "in its own file)")
    if rmf is not None and len(counts) != int(rmf.detchans):
        raise ResponseError(f"spectrum {pha.name!r} has {len(counts)} channels but the RMF "
                            f"{rmf.name!r} has DETCHANS={int(rmf.detchans)}; the RMF does not "
                            "belong to this spectrum: pass the matching rmf=...")


def _build(arf, rmf, exposure, areascal, name, meta=None) -> Response:
    r = dense_rmf(rmf)
    elo = np.asarray(rmf.energ_lo, dtype=float)
    ehi = np.asarray(rmf.energ_hi, dtype=float)
    if np.any(elo <= 0):
        # OGIP allows a first bin starting at 0 keV; Sherpa replaces it by a small value
        elo = elo.copy()
        elo[elo <= 0] = min(1e-10, 0.5 * ehi[0])
    if arf is not None:
        alo = np.asarray(arf.energ_lo, dtype=float)
        ahi = np.asarray(arf.energ_hi, dtype=float)
        spec = np.asarray(arf.specresp, dtype=float)
        if not np.all(np.isfinite(spec)) or np.any(spec < 0):
            raise ResponseError(f"ARF {arf.name!r} has NaN or negative SPECRESP; regenerate it")
        if alo.size == elo.size and np.allclose(alo, elo, rtol=1e-5) and np.allclose(ahi, ehi, rtol=1e-5):
            r = r * spec[None, :]
        else:
            overlap = min(ahi[-1], ehi[-1]) - max(alo[0], elo[0])
            if overlap <= 0:
                raise ResponseError(f"ARF {arf.name!r} ({alo[0]:.3g}-{ahi[-1]:.3g} keV) and RMF "
                                    f"{rmf.name!r} ({elo[0]:.3g}-{ehi[-1]:.3g} keV) do not overlap "
                                    "in energy: they belong to different instruments; pass the "
                                    "matching arf=/rmf=")
            if alo.size > elo.size:
                # As Sherpa does: the model lives on the finer ARF grid, is
                # multiplied by the ARF there and summed onto the RMF grid.
                w = rebin_matrix(alo, ahi, elo, ehi, "old")          # (arf, rmf)
                r = (r @ w.T) * spec[None, :]
                elo, ehi = alo, ahi
            else:
                # a coarser or shifted ARF: average its area over each RMF bin
                log.warning("ARF %s (%d bins) is coarser than RMF %s (%d bins): its area is "
                            "averaged over the RMF bins", arf.name, alo.size, rmf.name, elo.size)
                w = rebin_matrix(alo, ahi, elo, ehi, "new")
                r = r * (spec @ w)[None, :]
    ebounds = (rmf.e_min is not None and rmf.e_max is not None)
    nch = r.shape[0]
    clo = np.asarray(rmf.e_min, float) if ebounds else np.arange(nch) * ACIS_PI_WIDTH_KEV
    chi = np.asarray(rmf.e_max, float) if ebounds else (np.arange(nch) + 1) * ACIS_PI_WIDTH_KEV
    offset = int(getattr(rmf, "offset", 1))
    return Response(matrix=r, energy_lo=elo, energy_hi=ehi, channel_lo=clo, channel_hi=chi,
                    channels=np.arange(offset, offset + nch), exposure=float(exposure or 1.0),
                    areascal=areascal, name=name,
                    arf_name=None if arf is None else str(arf.name), rmf_name=str(rmf.name),
                    meta=dict(meta or {}))


def _spectrum_header(path: pathlib.Path) -> dict:
    """The SPECTRUM extension header as a dict (empty if unreadable)."""
    from astropy.io import fits
    try:
        with fits.open(path) as hl:
            for h in hl[1:]:
                if (str(h.header.get("HDUCLAS1", "")).upper() == "SPECTRUM"
                        or h.name == "SPECTRUM"):
                    return dict(h.header)
            return dict(hl[1].header) if len(hl) > 1 else {}
    except Exception:   # noqa: BLE001 - Sherpa already read the file; keywords are optional
        return {}


def _areascal(pha):
    a = getattr(pha, "areascal", None)
    if a is None:
        return 1.0
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


def load_response(pha: Optional[PathLike] = None, arf: Optional[PathLike] = None,
                  rmf: Optional[PathLike] = None, *, id=None, resp_id=None,
                  exposure: Optional[float] = None, check_counts: bool = True) -> Response:
    """Build the dense response of an observation.

    Parameters
    ----------
    pha : path, optional
        PHA file. The ARF and RMF are taken from its ANCRFILE/RESPFILE keywords
        when not given.
    arf, rmf : path, optional
        ARF and RMF files. An RMF is required (from the header or here); the
        ARF may be absent (an RMF that already includes the effective area).
    id : int or str, optional
        A Sherpa session data set id (``from sherpa.astro.ui import *``); its
        own ARF, RMF, exposure and AREASCAL are used.
    resp_id : int, optional
        Which response of the data set (default: the first).
    exposure : float, optional
        Exposure (s) when no PHA is given (otherwise the PHA's EXPOSURE).
    check_counts : bool
        Check the PHA counts for NaN/negative values.

    Returns
    -------
    Response
    """
    if id is not None:
        return _from_session(id, resp_id)
    if pha is None and rmf is None:
        raise ResponseError("give a PHA file, an RMF file (and ARF), or a Sherpa data set id=")
    pha_obj = None
    expo = exposure
    ascal = 1.0
    meta = {}
    if pha is not None:
        pha_path = pathlib.Path(pha)
        pha_obj = _read("PHA", pha_path)
        hdr = _spectrum_header(pha_path)
        if hdr:
            if arf is None:
                arf = _resolve_header_file(pha_path, hdr.get("ANCRFILE"))
            if rmf is None:
                rmf = _resolve_header_file(pha_path, hdr.get("RESPFILE"))
                if rmf is None:
                    raise ResponseError(
                        f"no RMF for {str(pha_path)!r}: its RESPFILE keyword is "
                        f"{hdr.get('RESPFILE')!r}, which is not a file next to it; pass rmf=PATH")
            meta["obsid"] = str(hdr.get("OBS_ID", "") or "")
            meta["object"] = str(hdr.get("OBJECT", "") or "")
        expo = pha_obj.exposure if exposure is None else exposure
        ascal = _areascal(pha_obj)
    rmf_obj = _read("RMF", rmf)
    arf_obj = _read("ARF", arf) if arf is not None else None
    if pha_obj is not None and check_counts:
        _check_pha(pha_obj, rmf_obj)
    if expo is None and arf_obj is not None:
        expo = arf_obj.exposure
    name = str(pha) if pha is not None else str(rmf)
    return _build(arf_obj, rmf_obj, expo, ascal, name, meta)


def _from_session(id, resp_id=None) -> Response:
    from sherpa.astro import ui

    try:
        data = ui.get_data(id)
    except Exception as exc:    # noqa: BLE001
        raise ResponseError(f"no data set {id!r} in the Sherpa session; load it first "
                            f"(load_pha({id!r}, 'spec.pi'))") from exc
    if not hasattr(data, "response_ids"):
        raise ResponseError(f"data set {id!r} is not a PHA spectrum; sherpa_rim needs load_pha()")
    ids = list(data.response_ids)
    if not ids:
        raise ResponseError(f"data set {id!r} has no response; use load_rmf({id!r}, 'file.rmf') "
                            f"and load_arf({id!r}, 'file.arf')")
    rid = ids[0] if resp_id is None else resp_id
    arf, rmf = data.get_response(rid)
    if rmf is None:
        raise ResponseError(f"data set {id!r} has an ARF but no RMF; use load_rmf({id!r}, 'file.rmf')")
    _check_pha(data, rmf)
    meta = {}
    if data.header is not None:
        meta["obsid"] = str(data.header.get("OBS_ID", "") or "")
    return _build(arf, rmf, data.exposure, _areascal(data), str(data.name), meta)


def fold_many(responses: Sequence[Response], flux: np.ndarray) -> np.ndarray:
    """Fold flux[i] through responses[i] (all on one grid): (N, n_energy) -> (N, n_channels)."""
    mats = np.stack([r.matrix for r in responses])
    expo = np.array([r.exposure for r in responses])[:, None]
    return np.einsum("nce,ne->nc", mats, flux) * expo
