"""The learned routes' null, simulated through the observations' own responses.

A network's systematic error depends on the response it reads: two observations of one
source through two different responses give different outputs even with no calibration
difference, by an amount that differs from one pair of responses to the next. A null
distribution measured on other responses does not carry over to these two (docs/crosscal.md:
measured on the held-out test ObsIDs' pairs, a null from the validation ObsIDs' pairs gave
p < 0.05 to 12 % of the parameter network's and 15 % of the crossnet's null pairs).

So the network and crossnet routes simulate the null for each pair (a parametric bootstrap):

1. the source under the null: one plasma, ``mmabs(nH) * cie``, drawn from a Gaussian in
   (ln kT, abundance, redshift, ln norm) centred on the inverse-variance mean of the parameter
   network's estimates of the two observations, with its inverse-variance width (N_NODES
   plasmas; the draws cycle through them): the source's uncertainty enters the null, since the
   networks' bias changes with the source;
2. ``n`` draws of the pair: each plasma folded through each observation's own response at
   full resolution (its exposure and AREASCAL), plus the observation's scaled background b = r B
   as measured, Poisson counts; where there is a background, a background spectrum
   B* ~ Poisson(B) as well, r B* subtracted as from the data; put on the network's grid as the
   data were (its notice filter, the ignored channels filled by the DAE);
3. the route's outputs (a vector ``v``: four parameter differences, or the crossnet's nine
   calibration outputs) on each draw: their mean is the route's bias for this source through
   these two responses, their spread its error;
4. reported: ``v`` minus the bias, 1-sigma errors the draws' standard deviations, and the
   consistency statistic T = (v - bias)^T C^-1 (v - bias) with C the draws' covariance. Its p
   is the share of the n + 1 vectors (the draws and ``v``) whose T against the other n is at
   least as large as ``v``'s: (1 + k) / (1 + n), never below 1 / (1 + n), a valid p-value
   when the null is right (the vectors are exchangeable).

The draws take the responses as right and the source as one plasma near the networks'
estimate; a source that is not one plasma, a background other than measured, or a Galactic
column other than given is outside this null.

5. the gain: a network does not answer a real gain one to one (the crossnet, trained with a
   prior on the gain, answers a 2 % shift with about 1.6 %). Half as many draws again, with
   the second observation's source shifted by a gain of GAIN_STEP, against the first observation's first
   draws, measure the route's response g per unit of gain; the reported shift is the
   bias-corrected output over g, its error the draws' spread over g. The shifted source is
   XSPEC's gain applied to the response as it is held (:func:`source_counts`).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from ..errors import DataError
from ..observation import Observation, resampled

__all__ = ["N_BOOT", "MIN_BOOT", "N_NODES", "GAIN_STEP", "null_source", "null_sources",
           "source_counts", "draws", "pair_inputs", "gain_response", "calibrate"]

#: simulated pairs per comparison: p resolves 1 / (N_BOOT + 1); the errors are standard
#: deviations of N_BOOT draws (7 % relative error at 100)
N_BOOT = 200
MIN_BOOT = 20                   # fewer cannot estimate the crossnet's 9 x 9 covariance
N_NODES = 20                    # plasmas drawn for the null's source (the draws cycle through)
GAIN_STEP = 0.01                # the gain at which a route's response to a shift is measured


def _combined(proposals: Sequence[Dict]):
    """Inverse-variance mean and its sd of the parameter network's Gaussians
    (``estimate["proposal"]``: mean and sd of ln kT, abundance, redshift, ln norm)."""
    m = np.array([p["mean"] for p in proposals], float)
    w = 1.0 / np.maximum(np.array([p["sd"] for p in proposals], float), 1e-12) ** 2
    return (w * m).sum(0) / w.sum(0), 1.0 / np.sqrt(w.sum(0))


def _plasma(u) -> Dict[str, float]:
    return {"kT": float(np.clip(np.exp(u[0]), 0.1, 20.0)),
            "abundance": float(np.clip(u[1], 0.0, 5.0)),
            "redshift": float(np.clip(u[2], 0.0, 2.0)), "norm": float(np.exp(u[3]))}


def null_source(proposals: Sequence[Dict]) -> Dict[str, float]:
    """The one plasma of the null: the inverse-variance mean of the parameter network's
    Gaussians of the observations compared, inside the plasma model's limits."""
    return _plasma(_combined(proposals)[0])


def null_sources(proposals: Sequence[Dict], n: int, rng) -> List[Dict[str, float]]:
    """``n`` plasmas drawn from the combined Gaussian (:func:`null_source`'s mean, the
    inverse-variance sd): the source's uncertainty carried into the null."""
    mean, sd = _combined(proposals)
    return [_plasma(u) for u in mean + sd * rng.standard_normal((n, mean.size))]


def source_counts(obs: Observation, source: Dict[str, float], nH: float,
                  slope: float = 1.0) -> np.ndarray:
    """Expected source counts per channel of the observation's own response: ``source`` (kT,
    abundance, redshift, norm) behind the column ``nH`` folded through it (exposure and
    AREASCAL included). ``slope``: a gain as XSPEC's ``gain`` (and ``gainshift``): the source
    evaluated on the response's energy bins mapped by E' = E / slope and multiplied by
    A(E') / A(E), A the response's effective area (its column sums: the ARF times the RMF's
    in-band share, which the response holds folded together)."""
    from ..amortised.posterior import check_model
    if obs.full is None:
        raise DataError(f"{obs.name or 'the observation'} carries no response on its own "
                        "channels; build it with observation_from_data")
    f = obs.full
    flux = check_model(source["kT"], source["abundance"], source["redshift"], source["norm"],
                       nH)(f["energy_lo"] / slope, f["energy_hi"] / slope)
    if slope != 1.0:
        area = np.asarray(f["R"].sum(0), float)
        mid = 0.5 * (f["energy_lo"] + f["energy_hi"])
        flux = flux * np.divide(np.interp(mid / slope, mid, area), area,
                                out=np.zeros_like(area), where=area > 0)
    return np.maximum(np.asarray(f["R"] @ flux, float), 0.0)


def draws(observations: Sequence[Observation], sources: Sequence[Dict], nH: float, n: int,
          rng, slopes: Sequence[float] = ()) -> List[tuple]:
    """Per observation, ``(S, sigma)`` of ``n`` simulated spectra on its grid
    (:func:`sherpa_rim.observation.resampled`). Draw ``b`` of every observation sees plasma
    ``b % len(sources)`` (:func:`null_sources`: one source for the pair). The counts are Poisson
    of that plasma through the observation's own response plus its scaled background b = r B
    as measured; where there is a background, a background spectrum B* ~ Poisson(B) is drawn
    too and r B* subtracted, as from the data. ``slopes``: a gain per observation (default
    none), as :func:`source_counts`."""
    if any(o.noise != "poisson" for o in observations):
        raise DataError("the simulated null needs Poisson counts; an observation given as a "
                        "spectrum with Gaussian errors has none")
    which = np.arange(n) % len(sources)
    out = []
    for k, o in enumerate(observations):
        g = slopes[k] if k < len(slopes) else 1.0
        mu = np.stack([source_counts(o, s, nH, g) for s in sources])[which]
        b, bvar = o.full.get("background"), o.full.get("background_var")
        if b is None:
            counts = rng.poisson(mu).astype(float)
            out.append(resampled(o, counts))
            continue
        b = np.maximum(np.asarray(b, float), 0.0)
        r = np.divide(bvar, b, out=np.zeros_like(b), where=b > 0)       # r^2 B / r B
        B = np.divide(b, r, out=np.zeros_like(b), where=r > 0)
        counts = rng.poisson(mu + b).astype(float)
        rb = r * rng.poisson(np.broadcast_to(B, mu.shape))
        out.append(resampled(o, counts, rb, r * rb))
    return out


def pair_inputs(ref: Observation, obs: Observation, proposals: Sequence[Dict], nH: float,
                n: int, rng) -> List[tuple]:
    """Network inputs ``(S, sigma)`` (ignored channels filled by the DAE) of the simulated
    null for one pair: ``n`` draws of ``ref`` and of ``obs`` (one source per pair, from
    :func:`null_sources`), and ``n // 2`` draws of ``obs`` with a gain GAIN_STEP, to be
    paired with ``ref``'s first ``n // 2`` (the route's gain response)."""
    from ..amortised.dae import network_input
    sources = null_sources(proposals, min(N_NODES, n), rng)
    (S1, s1), (S2, s2) = draws((ref, obs), sources, nH, n, rng)
    (Sg, sg), = draws((obs,), sources, nH, n // 2, rng, (1.0 + GAIN_STEP,))
    return [network_input(ref, nH, S1, s1), network_input(obs, nH, S2, s2),
            network_input(obs, nH, Sg, sg)]


def gain_response(base: np.ndarray, shifted: np.ndarray, step: float = GAIN_STEP) -> float:
    """How far a route's gain output moves per unit of a real gain: the mean of its output
    on pairs whose second observation has a gain ``step`` (``shifted``) minus the mean at no
    gain (``base``), over ``step`` (both in the same units, e.g. ln slope over ln(1 + step)).
    Kept within 0.2-2: a route that barely moves gets a wide interval, not an infinite one."""
    return float(np.clip((np.mean(shifted) - np.mean(base)) / step, 0.2, 2.0))


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
        # draw b against the others and v: v is judged against all n draws, so every draw is
        # judged against n vectors too (exchangeable under the null)
        rest = np.vstack([np.delete(V, b, axis=0), v[None]])
        Tb[b] = _mahalanobis(V[b] - rest.mean(0), np.cov(rest, rowvar=False).reshape(d, d))
    k = int(np.sum(Tb >= T))
    return {"bias": mean, "sd": np.sqrt(np.diag(C)), "T": float(T),
            "p": (1.0 + k) / (1.0 + n), "n": int(n)}


def _mahalanobis(x, C) -> float:
    return float(x @ np.linalg.pinv(C, hermitian=True) @ x)
