"""The RIM route and the network-only route of a cross-calibration.

**RIM route.** Each observation is deconvolved with its own response; if the responses
were right, the reconstructions are one spectrum. Per observation against the reference:

* band by band, ln(F_k / F_ref) in the eight log bands of 0.5-7 keV, each with the
  calibrated 68 % widths of both reconstructions added in quadrature
  (:mod:`sherpa_rim.rim.band`): the area ratio per band;
* the gain: the shift in log E that best aligns ln F_k with ln F_ref over 0.5-7 keV (a
  constant ratio profiled out, the calibrated per-bin widths as weights); its 1-sigma error
  is the curvature error of that alignment times a factor per count class measured on the
  validation ObsIDs (the bins' errors are correlated, so the curvature error alone is too
  small; ``python -m training.calibrate_crosscal``, the manifest's
  ``crosscal_gain_calibration``);
* line by line: continuum-subtracted centroids and fluxes of the Fe-L complex, Si XIII,
  S XV and Fe XXV in windows at the source's redshift;
* consistency: chi2 of the band log-ratios per observation. The bands' errors are not
  independent and the reconstructions' systematic errors differ between responses, so chi2
  has no chi2 distribution: its p-value is the share of null pairs (one source through two
  different validation-ObsID responses, no shift) with a chi2 at least as large, for the
  pair's count class (``python -m training.calibrate_crosscal``, the RIM's manifest entry
  ``crosscal_null_calibration``); ``./dev.sh bench crosscal`` measures its false-alarm rate
  on the test ObsIDs (docs/crosscal.md).

**Network route.** The parameter network's kT, abundance, redshift and flux per
observation: the gain from the redshift difference ((1 + z_ref) / (1 + z_k) = slope), the
area ratio from the flux ratio. By default (``compare``'s ``n_boot``) the four differences'
bias, errors and p come from pairs of one plasma simulated through the two observations'
own responses (:mod:`.bootstrap`): the network's systematic error differs from one pair of
responses to the next. Without the simulations: chi2 of the four differences (the norm's in
place of the flux's), its p-value from null pairs of the validation ObsIDs as the RIM
route's (the parameter network's manifest entry), and the gain's error scaled by a factor
per count class measured there; docs/crosscal.md shows that this does not carry over to
other responses.

With several observations, the whole set's p is the smallest observation's p times the
number of comparisons (Bonferroni: never below the stated rate under the null).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
from scipy import stats as sps

from ..amortised.dae import network_input
from ..rim.band import BAND_EDGES, CLASSES, S_FLOOR, log_spread

__all__ = ["LINES", "rim_route", "network_route", "log_bands", "fainter_class", "gain_factor",
           "calibrated_p", "set_p"]

#: rest-frame windows (keV): the line region and the continuum on either side
LINES = {"Fe-L": (0.70, 1.30), "Si XIII": (1.80, 1.90), "S XV": (2.40, 2.50),
         "Fe XXV": (6.55, 6.75)}
SIDE = 0.04                     # continuum sidebands, as a fraction of the window's centre
MIN_NULL = 40                   # a count class with fewer null pairs takes the pooled ones


def log_bands():
    return [f"{a:g}-{b:g} keV" for a, b in zip(BAND_EDGES[:-1], BAND_EDGES[1:])]


def _half68(band) -> float:
    return 0.5 * float(np.log(max(band["hi68"], 1e-300) / max(band["lo68"], 1e-300)))


def _bin_sigma(res):
    return 0.5 * np.log(np.maximum(res.flux_hi, 1e-300) / np.maximum(res.flux_lo, 1e-300))


def _align(ref, obs, emin=0.5, emax=7.0, max_shift=0.05, step=5e-4):
    """(delta, sigma): ln F_obs(E) ~ ln F_ref(E (1 + delta)) + c over [emin, emax] keV."""
    e = np.sqrt(ref.energy_lo * ref.energy_hi)
    use = (e >= emin) & (e <= emax) & (ref.flux > 1e-3 * ref.flux.max()) & (obs.flux > 0)
    ln_ref = np.log(np.maximum(ref.flux / (ref.energy_hi - ref.energy_lo), 1e-300))
    ln_obs = np.log(np.maximum(obs.flux / (obs.energy_hi - obs.energy_lo), 1e-300))
    w = 1.0 / np.maximum(_bin_sigma(ref) ** 2 + _bin_sigma(obs) ** 2, 1e-6)
    grid = np.arange(-max_shift, max_shift + step / 2, step)
    chi = np.empty(grid.size)
    le = np.log(e)
    for i, d in enumerate(grid):
        shifted = np.interp(le[use] + np.log1p(d), le, ln_ref)
        r = ln_obs[use] - shifted
        c = np.sum(w[use] * r) / np.sum(w[use])
        chi[i] = np.sum(w[use] * (r - c) ** 2)
    i = int(np.argmin(chi))
    if 0 < i < grid.size - 1:                    # parabola through the minimum
        a = 0.5 * (chi[i + 1] + chi[i - 1] - 2 * chi[i]) / step ** 2
        b = 0.5 * (chi[i + 1] - chi[i - 1]) / step
        if a > 0:
            return float(grid[i] - b / (2 * a)), float(np.sqrt(1.0 / a))
    return float(grid[i]), float("nan")


def _lines(res, z: float) -> Dict[str, Dict[str, float]]:
    """Continuum-subtracted centroid (keV) and flux (photons/cm^2/s) per line window, with
    1-sigma errors from the resamplings scaled by the band's calibration (flux_lo/hi)."""
    e = 0.5 * (res.energy_lo + res.energy_hi)
    out = {}
    for name, (lo, hi) in LINES.items():
        lo, hi = lo / (1 + z), hi / (1 + z)
        c = 0.5 * (lo + hi)
        win = (e >= lo) & (e < hi)
        left = (e >= lo - SIDE * c) & (e < lo)
        right = (e >= hi) & (e < hi + SIDE * c)
        if win.sum() < 1 or left.sum() < 1 or right.sum() < 1 or e.max() < hi:
            continue

        def measure(F):
            dens = F / (res.energy_hi - res.energy_lo)
            cl, cr = dens[left].mean(), dens[right].mean()
            el, er = e[left].mean(), e[right].mean()
            cont = cl + (cr - cl) * (e[win] - el) / (er - el)
            line = (dens[win] - cont) * (res.energy_hi - res.energy_lo)[win]
            flux = float(line.sum())
            cen = float(np.sum(e[win] * line) / flux) if flux > 0 else float("nan")
            return cen, flux
        cen, flux = measure(res.flux)
        if not flux > 0:
            continue
        draws = np.array([measure(F) for F in res.samples])
        # the band's calibration factor in the window (calibrated width / resampling spread)
        spread = np.maximum(log_spread(res.samples), S_FLOOR)
        scale = float(np.median((np.log(res.flux_hi / np.maximum(res.flux, 1e-300)) / spread)[win]))
        s_cen = scale * 0.5 * float(np.diff(np.nanpercentile(draws[:, 0], [15.87, 84.13]))[0])
        s_lnf = scale * 0.5 * float(np.diff(np.percentile(np.log(np.maximum(draws[:, 1], 1e-300)),
                                                          [15.87, 84.13]))[0])
        out[name] = {"centroid": cen, "sigma_centroid": s_cen, "flux": flux, "sigma_lnflux": s_lnf}
    return out


def fainter_class(results) -> str:
    """The count class (:data:`sherpa_rim.rim.band.CLASSES`) of the fainter of two or more
    reconstructions (Gaussian-noise input counts as the brightest)."""
    order = list(CLASSES)
    return min((r.band_class for r in results), key=order.index)


def gain_factor(calibration: Optional[Dict], results) -> float:
    """The factor on the alignment's curvature error for this pair (the manifest's
    ``crosscal_gain_calibration``, measured on the validation ObsIDs by
    ``python -m training.calibrate_crosscal``); 1 without a calibration."""
    if not calibration:
        return 1.0
    return float(calibration["classes"].get(fainter_class(results), calibration["pooled"]))


def calibrated_p(statistic: float, calibration: Optional[Dict], cls: str):
    """(p, how): the share of a calibration's null statistics at or above ``statistic`` for
    count class ``cls`` (the pooled ones where the class has fewer than MIN_NULL), counted as
    a Monte Carlo p-value, (1 + k) / (1 + n); ``(None, reason)`` without a calibration."""
    if not calibration:
        return None, "no null calibration"
    null = calibration["classes"].get(cls)
    where = f"class {cls}"
    if null is None or len(null) < MIN_NULL:
        null, where = calibration["pooled"], "pooled classes"
    null = np.asarray(null, float)
    k = int(np.sum(null >= statistic))
    return (1.0 + k) / (1.0 + null.size), f"{null.size} null pairs, {where}"


def set_p(out: Dict, ps: List[float], chi_tot: float, dof_tot: int, calibrated: bool) -> None:
    out["chi2"], out["dof"] = chi_tot, dof_tot
    if calibrated:
        out["p"] = float(min(1.0, len(ps) * min(ps))) if ps else 1.0
    else:
        out["p"] = float(sps.chi2.sf(chi_tot, dof_tot)) if dof_tot else 1.0


def observation_entry(slope: float, s_slope: float, factor: float, chi: float, dof: int,
                      p_chi2: float, p_cal: Optional[float], p_how: str, **extra) -> Dict:
    """One observation's entry of a route: its gain (the slope, in eV at 1 and 6 keV) with the
    width factor applied, the route's own quantities (``extra``), chi2 and p (the calibrated p
    where there is one, else chi2's)."""
    return {"slope": slope, "sigma_slope": s_slope, "gain_sigma_factor": factor,
            "gain_1keV_eV": 1e3 * (slope - 1.0), "sigma_1keV_eV": 1e3 * s_slope,
            "gain_6keV_eV": 6e3 * (slope - 1.0), "sigma_6keV_eV": 6e3 * s_slope,
            **extra, "chi2": chi, "dof": dof, "p_chi2": p_chi2, "p_from": p_how,
            "p": p_chi2 if p_cal is None else float(p_cal)}


def rim_route(results: List, reference: int = 0, z: float = 0.0,
              gain_calibration: Optional[Dict] = None,
              null_calibration: Optional[Dict] = None) -> Dict:
    """Per observation against the reference: band ratios, gain, lines, chi2 and p.
    ``gain_calibration``: the RIM model's ``crosscal_gain_calibration`` (the gain's error is
    the alignment's curvature error times its factor for the pair's count class);
    ``null_calibration``: its ``crosscal_null_calibration`` (p from null pairs; without it,
    p from the chi2 distribution, which the bands' correlated errors do not follow)."""
    ref = results[reference]
    names = log_bands()
    how = ("gain error calibrated on the validation ObsIDs" if gain_calibration else
           "gain error NOT calibrated: the curvature error of the alignment, too small")
    how_p = ("p calibrated on null pairs of the validation ObsIDs" if null_calibration else
             "p NOT calibrated: chi2 distribution, bands taken as independent")
    out = {"observations": {}, "method": f"RIM reconstructions compared (module docstring); "
                                         f"{how}; {how_p}"}
    chi_tot, dof_tot, ps = 0.0, 0, []
    ref_lines = _lines(ref, z)
    for k, res in enumerate(results):
        if k == reference:
            continue
        bands = {}
        chi = 0.0
        for n in names:
            a, b = res.bands[n], ref.bands[n]
            if not (a["flux"] > 0 and b["flux"] > 0):
                continue
            lr = float(np.log(a["flux"] / b["flux"]))
            s = float(np.hypot(_half68(a), _half68(b)))
            bands[n] = {"ratio": float(np.exp(lr)), "ln_ratio": lr, "sigma_ln": s}
            chi += (lr / s) ** 2
        delta, s_delta = _align(ref, res)
        factor = gain_factor(gain_calibration, (ref, res))
        slope = 1.0 / (1.0 + delta)
        s_slope = factor * s_delta / (1.0 + delta) ** 2
        lines = {}
        for n, v in _lines(res, z).items():
            if n not in ref_lines:
                continue
            r = ref_lines[n]
            lines[n] = {"shift_eV": 1e3 * (v["centroid"] - r["centroid"]),
                        "sigma_eV": 1e3 * float(np.hypot(v["sigma_centroid"], r["sigma_centroid"])),
                        "flux_ratio": v["flux"] / r["flux"],
                        "sigma_ln": float(np.hypot(v["sigma_lnflux"], r["sigma_lnflux"]))}
        dof = len(bands)
        p_chi2 = float(sps.chi2.sf(chi, dof)) if dof else 1.0
        p_cal, p_how = calibrated_p(chi, null_calibration, fainter_class((ref, res)))
        out["observations"][k] = observation_entry(slope, s_slope, factor, chi, dof, p_chi2,
                                                   p_cal, p_how, bands=bands, lines=lines)
        chi_tot += chi
        dof_tot += dof
        ps.append(out["observations"][k]["p"])
    set_p(out, ps, chi_tot, dof_tot, null_calibration is not None)
    return out


def network_route(estimates: List[Dict], reference: int = 0,
                  classes: Optional[List[str]] = None,
                  calibration: Optional[Dict] = None, observations: Optional[List] = None,
                  estimator=None, nH: float = 0.0, n_boot: int = 0, seed: int = 0) -> Dict:
    """The parameter network's estimates compared (module docstring). With ``n_boot`` > 0,
    the ``observations`` (on the ``estimator``'s grid) and the Galactic column ``nH``: the
    bias, errors and p from ``n_boot`` pairs simulated through the observations' own
    responses (:mod:`.bootstrap`). Otherwise: ``classes``, each observation's count class
    (the RIM's ``band_class``); ``calibration``, the parameter network's
    ``crosscal_null_calibration`` (``null``: chi2 of null pairs of the validation ObsIDs
    per class; ``gain``: the factor on the gain's error per class)."""
    if n_boot and observations is not None and estimator is not None:
        return _network_simulated(estimates, observations, estimator, reference, nH, n_boot,
                                  seed)
    def coords(e):
        m, s = e["proposal"]["mean"], e["proposal"]["sd"]
        return np.asarray(m, float), np.asarray(s, float)     # ln kT, Z, z, ln norm
    mr, sr = coords(estimates[reference])
    how = ("p and gain error calibrated on null and shifted pairs of the validation ObsIDs"
           if calibration and calibration.get("null") and calibration.get("gain") else
           "p and gain error NOT calibrated (the chi2 distribution and the network's own widths where "
           "the manifest lacks either calibration)")
    out = {"observations": {}, "method": f"parameter network per observation (module "
                                         f"docstring); {how}"}
    chi_tot, dof_tot, ps = 0.0, 0, []
    order = list(CLASSES)
    null = (calibration or {}).get("null")
    for k, e in enumerate(estimates):
        if k == reference:
            continue
        m, s = coords(e)
        d = m - mr
        sd = np.hypot(s, sr)
        chi = float(np.sum((d / sd) ** 2))
        cls = (min(classes[k], classes[reference], key=order.index) if classes else None)
        factor = 1.0
        g = (calibration or {}).get("gain")
        if g and cls is not None:
            factor = float(g["classes"].get(cls, g["pooled"]))
        slope = (1.0 + mr[2]) / (1.0 + m[2])
        s_slope = factor * slope * float(np.hypot(sr[2] / (1 + mr[2]), s[2] / (1 + m[2])))
        p_chi2 = float(sps.chi2.sf(chi, 4))
        p_cal, p_how = (calibrated_p(chi, null, cls) if null and cls
                        else (None, "no null calibration"))
        out["observations"][k] = observation_entry(
            slope, s_slope, factor, chi, 4, p_chi2, p_cal, p_how,
            area_ratio=float(np.exp(d[3])), sigma_ln_area=float(sd[3]))
        chi_tot += chi
        dof_tot += 4
        ps.append(out["observations"][k]["p"])
    set_p(out, ps, chi_tot, dof_tot, bool(null) and bool(classes))
    return out


def _network_coords(estimator, S, R, sigma):
    """(n, 4): ln kT, abundance, redshift and ln of the absorbed photon flux the parameter
    network reads from a batch of inputs (S, sigma filled; R one response for all)."""
    m, _, scale = estimator.forward(S, R, sigma)
    return np.column_stack([m[:, :3], m[:, 3] + np.log(scale[:, 0])])


def _ln_slope(z_ref, z_obs):
    """The gain the parameter network reads, as ln slope: ln((1 + z_ref) / (1 + z_obs)) of
    the redshifts it measures in the reference and the other observation."""
    return np.log((1.0 + np.asarray(z_ref, float)) / (1.0 + np.asarray(z_obs, float)))


def _network_simulated(estimates, observations, estimator, reference, nH, n_boot, seed) -> Dict:
    """The network route with its null simulated through the pair's own responses."""
    from .bootstrap import calibrate, gain_estimate, null_source, pair_inputs
    col = float(nH or 0.0)
    obs_ref = observations[reference]
    out = {"observations": {}, "method": "parameter network per observation (module docstring); "
           f"bias, errors and p from {n_boot} pairs of one plasma simulated through the two "
           "observations' own responses (crosscal.bootstrap)"}
    u = np.vstack([_network_coords(estimator, S[None], o.R, s[None])
                   for o, (S, s) in ((o, network_input(o, col)) for o in observations)])
    chi_tot, dof_tot, ps = 0.0, 0, []
    for k, obs in enumerate(observations):
        if k == reference:
            continue
        props = [estimates[reference]["proposal"], estimates[k]["proposal"]]
        (S1, s1), (S2, s2), shifted = pair_inputs(obs_ref, obs, props, col, n_boot,
                                                  np.random.default_rng([seed, k, 0]))
        U1 = _network_coords(estimator, S1, obs_ref.R, s1)
        U2 = _network_coords(estimator, S2, obs.R, s2)
        cal = calibrate(u[k] - u[reference], U2 - U1)
        ln_slopes = _ln_slope(U1[:, 2], U2[:, 2])
        gains = [_ln_slope(U1[:len(Sg), 2], _network_coords(estimator, Sg, obs.R, sg)[:, 2])
                 for Sg, sg in shifted]        # gains, against U1's first rows
        gain = gain_estimate(_ln_slope(u[reference, 2], u[k, 2]), ln_slopes, gains)
        ln_area = float(u[k, 3] - u[reference, 3] - cal["bias"][3])
        out["observations"][k] = observation_entry(
            gain.pop("slope"), gain.pop("sigma_slope"), 1.0, cal["T"], 4,
            float(sps.chi2.sf(cal["T"], 4)), cal["p"],
            f"{cal['n']} pairs simulated through these two responses",
            area_ratio=float(np.exp(ln_area)), sigma_ln_area=float(cal["sd"][3]),
            null_source=null_source(props), **gain,
            bias={"ln_kT": float(cal["bias"][0]), "abundance": float(cal["bias"][1]),
                  "redshift": float(cal["bias"][2]), "ln_flux": float(cal["bias"][3]),
                  "slope": float(np.exp(ln_slopes.mean()) - 1.0)})
        chi_tot += cal["T"]
        dof_tot += 4
        ps.append(cal["p"])
    set_p(out, ps, chi_tot, dof_tot, True)
    return out


def redshift_of(estimate: Optional[Dict]) -> float:
    return 0.0 if estimate is None else float(max(estimate["redshift"]["median"], 0.0))
