"""Particle number by the evidence: thermodynamic integration over a temperature ladder.

    ln Z(P) = int_0^1 < ln L >_beta d beta

with < ln L >_beta the mean log-likelihood of chains sampling L^beta x prior.
The ladder is geometric in beta (dense near 0, where < ln L > changes fastest)
and the integral uses the trapezoid rule. The priors are proper (uniform in
ln kT, abundance, log10 L), so evidences of different particle numbers compare.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

from .likelihood import SpectralData, SpectralLikelihood
from .sampler import run_spi

log = logging.getLogger(__name__)

__all__ = ["thermodynamic_evidence", "choose_particle_number", "EvidenceResult"]


@dataclass
class EvidenceResult:
    n_particles: int
    ln_evidence: float
    betas: np.ndarray
    mean_lnL: np.ndarray


def thermodynamic_evidence(data: SpectralData, n_particles: int, n_betas: int = 8,
                           n_steps: int = 150, n_walkers: int = 8, seed: int = 0,
                           redshift: float = 0.0, nH: float = 0.0) -> EvidenceResult:
    betas = np.concatenate([[0.0], np.geomspace(1e-4, 1.0, n_betas - 1)])
    means = []
    for k, b in enumerate(betas):
        res = run_spi(data=data, n_particles=n_particles, n_steps=n_steps, n_walkers=n_walkers,
                      n_ensembles=1, seed=seed + k, beta=max(b, 1e-12), redshift=redshift, nH=nH)
        lik = SpectralLikelihood(data, n_particles, redshift, nH)
        ch = res.chains[0]
        X = ch.reshape(-1, ch.shape[-1])[:: max(1, ch.shape[0] * ch.shape[1] // 400)]
        lnL = -0.5 * lik.stat(X)
        means.append(float(np.mean(lnL)))
    means = np.asarray(means)
    lnZ = float(np.trapezoid(means, betas)) if hasattr(np, "trapezoid") else float(np.trapz(means, betas))
    return EvidenceResult(n_particles, lnZ, betas, means)


def choose_particle_number(data: SpectralData, candidates: Sequence[int] = (1, 3, 10, 30),
                           **kwargs) -> Dict[int, EvidenceResult]:
    """Evidence for each particle number; the best is ``max(out, key=lambda p: out[p].ln_evidence)``."""
    out = {}
    for P in candidates:
        out[P] = thermodynamic_evidence(data, P, **kwargs)
        log.info("P = %d: ln Z = %.2f", P, out[P].ln_evidence)
    return out
