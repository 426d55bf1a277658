"""The spatial-spectral test case of Peterson, Marshall & Andersson (2007): two beta-model
clusters through a real response and a Chandra-like PSF, and the input's true maps."""
from __future__ import annotations

import numpy as np

from ..emission import spectrum
from ..emission.absorption import transmission
from .spatial import EventList, gaussian_psf

__all__ = ["beta_model_events", "simulate_double_cluster", "true_maps"]


def beta_model_events(n, rc, beta, center, r_max, rng):
    """Positions (arcsec) drawn from a projected beta model truncated at r_max."""
    a = 3 * beta - 0.5
    U = (r_max / rc) ** 2
    u = rng.random(n)
    if abs(a - 1.0) < 1e-9:
        q = np.expm1(u * np.log1p(U))
    else:
        q = (1 - u * (1 - (1 + U) ** (1 - a))) ** (1.0 / (1 - a)) - 1
    r = rc * np.sqrt(q)
    phi = rng.uniform(0, 2 * np.pi, n)
    return center[0] + r * np.cos(phi), center[1] + r * np.sin(phi)


def simulate_double_cluster(rsp, n_photons: int = 155_000, seed: int = 0, psf=None,
                            separation: float = 60.0, r_max: float = 120.0,
                            fraction_hot: float = 0.4):
    """Peterson et al. (2007): two beta-model clusters 1' apart (kT 3 and 6 keV, Z 0.5,
    z 0.2, nH 4e20; beta 0.7, rc 40" and beta 0.5, rc 15") through a real response
    and a Chandra-like PSF. Returns the events and the truth."""
    rng = np.random.default_rng(seed)
    psf = gaussian_psf() if psf is None else psf
    comps = [dict(kT=3.0, beta=0.7, rc=40.0, center=(-separation / 2, 0.0), frac=1 - fraction_hot),
             dict(kT=6.0, beta=0.5, rc=15.0, center=(separation / 2, 0.0), frac=fraction_hot)]
    xs, ys, es, tags = [], [], [], []
    edges = np.concatenate([rsp.channel_lo, rsp.channel_hi[-1:]])
    for k, c in enumerate(comps):
        m = int(round(n_photons * c["frac"]))
        f = spectrum(c["kT"], 0.5, 0.2, 1.0, rsp.energy_lo, rsp.energy_hi)
        f = f * transmission(0.04, rsp.energy_lo, rsp.energy_hi)
        cnt = rsp.matrix @ f
        p = np.clip(cnt, 0, None) / cnt.sum()
        ch = rng.choice(cnt.size, m, p=p)
        e = rng.uniform(edges[ch], edges[ch + 1])
        x, y = beta_model_events(m, c["rc"], c["beta"], c["center"], r_max, rng)
        s = psf(e)
        xs.append(x + rng.normal(0, 1, m) * s)
        ys.append(y + rng.normal(0, 1, m) * s)
        es.append(e)
        tags.append(np.full(m, k))
    ev = EventList(np.concatenate(xs), np.concatenate(ys), np.concatenate(es))
    truth = {"components": comps, "tags": np.concatenate(tags), "redshift": 0.2, "nH": 0.04,
             "abundance": 0.5}
    return ev, truth


def true_maps(truth, extent, npix=64, r_max=120.0, n=400_000, seed=1):
    """The input's luminosity and luminosity-weighted kT maps (no PSF), by Monte Carlo."""
    rng = np.random.default_rng(seed)
    (x0, x1), (y0, y1) = extent
    xe = np.linspace(x0, x1, npix + 1)
    ye = np.linspace(y0, y1, npix + 1)
    lum = np.zeros((npix, npix))
    tw = np.zeros((npix, npix))
    for c in truth["components"]:
        m = int(n * c["frac"])
        x, y = beta_model_events(m, c["rc"], c["beta"], c["center"], r_max, rng)
        h = np.histogram2d(y, x, bins=[ye, xe])[0] * (c["frac"] / max(m, 1))
        lum += h
        tw += h * c["kT"]
    return lum, tw / np.maximum(lum, 1e-300), xe, ye
