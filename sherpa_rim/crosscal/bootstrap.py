"""The learned routes' null, simulated through the observations' own responses.

A network's systematic error depends on the response it reads: two observations of one
source through two different responses give different outputs even with no calibration
difference, by an amount that differs from one pair of responses to the next. A null
distribution measured on other responses does not carry over to these two (docs/crosscal.md:
measured on the held-out test ObsIDs' pairs, a null from the validation ObsIDs' pairs gave
p < 0.05 to 12 % of the parameter network's and 15 % of the crossnet's null pairs).

So the network and crossnet routes simulate the null for each pair (a parametric bootstrap):

1. the source under the null: one plasma, ``mmabs(nH) * cie`` at the inverse-variance mean of
   the parameter network's estimates of the two observations (ln kT, abundance, redshift,
   ln norm);
2. ``n`` draws of the pair: that source folded through each observation's own response at full
   resolution (its exposure and AREASCAL), plus its scaled background counts as measured,
   Poisson counts, put on the network's grid as the data were (its notice filter, its
   background subtracted, the ignored channels filled by the DAE);
3. the route's outputs (a vector ``v``: four parameter differences, or the crossnet's nine
   calibration outputs) on each draw: their mean is the route's bias for this source through
   these two responses, their spread its error;
4. reported: ``v`` minus the bias, 1-sigma errors the draws' standard deviations, and the
   consistency statistic T = (v - bias)^T C^-1 (v - bias) with C the draws' covariance. Its p
   is the share of draws whose own T (each with the mean and covariance of the other draws)
   is at least as large, (1 + k) / (1 + n).

The draws take the responses as right and the source as the plasma estimated; a real source
that is not one plasma, or a background that is not what was measured, is outside this null.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from ..errors import DataError
from ..observation import Observation, resampled

__all__ = ["N_BOOT", "MIN_BOOT", "null_source", "draws", "calibrate"]

#: simulated pairs per comparison: p resolves 1 / (N_BOOT + 1); the errors are standard
#: deviations of N_BOOT draws (7 % relative error at 100)
N_BOOT = 200
MIN_BOOT = 20                   # fewer cannot estimate the crossnet's 9 x 9 covariance


def null_source(proposals: Sequence[Dict]) -> Dict[str, float]:
    """The one plasma of the null: the inverse-variance mean of the parameter network's
    Gaussians (``estimate["proposal"]``: mean and sd of ln kT, abundance, redshift, ln norm)
    of the observations compared, inside the plasma model's limits."""
    m = np.array([p["mean"] for p in proposals], float)
    w = 1.0 / np.maximum(np.array([p["sd"] for p in proposals], float), 1e-12) ** 2
    mean = (w * m).sum(0) / w.sum(0)
    return {"kT": float(np.clip(np.exp(mean[0]), 0.1, 20.0)),
            "abundance": float(np.clip(mean[1], 0.0, 5.0)),
            "redshift": float(np.clip(mean[2], 0.0, 2.0)), "norm": float(np.exp(mean[3]))}


def source_counts(obs: Observation, source: Dict[str, float], nH: float) -> np.ndarray:
    """Expected counts per channel of the observation's own response: ``source`` (kT,
    abundance, redshift, norm) behind the column ``nH`` folded through it, plus the scaled
    background counts as measured."""
    from ..amortised.posterior import check_model
    if obs.full is None:
        raise DataError(f"{obs.name or 'the observation'} carries no response on its own "
                        "channels; build it with observation_from_data")
    f = obs.full
    flux = check_model(source["kT"], source["abundance"], source["redshift"], source["norm"],
                       nH)(f["energy_lo"], f["energy_hi"])
    mu = np.asarray(f["R"] @ flux, float)
    if f.get("background") is not None:
        mu = mu + np.maximum(f["background"], 0.0)
    return np.maximum(mu, 0.0)


def draws(observations: Sequence[Observation], source: Dict[str, float], nH: float, n: int,
          rng) -> List[tuple]:
    """Per observation, ``(S, sigma)`` of ``n`` Poisson draws of ``source`` through its own
    response, on its grid (:func:`sherpa_rim.observation.resampled`)."""
    if any(o.noise != "poisson" for o in observations):
        raise DataError("the simulated null needs Poisson counts; an observation given as a "
                        "spectrum with Gaussian errors has none")
    out = []
    for o in observations:
        mu = source_counts(o, source, nH)
        S, sigma, _ = resampled(o, rng.poisson(mu, size=(n, mu.size)).astype(float))
        out.append((S, sigma))
    return out


def calibrate(v: np.ndarray, V: np.ndarray) -> Dict:
    """The route's outputs ``v`` against their draws ``V`` (n, d) under the null (module
    docstring, step 4): ``bias`` (the draws' mean), ``sd`` (their standard deviations),
    ``T`` and its ``p``."""
    v = np.asarray(v, float)
    V = np.asarray(V, float)
    n, d = V.shape
    if n < d + 3:
        raise ValueError(f"{n} draws for {d} outputs: the covariance needs at least {d + 3}")
    mean = V.mean(0)
    C = np.cov(V, rowvar=False).reshape(d, d)
    T = _mahalanobis(v - mean, C)
    Tb = np.empty(n)
    for b in range(n):
        rest = np.delete(V, b, axis=0)
        Tb[b] = _mahalanobis(V[b] - rest.mean(0), np.cov(rest, rowvar=False).reshape(d, d))
    k = int(np.sum(Tb >= T))
    return {"bias": mean, "sd": np.sqrt(np.diag(C)), "T": float(T),
            "p": (1.0 + k) / (1.0 + n), "n": int(n)}


def _mahalanobis(x, C) -> float:
    return float(x @ np.linalg.pinv(C, hermitian=True) @ x)
