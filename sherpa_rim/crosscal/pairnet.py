"""The cross-calibration network at run time: the ``crossnet`` route of a cross-calibration.

The network (:mod:`training.crossnet`, shipped as ``crossnet_default``) reads two observations
of one thermal source, each on the RIM's canonical grid with its own nominal response
(exposure included), and gives Gaussian posteriors of the second observation's gain slope
(XSPEC's ``gain``) and of its effective-area ratio to the first in the eight log bands of
0.5-7 keV, with the source's kT, abundance and redshift as nuisance parameters. It was
trained with the gain and the area as free parameters of the pair (what the parameter
network, which knows no gain, lacks).

* Widths: the network's own times one factor per output, measured on pairs through the
  validation ObsIDs' responses (the manifest's ``calibration``).
* The gain's width: that, times a factor per count class measured on Sherpa-simulated pairs
  of the validation ObsIDs with injected gains (the manifest's ``crosscal_null_calibration``
  ``gain``).
* Consistency: chi2 of the nine calibration outputs (ln slope and the eight ln area ratios
  over their widths); they are correlated (a constant area change moves all eight), so its
  p-value is the share of null pairs of the validation ObsIDs (Sherpa-simulated, no shift)
  with a chi2 at least as large, per count class (:data:`CLASSES`) (``python -m training.calibrate_crosscal``,
  the manifest's ``crosscal_null_calibration`` ``null``).
* By default (``compare``'s ``n_boot``) both are replaced by pairs of one plasma simulated
  through the two observations' own responses (:mod:`.bootstrap`): the nine outputs' bias for
  these two responses, their errors and p. The validation-ObsID calibrations above are what
  ``n_boot=0`` uses.
* ``./dev.sh bench crosscal`` measures both on the test ObsIDs (docs/crosscal.md).

Ignored channels are filled by the DAE first, as for the parameter network.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from scipy import stats as sps

from ..amortised.dae import network_input
from ..errors import DataError
from ..observation import Observation
from ..response.grid import CanonicalGrid
from ..rim.checks import thermal_check
from ..runtime import check_applicable, open_model
from .routes import calibrated_p, log_bands, observation_entry, set_p

__all__ = ["CrossNetEstimator", "crossnet_route", "pair_class", "consistency_chi2", "N_SOURCE",
           "CLASSES"]

N_SOURCE = 3                    # ln kT, abundance, redshift; then ln slope and 8 ln area ratios
#: the calibration's count classes (noticed counts of a pair's fainter spectrum): finer than
#: the RIM's above 1e5, since the network runs to 1e6 counts
CLASSES = {"<1e4": (0.0, 1e4), "1e4-1e5": (1e4, 1e5), "1e5-3e5": (1e5, 3e5),
           ">3e5": (3e5, np.inf)}


def pair_class(a: Observation, b: Observation) -> str:
    """The count class (:data:`CLASSES`) of the fainter of two observations."""
    c = min(a.counts_noticed, b.counts_noticed)
    return next(k for k, (lo, hi) in CLASSES.items() if c < hi)


class CrossNetEstimator:
    def __init__(self, name="crossnet_default", providers=None, folder=None):
        self.session = open_model(name, folder=folder, providers=providers)
        self.entry = self.session.entry
        self.grid = CanonicalGrid.from_dict(self.entry["grid"])
        self.calibration = np.asarray(self.entry["calibration"], float)
        self.scale = np.asarray(self.entry["target_scale"], float)
        self.name = name

    def check(self, obs: Observation, nH: Optional[float], what: str, reference: bool) -> List[str]:
        """Refuse what the network was not trained on: another instrument, or a reference
        observation that no plasma of its prior describes. Another observation that no plasma
        describes through its nominal response is only a warning: a gain or area error of the
        size this route measures does that. Warnings for counts outside its range."""
        warns = check_applicable(self.entry, self.name, obs.meta, obs.counts_noticed, False)
        verdict, msg = thermal_check(obs, nH)
        if verdict is False and reference:
            raise DataError(f"the crossnet route needs a thermal source; {what} (the reference): "
                            f"{msg}. Use routes=('joint',) (--routes joint) with a source model "
                            "that describes it (source= / --source)")
        if verdict is False:
            msg = (f"{what}: no plasma of the crossnet's prior fits it through its nominal "
                   "response (a calibration difference as large as this route measures does "
                   "that; so does another source)")
        return warns + ([msg] if msg else [])

    def inputs(self, obs: Observation, nH: float = 0.0):
        """One observation's network inputs (S, R, sigma), batch of one."""
        S, sig = network_input(obs, nH)
        return tuple(a[None].astype(np.float32) for a in (S, obs.R, sig))

    def pair(self, ref, obs, nH: float = 0.0):
        """(mean, sd) in natural units: ln kT, abundance, z, ln slope, 8 ln area ratios.
        ``ref`` / ``obs``: Observations, or their :meth:`inputs`."""
        (S1, R1, s1), (S2, R2, s2) = (o if isinstance(o, tuple) else self.inputs(o, nH)
                                      for o in (ref, obs))
        mean, sd = self.pairs(S1, R1, s1, S2, R2, s2)
        return mean[0], sd[0]

    def pairs(self, S1, R1, s1, S2, R2, s2):
        """(mean, sd), each (n, 12), of a batch of pairs of network inputs (S, sigma: (n,
        channels), ignored channels filled; R: (n, channels, energies), or one for all)."""
        n = max(np.shape(S1)[0], np.shape(S2)[0])

        def batch(a, nd):
            a = np.asarray(a, np.float32)
            return np.broadcast_to(a, (n,) + a.shape[-nd:])
        out = self.session.run({"S1": batch(S1, 1), "R1": batch(R1, 2), "sigma1": batch(s1, 1),
                                "S2": batch(S2, 1), "R2": batch(R2, 2), "sigma2": batch(s2, 1)})
        mean = out["cross_mean"].astype(float) / self.scale
        sd = np.exp(out["cross_logsd"].astype(float)) * self.calibration / self.scale
        return mean, sd


def consistency_chi2(mean, sd) -> float:
    """chi2 of the nine calibration outputs (ln slope, eight ln area ratios) over their widths:
    the statistic both the route and its null calibration use."""
    return float(np.sum((mean[N_SOURCE:] / sd[N_SOURCE:]) ** 2))


def crossnet_route(observations: List[Observation], est: CrossNetEstimator, reference: int = 0,
                   nH: Optional[float] = None, names: Optional[List[str]] = None,
                   estimates: Optional[List[Dict]] = None, n_boot: int = 0,
                   seed: int = 0) -> Dict:
    """Per observation against the reference: gain, area ratio per band, the source, chi2 of
    the calibration outputs and its p (module docstring). With ``n_boot`` > 0 and the
    parameter network's ``estimates`` of the observations: the bias, errors and p from
    ``n_boot`` pairs simulated through the pair's own responses (:mod:`.bootstrap`)."""
    names = names or [f"observation {k}" for k in range(len(observations))]
    col = 0.0 if nH is None else float(nH)
    warns = [w for k, (o, n) in enumerate(zip(observations, names))
             for w in est.check(o, nH, n, k == reference)]
    if n_boot and estimates is not None:
        out = _crossnet_simulated(observations, est, reference, col, estimates, n_boot, seed)
        out["warnings"] = warns
        return out
    cal = est.entry.get("crosscal_null_calibration") or {}
    null, gain = cal.get("null"), cal.get("gain")
    how = ("p calibrated on null pairs of the validation ObsIDs" if null else
           "p NOT calibrated: chi2 distribution, outputs taken as independent")
    how += ("; gain width times a factor measured on shifted validation pairs" if gain else
            "; gain width from the training pairs' calibration only")
    out = {"observations": {}, "warnings": warns,
           "method": f"cross-calibration network on each pair (crosscal.pairnet); {how}"}
    ref = observations[reference]
    ref_in = est.inputs(ref, col)          # the reference's DAE fill, once for all pairs
    chi_tot, dof_tot, ps = 0.0, 0, []
    dof = len(est.scale) - N_SOURCE
    for k, obs in enumerate(observations):
        if k == reference:
            continue
        m, s = est.pair(ref_in, obs, col)
        chi = consistency_chi2(m, s)
        cls = pair_class(ref, obs)
        p_chi2 = float(sps.chi2.sf(chi, dof))
        p_cal, p_how = calibrated_p(chi, null, cls)
        factor = float(gain["classes"].get(cls, gain["pooled"])) if gain else 1.0
        slope, s_slope = float(np.exp(m[3])), float(factor * np.exp(m[3]) * s[3])
        out["observations"][k] = observation_entry(
            slope, s_slope, factor, chi, dof, p_chi2, p_cal, p_how,
            **_bands_and_source(m[4:], s[4:], m, s))
        chi_tot += chi
        dof_tot += dof
        ps.append(out["observations"][k]["p"])
    set_p(out, ps, chi_tot, dof_tot, null is not None)
    return out


def _crossnet_simulated(observations, est, reference, col, estimates, n_boot, seed) -> Dict:
    """The crossnet route with its null simulated through the pair's own responses."""
    from .bootstrap import calibrate, gain_estimate, null_source, pair_inputs
    out = {"observations": {},
           "method": "cross-calibration network on each pair (crosscal.pairnet); bias, errors "
                     f"and p from {n_boot} pairs of one plasma simulated through the two "
                     "observations' own responses (crosscal.bootstrap)"}
    ref = observations[reference]
    ref_in = est.inputs(ref, col)
    chi_tot, dof_tot, ps = 0.0, 0, []
    bands = log_bands()
    dof = len(est.scale) - N_SOURCE
    for k, obs in enumerate(observations):
        if k == reference:
            continue
        m, s = est.pair(ref_in, obs, col)
        props = [estimates[reference]["proposal"], estimates[k]["proposal"]]
        (S1, s1), (S2, s2), shifted = pair_inputs(ref, obs, props, col, n_boot,
                                                  np.random.default_rng([seed, k, 1]))
        mb, _ = est.pairs(S1, ref.R, s1, S2, obs.R, s2)
        mg = [est.pairs(S1[:len(Sg)], ref.R, s1[:len(Sg)], Sg, obs.R, sg)[0][:, N_SOURCE]
              for Sg, sg in shifted]          # gains, against the reference's first draws
        cal = calibrate(m[N_SOURCE:], mb[:, N_SOURCE:])
        gain = gain_estimate(m[N_SOURCE], mb[:, N_SOURCE], mg)
        lr = m[N_SOURCE:] - cal["bias"]
        out["observations"][k] = observation_entry(
            gain.pop("slope"), gain.pop("sigma_slope"), 1.0, cal["T"], dof,
            float(sps.chi2.sf(cal["T"], dof)), cal["p"],
            f"{cal['n']} pairs simulated through these two responses",
            **_bands_and_source(lr[1:], cal["sd"][1:], m, s),
            null_source=null_source(props), **gain,
            bias={"ln_slope": float(cal["bias"][0]),
                  **{f"ln_area {b}": float(cal["bias"][1 + i]) for i, b in enumerate(bands)}})
        chi_tot += cal["T"]
        dof_tot += dof
        ps.append(cal["p"])
    set_p(out, ps, chi_tot, dof_tot, True)
    return out


def _bands_and_source(ln_ratios, sigmas, m, s) -> Dict:
    """An entry's area ratio per band (ln ratios and their 1-sigma widths) and the source the
    network reads (``m``, ``s``: its means and widths)."""
    return {"bands": {b: {"ratio": float(np.exp(ln_ratios[i])), "ln_ratio": float(ln_ratios[i]),
                          "sigma_ln": float(sigmas[i])} for i, b in enumerate(log_bands())},
            "source": {"kT": float(np.exp(m[0])), "sigma_ln_kT": float(s[0]),
                       "abundance": float(m[1]), "sigma_abundance": float(s[1]),
                       "redshift": float(m[2]), "sigma_redshift": float(s[2])}}
