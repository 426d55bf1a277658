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

5. the gain: a network does not answer a real gain one to one, nor in proportion (the
   crossnet, trained with a prior on the gain, reads 0.25-0.5 % shifts low and 2 % high
   against its answer at 1 %). So its response is measured as a curve: the second
   observation's first n // N_CURVE draws are shifted to each gain of GAIN_STEPS (XSPEC's gain
   applied to the response as it is held, :func:`source_counts`), each coupled to its
   unshifted draw (:func:`shifted_counts`: the same photons, thinned or added to, so the
   difference is the gain's and little else), and paired with the first observation's same
   draws. The mean change of the route's gain output at each step gives the curve
   (:func:`gain_curve`: monotone, its local slopes kept within 0.2-2), and the outputs'
   spread at each step its width (a 1 % gain widens the crossnet's outputs 1.6-2.5 fold).
   The reported shift is the curve inverted at the bias-corrected output, and its 68 %
   interval every gain whose outputs, the curve -+ its width, hold that output
   (:func:`invert_gain`).
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from ..errors import DataError
from ..observation import Observation, resampled

__all__ = ["N_BOOT", "MIN_BOOT", "N_NODES", "GAIN_STEPS", "N_CURVE", "null_source",
           "null_sources", "source_counts", "draws", "shifted_counts", "pair_inputs",
           "gain_curve", "invert_gain", "gain_estimate", "calibrate"]

#: simulated pairs per comparison: p resolves 1 / (N_BOOT + 1); the errors are standard
#: deviations of N_BOOT draws (7 % relative error at 100)
N_BOOT = 200
MIN_BOOT = 20                   # fewer cannot estimate the crossnet's 9 x 9 covariance
N_NODES = 20                    # plasmas drawn for the null's source (the draws cycle through)
#: the gains (slope - 1) at which a route's response to a shift is measured
GAIN_STEPS = (-0.02, -0.01, -0.005, 0.005, 0.01, 0.02)
N_CURVE = 5                     # a fifth of the draws is shifted to each of GAIN_STEPS
SLOPE_LIMITS = (0.2, 2.0)       # the curve's local slope, output per unit of ln slope


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


def _raw_draws(o: Observation, mu: np.ndarray, rng):
    """Poisson counts (n, channels) of expected source counts ``mu`` through ``o`` plus its
    scaled background b = r B as measured, their mean, and where there is a background the
    drawn scaled background r B* ~ r Poisson(B) and r (its variance's factor)."""
    b, bvar = o.full.get("background"), o.full.get("background_var")
    if b is None:
        return rng.poisson(mu).astype(float), mu, None, None
    b = np.maximum(np.asarray(b, float), 0.0)
    r = np.divide(bvar, b, out=np.zeros_like(b), where=b > 0)       # r^2 B / r B
    B = np.divide(b, r, out=np.zeros_like(b), where=r > 0)
    counts = rng.poisson(mu + b).astype(float)
    rb = r * rng.poisson(np.broadcast_to(B, mu.shape))
    return counts, mu + b, rb, r


def _on_grid(o: Observation, raw):
    """:func:`_raw_draws`'s counts (with its drawn background) on ``o``'s grid."""
    counts, _, rb, r = raw
    return resampled(o, counts) if rb is None else resampled(o, counts, rb, r * rb)


def draws(observations: Sequence[Observation], sources: Sequence[Dict], nH: float, n: int,
          rng, slopes: Sequence[float] = ()) -> List[tuple]:
    """Per observation, ``(S, sigma)`` of ``n`` simulated spectra on its grid
    (:func:`sherpa_rim.observation.resampled`). Draw ``b`` of every observation sees plasma
    ``b % len(sources)`` (:func:`null_sources`: one source for the pair). The counts are Poisson
    of that plasma through the observation's own response plus its scaled background b = r B
    as measured; where there is a background, a background spectrum B* ~ Poisson(B) is drawn
    too and r B* subtracted, as from the data. ``slopes``: a gain per observation (default
    none), as :func:`source_counts`."""
    return [_on_grid(o, raw) for o, raw in
            zip(observations, _raw(observations, sources, nH, n, rng, slopes))]


def _raw(observations, sources, nH, n, rng, slopes=()):
    """Per observation: (counts, their mean, r B*, r) of :func:`draws` (before the grid)."""
    if any(o.noise != "poisson" for o in observations):
        raise DataError("the simulated null needs Poisson counts; an observation given as a "
                        "spectrum with Gaussian errors has none")
    which = np.arange(n) % len(sources)
    out = []
    for k, o in enumerate(observations):
        g = slopes[k] if k < len(slopes) else 1.0
        mu = np.stack([source_counts(o, s, nH, g) for s in sources])[which]
        out.append(_raw_draws(o, mu, rng))
    return out


def shifted_counts(counts: np.ndarray, mean: np.ndarray, new_mean: np.ndarray,
                   rng) -> np.ndarray:
    """Poisson counts of mean ``new_mean`` made from Poisson ``counts`` of mean ``mean``,
    channel by channel: where the mean grows, Poisson(new_mean - mean) more counts are added;
    where it falls, each count is kept with probability new_mean / mean. Either way the result
    is exactly Poisson(new_mean), and it differs from ``counts`` only by what the change of
    mean brings (a coupling: two spectra that share their photons)."""
    counts = np.asarray(counts, float)
    mean = np.broadcast_to(np.asarray(mean, float), counts.shape)
    new_mean = np.broadcast_to(np.asarray(new_mean, float), counts.shape)
    up = new_mean >= mean
    added = rng.poisson(np.where(up, new_mean - mean, 0.0))
    keep = np.divide(new_mean, mean, out=np.ones_like(mean), where=(~up) & (mean > 0))
    kept = rng.binomial(counts.astype(np.int64), np.where(up, 1.0, np.clip(keep, 0.0, 1.0)))
    return np.where(up, counts + added, kept).astype(float)


def pair_inputs(ref: Observation, obs: Observation, proposals: Sequence[Dict], nH: float,
                n: int, rng) -> List[tuple]:
    """Network inputs ``(S, sigma)`` (ignored channels filled by the DAE) of the simulated
    null for one pair: ``n`` draws of ``ref`` and of ``obs`` (one source per pair, from
    :func:`null_sources`), then per gain of GAIN_STEPS ``n // N_CURVE`` draws of ``obs``
    shifted by it (:func:`shifted_counts` of ``obs``'s first ``n // N_CURVE`` draws, the same
    scaled background), to be paired with ``ref``'s first ``n // N_CURVE`` draws (the route's
    gain curve). Returns ``[ref's, obs's, [obs's at each gain]]``."""
    from ..amortised.dae import network_input
    sources = null_sources(proposals, min(N_NODES, n), rng)
    raw_ref, raw_obs = _raw((ref, obs), sources, nH, n, rng)
    m = max(n // N_CURVE, 1)
    counts, mean, rb, r = raw_obs
    which = np.arange(m) % len(sources)
    back = 0.0 if rb is None else np.maximum(np.asarray(obs.full["background"], float), 0.0)
    shifted = []
    for step in GAIN_STEPS:
        mu = np.stack([source_counts(obs, s, nH, 1.0 + step) for s in sources])[which]
        c = shifted_counts(counts[:m], mean[:m], mu + back, rng)
        shifted.append(network_input(obs, nH, *_on_grid(obs, (c, None, None if rb is None
                                                              else rb[:m], r))))
    return [network_input(ref, nH, *_on_grid(ref, raw_ref)),
            network_input(obs, nH, *_on_grid(obs, raw_obs)), shifted]


def gain_curve(base: np.ndarray, shifted: Sequence[np.ndarray],
               steps: Sequence[float] = GAIN_STEPS):
    """A route's response to a gain, as knots (x, y, s): x the ln slope of each of ``steps``
    (and 0); y the mean change of the route's gain output (in ln slope) from its draws at no
    gain (``base``, the draws the shifted ones were made from, in the same order) to those at
    the step (``shifted``, one array per step); s the outputs' standard deviation at each
    knot (a gain can widen them: on two test pairs the crossnet's spread at a 1 % gain is
    1.6 and 2.5 times its spread at none). y is made monotone, each segment's slope kept
    within SLOPE_LIMITS: a route that barely moves gets a wide interval, not an infinite
    one."""
    base = np.asarray(base, float)
    x = np.log1p(np.asarray(steps, float))
    y = np.array([np.mean(np.asarray(v, float) - base[:len(v)]) for v in shifted])
    s = np.array([np.std(np.asarray(v, float), ddof=1) for v in shifted])
    x, y, s = np.append(x, 0.0), np.append(y, 0.0), np.append(s, np.std(base, ddof=1))
    order = np.argsort(x)
    x, y, s = x[order], y[order], s[order]
    slope = np.clip(np.diff(y) / np.diff(x), *SLOPE_LIMITS)
    y = np.concatenate([[0.0], np.cumsum(slope * np.diff(x))])
    y -= y[np.searchsorted(x, 0.0)]
    return x, y, s


def invert_gain(curve, output: float):
    """The ln slope whose curve value is ``output`` (the route's bias-corrected gain output,
    ln slope), and its 68 % interval: every ln slope x whose outputs, y(x) -+ s(x), hold
    ``output`` (a Neyman belt of the curve, :func:`gain_curve`). Beyond the outer knots y goes
    on at its end slopes and s stays at its end values."""
    x, y, s = (np.asarray(a, float) for a in curve)
    lo_slope = (y[1] - y[0]) / (x[1] - x[0])
    hi_slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
    # far enough that the belt closes: the output and its widths over the end slopes
    far = max(abs(output) + 3 * s.max(), 1e-3) / min(lo_slope, hi_slope) + 0.05
    X = np.concatenate([[x[0] - far], x, [x[-1] + far]])
    Y = np.concatenate([[y[0] - far * lo_slope], y, [y[-1] + far * hi_slope]])
    W = np.concatenate([[s[0]], s, [s[-1]]])
    mid = float(np.interp(output, Y, X))
    grid = np.union1d(np.linspace(X[0], X[-1], 20001), np.linspace(x[0], x[-1], 4001))
    inside = np.abs(output - np.interp(grid, X, Y)) <= np.interp(grid, X, W)
    lo, hi = (grid[inside].min(), grid[inside].max()) if inside.any() else (mid, mid)
    return mid, float(min(lo, mid)), float(max(hi, mid))


def gain_estimate(output: float, base: np.ndarray, shifted: Sequence[np.ndarray]) -> Dict:
    """A route's gain from its output ``output`` (ln slope, the observation's, not yet
    bias-corrected), its draws at no gain ``base`` and at GAIN_STEPS ``shifted``
    (:func:`pair_inputs`): the slope and its 68 % interval (:func:`invert_gain`), the
    symmetric 1-sigma half-width the report prints, and the route's local response (ln slope
    output per unit of ln slope over the interval) and curve."""
    base = np.asarray(base, float)
    curve = gain_curve(base, shifted)
    x, lo, hi = invert_gain(curve, float(output) - float(base.mean()))
    sd = float(np.interp(x, curve[0], curve[2]))
    return {"slope": float(np.exp(x)), "interval": [float(np.exp(lo)), float(np.exp(hi))],
            "sigma_slope": float(0.5 * (np.exp(hi) - np.exp(lo))),
            "gain_response": float(2.0 * sd / max(hi - lo, 1e-12)),
            "gain_curve": {"ln_slope": curve[0].tolist(), "output": curve[1].tolist(),
                           "sd": curve[2].tolist()}}


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

