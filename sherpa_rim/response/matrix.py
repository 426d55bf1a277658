"""Dense instrument responses: the RMF x ARF matrix, folding and regridding.

The networks and samplers of sherpa_rim work with a dense response matrix

    R[c, e] = RMF(e -> c) * ARF(e)          [cm^2]

with ``c`` the detector channel and ``e`` the model energy bin, so that the
expected counts of a source with photon flux ``F_e`` (photons/cm^2/s in bin
``e``) are

    counts_c = exposure * AREASCAL_c * sum_e R[c, e] F_e ,

exactly what Sherpa's ``get_response(id)(model)`` computes. Any response can be
regridded onto a canonical grid (:mod:`sherpa_rim.response.grid`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Union

import numpy as np

from ..errors import GridError, ResponseError
from .grid import CanonicalGrid, rebin_matrix

__all__ = ["Response", "dense_rmf"]


MAX_DENSE_BYTES = 2 * 2**30          # 2 GiB: a dense RMF larger than this is refused

# the batched fold by channel bands (Response._blocks): the fastest settings measured for a
# Chandra ACIS RMF (1024 x 900) on one core; the results equal the dense product's to rounding
BLOCK_CHANNELS = 64                  # channels per band
BLOCKED_ROWS = 512                   # spectra per pass (their flux stays in the cache)
BLOCKED_MIN_ROWS = 64                # fewer spectra: the dense product
BLOCKED_MAX_COVER = 0.6              # bands covering more of the matrix: the dense product


def dense_rmf(rmf, max_bytes: int = MAX_DENSE_BYTES) -> np.ndarray:
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
    need = nchan * n_e * 8
    if need > max_bytes:
        raise ResponseError(
            f"RMF {rmf.name!r} has {nchan} channels x {n_e} energy bins: a dense response needs "
            f"{need / 2**30:.1f} GiB. sherpa_rim works with dense responses of CCD resolution "
            f"(Chandra ACIS: 1024 x ~1000); a microcalorimeter or grating response is out of its "
            f"scope (dense_rmf(..., max_bytes=) raises the limit of {max_bytes / 2**30:.0f} GiB)")
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
    # one bincount over flat (channel, energy) indices: the sums np.add.at gives, ~10x faster
    flat = np.bincount(cols * n_e + rows, weights=values, minlength=nchan * n_e)
    return flat.reshape(nchan, n_e)


@dataclass
class Response:
    """A dense instrument response.

    Attributes
    ----------
    matrix : ndarray, shape (n_channels, n_energy)
        RMF x ARF in cm^2 (counts per photon/cm^2, per second of exposure). Replace it
        rather than edit it in place: ``fold`` caches a float32 copy and a band plan of it.
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

        A batch of at least ``BLOCKED_MIN_ROWS`` finite spectra is folded band by band of
        channels, each band over only the energy bins that reach it (a sparse RMF's zeros are
        skipped); the result equals the dense product's to rounding. Fewer spectra, or any
        non-finite flux (so that a NaN spreads to every channel, as in the dense product),
        take the dense product.

        Parameters
        ----------
        flux : array, shape (..., n_energy)
            Photon flux per model energy bin (photons/cm^2/s). Any leading
            batch shape is allowed.
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
        expo = self.exposure if exposure is None else exposure
        scale = expo * np.asarray(self.areascal)
        flux = flux.astype(dtype, copy=False)
        rows = flux.reshape(-1, self.n_energy) if flux.ndim >= 2 else None
        blocks = (self._blocks(dtype) if rows is not None and len(rows) >= BLOCKED_MIN_ROWS
                  and np.isfinite(rows).all() else None)
        if blocks is None:
            m = self.matrix if dtype == np.float64 else self._matrix_as(dtype)
            return (flux @ m.T) * scale
        out = np.zeros((len(rows), self.n_channels), dtype=np.result_type(dtype, scale))
        for s0 in range(0, len(rows), BLOCKED_ROWS):
            f, o = rows[s0:s0 + BLOCKED_ROWS], out[s0:s0 + BLOCKED_ROWS]
            for c0, c1, e0, e1, w in blocks:
                o[:, c0:c1] = f[:, e0:e1] @ w
        out *= scale
        return out.reshape(flux.shape[:-1] + (self.n_channels,))

    def _matrix_as(self, dtype):
        cache = self.meta.setdefault("_cast", {})
        key = np.dtype(dtype).str
        if key not in cache or cache[key][0] is not self.matrix:
            cache[key] = (self.matrix, np.ascontiguousarray(self.matrix, dtype=dtype))
        return cache[key][1]

    def _blocks(self, dtype):
        """The matrix cut into bands of ``BLOCK_CHANNELS`` channels, each kept only over the
        energy bins that reach it: [(c0, c1, e0, e1, R[c0:c1, e0:e1].T)], cached per dtype.
        An RMF row is non-zero on a narrow band of channels (plus its tails), so a batch is
        folded by these products at a third of the dense product's multiply-adds (a
        Chandra ACIS RMF). None where the bands would cover more than ``BLOCKED_MAX_COVER`` of
        the matrix (a diagonal-free or dense matrix): the dense product is then faster."""
        cache = self.meta.setdefault("_blocks", {})
        key = np.dtype(dtype).str
        m = self.matrix
        if key in cache and cache[key][0] is m:
            return cache[key][1]
        nz = m != 0
        blocks, cover = [], 0
        for c0 in range(0, m.shape[0], BLOCK_CHANNELS):
            c1 = min(c0 + BLOCK_CHANNELS, m.shape[0])
            cols = np.flatnonzero(nz[c0:c1].any(axis=0))
            if cols.size:
                e0, e1 = int(cols[0]), int(cols[-1]) + 1
                blocks.append((c0, c1, e0, e1, np.ascontiguousarray(m[c0:c1, e0:e1].T, dtype=dtype)))
                cover += (c1 - c0) * (e1 - e0)
        if cover > BLOCKED_MAX_COVER * m.size:
            blocks = None
        cache[key] = (m, blocks)
        return blocks

    # -- regridding ---------------------------------------------------------
    def regrid(self, grid: Optional[CanonicalGrid] = None) -> "Response":
        """This response on another grid, conserving probability.

        Energy axis: each new bin's response is the average of the old bins'
        response over it (exact for a spectrum flat within each bin).
        Channel axis: a response whose channel bounds (EBOUNDS) are the grid's
        is kept channel for channel; otherwise each old channel's counts are
        split among the new channels by overlap of their energy bounds, e.g. a
        685-channel response onto 1024 PI channels (a 1024-channel response with
        other bounds, such as Swift-XRT's 10 eV channels, is mapped by energy,
        not taken for ACIS PI). Total counts are conserved wherever the new grid
        covers the old one.
        """
        grid = CanonicalGrid.acis() if grid is None else grid
        we = rebin_matrix(self.energy_lo, self.energy_hi, grid.energy_lo, grid.energy_hi, "new")
        m = self.matrix @ we                                # (old chan, new energy)
        same = (self.n_channels == grid.n_channels
                and np.allclose(self.channel_lo, grid.channel_lo, rtol=0, atol=2e-3)
                and np.allclose(self.channel_hi, grid.channel_hi, rtol=0, atol=2e-3))
        if same:
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
                                                   if k not in ("_cast", "_blocks")},
                                                "regridded": True})

    # -- conveniences -----------------------------------------------------
    def energy_mid(self) -> np.ndarray:
        return 0.5 * (self.energy_lo + self.energy_hi)

    def __repr__(self):
        return (f"Response({self.name or 'unnamed'}: {self.n_channels} channels x "
                f"{self.n_energy} energy bins [{self.energy_lo[0]:.3g}-{self.energy_hi[-1]:.3g} keV], "
                f"exposure={self.exposure:.6g} s)")
