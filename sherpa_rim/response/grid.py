"""Energy and channel grids, and rebinning between them.

A *canonical grid* is the model energy bins and detector channel edges on which a
trained network (or a set of folded templates) lives; every observation's response is
regridded onto it (:meth:`sherpa_rim.response.matrix.Response.regrid`). ``RIM_GRID`` is
the grid of the shipped networks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GridError

__all__ = ["ACIS_PI_CHANNELS", "ACIS_PI_WIDTH_KEV", "HC_KEV_A", "CanonicalGrid", "check_bins",
           "rebin_matrix", "bin_integral", "energy_bins", "rim_grid", "RIM_GRID"]

#: number of ACIS PI channels, and their nominal width in keV (14.6 eV)
ACIS_PI_CHANNELS = 1024
ACIS_PI_WIDTH_KEV = 0.0146

#: h c in keV Angstrom: E (keV) = HC_KEV_A / lambda (Angstrom). Sherpa's value
#: (``sherpa.astro.hc``), so that the wavelength bins Sherpa makes from energies convert
#: back exactly (CODATA 2018 gives 12.3984198; the 1e-7 difference moved lines between bins)
HC_KEV_A = 12.39841874


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
        check_bins(self.energy_lo, self.energy_hi, "canonical energy grid")
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


def check_bins(lo, hi, what):
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


def bin_integral(edges, cells, lo, hi) -> np.ndarray:
    """Integral over the bins [lo, hi] of a density that is constant inside each cell.

    ``edges`` (n + 1,) bound the n cells; ``cells`` (..., n) is the content of each cell
    (e.g. photons per cell); returns (..., len(lo)): the content falling in each
    requested bin, by linear interpolation of the cumulative content. Outside the cells
    the density is zero.
    """
    edges = np.asarray(edges, float)
    cells = np.asarray(cells, float)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    cum = np.concatenate([np.zeros(cells.shape[:-1] + (1,)), np.cumsum(cells, axis=-1)], axis=-1)
    if cum.ndim == 1:
        return np.interp(hi, edges, cum) - np.interp(lo, edges, cum)
    flat = cum.reshape(-1, cum.shape[-1])
    out = np.array([np.interp(hi, edges, c) - np.interp(lo, edges, c) for c in flat])
    return out.reshape(cells.shape[:-1] + (lo.size,))


def energy_bins(lo, hi):
    """Model bins (keV, increasing) from what Sherpa passes a model: energy bins as they
    are, or a wavelength grid (Angstrom, decreasing; PHA data with ``set_analysis('wave')``)
    converted with E = HC_KEV_A / lambda."""
    lo = np.asarray(lo, float)
    hi = lo if hi is None else np.asarray(hi, float)
    if (lo.size > 1 and lo[0] > lo[-1]) or np.any(hi < lo):
        return HC_KEV_A / hi, HC_KEV_A / lo
    return lo, hi


def rim_grid(n_energy: int = 200, e_min: float = 0.3, e_max: float = 10.0,
             channel_group: int = 2) -> CanonicalGrid:
    """The canonical grid of the shipped networks.

    ``n_energy`` log-spaced model bins over [e_min, e_max] keV, and the ACIS PI
    channels covering the same band grouped by ``channel_group`` (14.6 eV each).
    """
    edges = np.geomspace(e_min, e_max, n_energy + 1)
    first = int(np.floor(e_min / 0.0146))
    last = int(np.ceil(e_max / 0.0146))
    ch = np.arange(first, last + 1, channel_group) * 0.0146
    return CanonicalGrid(edges[:-1], edges[1:], ch[:-1], ch[1:])


RIM_GRID = rim_grid()
