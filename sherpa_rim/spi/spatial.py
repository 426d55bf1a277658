"""Spatial-spectral SPI on event lists (x, y, energy), and temperature maps
(:mod:`.maps` writes them; :mod:`.paper` simulates the paper's double cluster).

Particles carry a sky position (x, y, arcsec), a Gaussian width s (arcsec) and
a spectrum (ln kT, abundance, log10 L). The instrument: the dense response of
the observation (energies of events are detector energies, so particle spectra
are folded through the RMF), an energy-dependent Gaussian PSF (or the
Gaussian with a user PSF image's second moments), and an optional exposure
map.

Likelihoods on 3-D adaptive bins (bisect the longest dimension, in units of
each axis' extent, until a bin holds at most ``max_counts`` events):

* ``exact`` (default, deterministic): expected counts per bin = sum over
  particles of L x (Gaussian convolved with the PSF, integrated over the bin's
  x and y) x (folded template counts over the bin's energies) x exposure;
  Poisson likelihood;
* ``mc`` (the paper's): each particle's photons are simulated (over-simulation
  factor f, common random numbers per particle), binned, and compared with the
  data by the two-sample likelihood.

Sampling is Metropolis within Gibbs with incremental updates, in the paper's
order: every particle locally (position/width, then spectrum), then the global
luminosity scale.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from scipy.special import erf, gammaln

from ..response.grid import bin_integral
from .templates import make_templates

log = logging.getLogger(__name__)

__all__ = ["EventList", "adaptive_bins", "Bins", "SpatialModel", "run_spatial_spi",
           "SpatialResult", "gaussian_psf", "psf_from_image"]

SQ2 = np.sqrt(2.0)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
@dataclass
class EventList:
    x: np.ndarray          # arcsec
    y: np.ndarray          # arcsec
    energy: np.ndarray     # keV (detector energy)

    def __len__(self):
        return self.x.size


def gaussian_psf(sigma0: float = 0.35, slope: float = 0.08) -> Callable[[np.ndarray], np.ndarray]:
    """PSF sigma (arcsec) rising linearly with energy (keV): a Chandra-like on-axis core."""
    return lambda e: sigma0 + slope * np.asarray(e, float)


def psf_from_image(image: np.ndarray, pixel_arcsec: float) -> Callable:
    """A user PSF image, used through its second moments (the exact mode needs a Gaussian)."""
    img = np.asarray(image, float)
    img = img / img.sum()
    yy, xx = np.indices(img.shape)
    cx, cy = (img * xx).sum(), (img * yy).sum()
    var = (img * ((xx - cx) ** 2 + (yy - cy) ** 2)).sum() / 2
    s = np.sqrt(var) * pixel_arcsec
    return lambda e: np.full(np.shape(e), s)


@dataclass
class Bins:
    lo: np.ndarray          # (nb, 3): x, y, E lower corners
    hi: np.ndarray          # (nb, 3)
    counts: np.ndarray      # (nb,)

    def __len__(self):
        return self.counts.size


def adaptive_bins(ev: EventList, max_counts: int = 50, box=None) -> Bins:
    """Bisect the longest dimension (relative to the whole box) until <= max_counts per bin."""
    pts = np.column_stack([ev.x, ev.y, ev.energy])
    if box is None:
        lo0 = pts.min(axis=0) - 1e-9
        hi0 = pts.max(axis=0) + 1e-9
    else:
        lo0, hi0 = np.asarray(box[0], float), np.asarray(box[1], float)
    ext = hi0 - lo0
    out_lo, out_hi, out_n = [], [], []
    stack = [(lo0, hi0, np.arange(pts.shape[0]))]
    while stack:
        lo, hi, idx = stack.pop()
        if idx.size <= max_counts:
            out_lo.append(lo)
            out_hi.append(hi)
            out_n.append(idx.size)
            continue
        d = int(np.argmax((hi - lo) / ext))
        mid = 0.5 * (lo[d] + hi[d])
        left = pts[idx, d] < mid
        hl = hi.copy()
        hl[d] = mid
        lr = lo.copy()
        lr[d] = mid
        stack.append((lo, hl, idx[left]))
        stack.append((lr, hi, idx[~left]))
    return Bins(np.array(out_lo), np.array(out_hi), np.array(out_n, float))


# ---------------------------------------------------------------------------
# The forward model
# ---------------------------------------------------------------------------
class SpatialModel:
    """Expected counts of particles in the bins (and per particle, for incremental updates)."""

    def __init__(self, bins: Bins, rsp, redshift: float, nH: float, psf: Callable,
                 exposure_map: Optional[Callable] = None, n_nodes: int = 40,
                 kT_range=(0.3, 16.0)):
        self.bins = bins
        t = make_templates(rsp.energy_lo, rsp.energy_hi, redshift, nH, n_nodes, kT_range)
        folded = t.fold(rsp.matrix * rsp.exposure)               # (K, channels) counts per unit L
        edges = np.concatenate([rsp.channel_lo, rsp.channel_hi[-1:]])
        e0, e1 = bins.lo[:, 2], bins.hi[:, 2]
        # per bin, per node: template counts in the bin's energy range
        self.Tl = bin_integral(edges, folded.light, e0, e1).T
        self.Tm = bin_integral(edges, folded.metal, e0, e1).T
        self.nodes = t.log_kT
        self.kT_range = kT_range
        self.psf2 = psf(0.5 * (e0 + e1)) ** 2
        area_frac = 1.0
        if exposure_map is not None:
            cx = 0.5 * (bins.lo[:, 0] + bins.hi[:, 0])
            cy = 0.5 * (bins.lo[:, 1] + bins.hi[:, 1])
            area_frac = exposure_map(cx, cy)
        self.expo = np.asarray(area_frac, float) * np.ones(len(bins))

    def contribution(self, p):
        """Expected counts in every bin from one particle p = (x, y, ln s, ln kT, Z, log10 L)."""
        x, y, ls, lkT, Z, lL = p
        b = self.bins
        s2 = np.exp(2 * ls) + self.psf2
        sd = SQ2 * np.sqrt(s2)
        fx = 0.5 * (erf((b.hi[:, 0] - x) / sd) - erf((b.lo[:, 0] - x) / sd))
        fy = 0.5 * (erf((b.hi[:, 1] - y) / sd) - erf((b.lo[:, 1] - y) / sd))
        pos = (np.clip(lkT, self.nodes[0], self.nodes[-1]) - self.nodes[0]) / (self.nodes[1] - self.nodes[0])
        i = min(int(pos), self.nodes.size - 2)
        w = pos - i
        spec = ((1 - w) * (self.Tl[:, i] + Z * self.Tm[:, i]) + w * (self.Tl[:, i + 1] + Z * self.Tm[:, i + 1]))
        return (10.0 ** lL) * fx * fy * spec * self.expo


def _poisson_ll(n, mu):
    mu = np.maximum(mu, 1e-30)
    return float(np.sum(n * np.log(mu) - mu))


def two_sample_ll(n, m, f):
    """Two-sample Poisson log-likelihood of data counts n and simulated counts m
    (over-simulation factor f): each bin's n + m events split binomially with p = 1/(1+f)."""
    tot = n + m
    return float(np.sum(gammaln(tot + 1) - gammaln(n + 1) - gammaln(m + 1)
                        + n * np.log(1.0 / (1.0 + f)) + m * np.log(f / (1.0 + f))))


# ---------------------------------------------------------------------------
# Sampler
# ---------------------------------------------------------------------------
@dataclass
class SpatialResult:
    samples: np.ndarray                   # (n_kept, P, 6)
    lnL: np.ndarray                       # per sweep
    acceptance: float
    seconds: float
    n_bins: int
    mode: str
    extra: dict = field(default_factory=dict)

    # -- maps -------------------------------------------------------------------
    def maps(self, extent, npix=64, kT_bands=((0.0, 2.0), (2.0, 4.5), (4.5, 100.0)), max_samples=200):
        """Median luminosity map, luminosity-weighted kT map (median, 16, 84 %),
        temperature-filtered luminosity maps and an RGB image."""
        (x0, x1), (y0, y1) = extent
        xe = np.linspace(x0, x1, npix + 1)
        ye = np.linspace(y0, y1, npix + 1)
        S = self.samples[:: max(1, self.samples.shape[0] // max_samples)]
        lum = np.empty((S.shape[0], npix, npix))
        tk = np.empty_like(lum)
        band = np.zeros((len(kT_bands), S.shape[0], npix, npix))
        for k, ps in enumerate(S):
            sd = SQ2 * np.exp(ps[:, 2])[:, None]
            fx = 0.5 * (erf((xe[None, 1:] - ps[:, 0:1]) / sd) - erf((xe[None, :-1] - ps[:, 0:1]) / sd))
            fy = 0.5 * (erf((ye[None, 1:] - ps[:, 1:2]) / sd) - erf((ye[None, :-1] - ps[:, 1:2]) / sd))
            L = 10.0 ** ps[:, 5]
            img = np.einsum("p,py,px->pyx", L, fy, fx)
            lum[k] = img.sum(0)
            kT = np.exp(ps[:, 3])
            tk[k] = (img * kT[:, None, None]).sum(0) / np.maximum(lum[k], 1e-300)
            for j, (a, b) in enumerate(kT_bands):
                sel = (kT >= a) & (kT < b)
                band[j, k] = img[sel].sum(0)
        out = {"luminosity": np.median(lum, 0), "kT": np.median(tk, 0),
               "kT_lo": np.percentile(tk, 15.87, 0), "kT_hi": np.percentile(tk, 84.13, 0),
               "bands": np.median(band, 1), "x_edges": xe, "y_edges": ye, "kT_bands": kT_bands}
        rgb = np.stack([out["bands"][j] for j in (2, 1, 0)], -1) if len(kT_bands) == 3 else None
        if rgb is not None:
            rgb = rgb / max(np.percentile(rgb, 99.5), 1e-300)
            out["rgb"] = np.clip(rgb, 0, 1)
        return out

    def box_kT(self, center, half=10.0, max_samples=200):
        """Luminosity-weighted kT (median, 16, 84 %) of the emission inside a box."""
        S = self.samples[:: max(1, self.samples.shape[0] // max_samples)]
        vals = []
        for ps in S:
            s = SQ2 * np.exp(ps[:, 2])
            fx = 0.5 * (erf((center[0] + half - ps[:, 0]) / s) - erf((center[0] - half - ps[:, 0]) / s))
            fy = 0.5 * (erf((center[1] + half - ps[:, 1]) / s) - erf((center[1] - half - ps[:, 1]) / s))
            w = 10.0 ** ps[:, 5] * fx * fy
            vals.append((w * np.exp(ps[:, 3])).sum() / max(w.sum(), 1e-300))
        v = np.asarray(vals)
        return float(np.median(v)), float(np.percentile(v, 15.87)), float(np.percentile(v, 84.13))


def run_spatial_spi(events: EventList, rsp, n_particles: int = 300, n_sweeps: int = 300,
                    redshift: float = 0.0, nH: float = 0.0, psf=None, exposure_map=None,
                    max_counts: int = 50, mode: str = "exact", oversample: float = 5.0,
                    burn: Optional[int] = None, seed: int = 0, progress: bool = False,
                    thin: int = 5) -> SpatialResult:
    """Metropolis-within-Gibbs sampling of particles on an event list (see module docstring)."""
    rng = np.random.default_rng(seed)
    psf = gaussian_psf() if psf is None else psf
    bins = adaptive_bins(events, max_counts)
    model = SpatialModel(bins, rsp, redshift, nH, psf, exposure_map)
    n = bins.counts
    P = int(n_particles)
    burn = n_sweeps // 3 if burn is None else burn
    # start: particles at event positions, broad widths, the mean kT from a quick spectral look
    pick = rng.choice(len(events), P, replace=len(events) < P)
    parts = np.empty((P, 6))
    parts[:, 0] = events.x[pick] + rng.normal(0, 2, P)
    parts[:, 1] = events.y[pick] + rng.normal(0, 2, P)
    parts[:, 2] = np.log(8.0)
    parts[:, 3] = np.log(3.0) + rng.normal(0, 0.3, P)
    parts[:, 4] = 0.4
    unit = np.array([model.contribution(np.r_[p[:5], 0.0]).sum() for p in parts[:8]]).mean()
    parts[:, 5] = np.log10(n.sum() / P / max(unit, 1e-300))
    mc_rng_seeds = rng.integers(0, 2 ** 31, P)

    def contrib(i, p):
        c = model.contribution(p)
        if mode == "mc":
            r = np.random.default_rng(int(mc_rng_seeds[i]))
            return r.poisson(oversample * c).astype(float)
        return c

    if mode not in ("exact", "mc"):
        raise ValueError("mode must be 'exact' or 'mc'")
    C = np.array([contrib(i, p) for i, p in enumerate(parts)])
    mu = C.sum(0)
    ll = (lambda m: _poisson_ll(n, m)) if mode == "exact" else (lambda m: two_sample_ll(n, m, oversample))
    cur = ll(mu)
    step_pos, step_spec = np.array([1.5, 1.5, 0.2]), np.array([0.15, 0.08, 0.1])
    x_lo, x_hi = bins.lo[:, 0].min(), bins.hi[:, 0].max()
    y_lo, y_hi = bins.lo[:, 1].min(), bins.hi[:, 1].max()
    lkT_lo, lkT_hi = np.log(model.kT_range[0]), np.log(model.kT_range[1])
    kept, lnL, acc = [], [], []
    t0 = time.perf_counter()
    it = range(n_sweeps)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="spatial SPI", unit="sweep")

    def in_prior(p):
        return (x_lo <= p[0] <= x_hi and y_lo <= p[1] <= y_hi and np.log(0.2) <= p[2] <= np.log(120)
                and lkT_lo <= p[3] <= lkT_hi and 0 <= p[4] <= 3 and -12 <= p[5] <= 12)

    for sweep in it:
        na = 0
        for i in rng.permutation(P):                          # local: each particle
            for which in (0, 1):                              # position/width, then spectrum
                q = parts[i].copy()
                if which == 0:
                    q[:3] += rng.normal(0, 1, 3) * step_pos
                else:
                    q[3:] += rng.normal(0, 1, 3) * step_spec
                if not in_prior(q):
                    continue
                ci = contrib(i, q)
                mu_new = mu - C[i] + ci
                new = ll(mu_new)
                if np.log(rng.random()) < new - cur:
                    parts[i], C[i], mu, cur = q, ci, mu_new, new
                    na += 1
        # global: rescale every luminosity together
        a = rng.normal(0, 0.01)
        if mode == "exact":
            mu_new = mu * 10 ** a
            new = ll(mu_new)
            if np.log(rng.random()) < new - cur:
                parts[:, 5] += a
                C *= 10 ** a
                mu, cur = mu_new, new
        rate = na / (2 * P)
        acc.append(rate)
        if sweep < burn:                                      # adapt during burn-in only
            f = np.exp(0.5 * (rate - 0.3))
            step_pos *= f
            step_spec *= f
        lnL.append(cur)
        if sweep >= burn and (sweep - burn) % thin == 0:
            kept.append(parts.copy())
    secs = time.perf_counter() - t0
    return SpatialResult(np.array(kept), np.array(lnL), float(np.mean(acc[burn:] or acc)), secs,
                         len(bins), mode, {"burn": burn, "particles": P})
