"""RIM deconvolution of an observed spectrum with its own response.

    res = deconvolve(id=1)                                   # a Sherpa data set
    res = deconvolve_files("spec.pi", arf=..., rmf=...)      # files
    res.energy_lo, res.energy_hi, res.flux, res.flux_lo, res.flux_hi
    res.write("out.fits")                                    # or .ecsv

The data are mapped onto the shipped model's canonical grid (its energy bins
and grouped PI channels), the response is regridded there and multiplied by
the exposure (and AREASCAL), so that F comes out in photons/cm^2/s per bin
(:mod:`sherpa_rim.observation`). Channels the user ignored get no weight (infinite
noise). The band is the spread of the network over Poisson resamplings of the data (one
ONNX Runtime batch), scaled per count class and energy bin so that it covers the truth at
its stated rate on the validation ObsIDs (:mod:`sherpa_rim.rim.band`): ``flux_lo/hi`` the
68 % band, ``flux_lo90/hi90`` the 90 % one, ``bands`` the same for broad-band fluxes.

After the network, a data-consistency step (:mod:`sherpa_rim.rim.consistency`) refines
the reconstruction against the data; ``refine=False`` gives the bare network output.
"""
from __future__ import annotations

import logging
from typing import Optional

import numpy as np

from ..amortised.dae import fill_ignored
from ..errors import GridError
from ..observation import (IGNORED_SIGMA, Observation, check_column, galactic_column,
                           observation_from_files, observation_from_session)
from ..response.grid import CanonicalGrid
from ..runtime import check_applicable, open_model, shared
from .band import calibrated_band, calibration, count_class, refold_pvalue
from .checks import prior_checks
from .consistency import data_consistency
from .result import DeconvolutionResult

log = logging.getLogger(__name__)

__all__ = ["RIMDeconvolver", "deconvolve", "deconvolve_files"]


class RIMDeconvolver:
    """The shipped RIM behind an ONNX Runtime session (opened once, reused)."""

    def __init__(self, name: str = "rim_default", providers=None, folder=None):
        self.session = open_model(name, folder=folder, providers=providers)
        e = self.session.entry
        self.grid = CanonicalGrid.from_dict(e["grid"])
        self.name = name

    def run(self, S, R, sigma, batch: int = 256, refine: bool = True,
            statistic: str = "chi2") -> np.ndarray:
        """F for arrays S (B, C), R (B, C, E) or (C, E), sigma (B, C).

        ``refine``: apply :func:`data_consistency` with ``statistic`` ('chi2' for data
        with Gaussian noise ``sigma``, 'cash' for counts) after the network."""
        S = np.atleast_2d(np.asarray(S, np.float32))
        sigma = np.atleast_2d(np.asarray(sigma, np.float32))
        R = np.asarray(R, np.float32)
        if R.ndim == 2:
            R = np.broadcast_to(R, (S.shape[0],) + R.shape)
        C, E = self.grid.n_channels, self.grid.n_energy
        if S.shape[1] != C or R.shape[1:] != (C, E):
            raise GridError(f"inputs have {S.shape[1]} channels / response {R.shape[1:]}, the "
                            f"model {self.name} expects {C} channels and ({C}, {E}); map the data "
                            "with prepare_observation() first")
        out = []
        for s in range(0, S.shape[0], batch):
            sl = slice(s, s + batch)
            res = self.session.run({"S": S[sl], "R": np.ascontiguousarray(R[sl]),
                                    "sigma": sigma[sl]})
            out.append(res["F"])
        F = np.concatenate(out).astype(float)
        if refine:
            F = data_consistency(F, S, R, sigma, self.grid.energy_lo, self.grid.energy_hi,
                                 statistic=statistic)
        return F

    def reconstruct(self, obs: Observation, n_samples: int = 32, seed: int = 0,
                    nH: Optional[float] = None):
        """(F, samples): the reconstruction of ``obs`` and of ``n_samples`` parametric-bootstrap
        copies of it (one batch), before any calibration or check."""
        rng = np.random.default_rng(seed)
        draws, sig_draws = _resample(obs, n_samples, rng)
        # ignored channels carry no weight (infinite noise); their counts are filled by the
        # DAE so that the network's starting point sees a whole spectrum, as in training
        fill = fill_ignored(obs, nH or 0.0)
        draws = np.where(obs.noticed, draws, fill)
        S_all = np.vstack([np.where(obs.noticed, obs.S, fill)[None, :], draws])
        sig_all = np.vstack([obs.sigma[None, :], np.where(obs.noticed, sig_draws, IGNORED_SIGMA)])
        # counts without a subtracted background: Poisson likelihood in the refinement
        stat = "cash" if obs.background is None and obs.noise == "poisson" else "chi2"
        F_all = self.run(S_all, obs.R, sig_all, statistic=stat)
        return F_all[0], F_all[1:]

    def deconvolve(self, obs: Observation, n_samples: int = 32, seed: int = 0,
                   nH: Optional[float] = None, allow_instrument: bool = False,
                   checks: bool = True) -> DeconvolutionResult:
        """``nH``: the Galactic column (1e22 cm^-2) when known; the out-of-prior check then
        holds it fixed in its plasma fits (the training prior includes absorption up to
        1e21 cm^-2), and the DAE uses it to fill ignored channels. A response of another
        instrument than the network's training responses is refused unless
        ``allow_instrument`` (then every output carries a warning). ``checks=False`` skips
        the out-of-prior plasma fits (the goodness of fit is always computed)."""
        if nH is not None:
            nH = float(check_column(nH))
        if int(n_samples) < 2:
            raise ValueError(f"n_samples = {n_samples}: the band needs at least 2 resamplings "
                             "(32 by default)")
        applicable = check_applicable(self.session.entry, self.name, obs.meta, obs.counts_noticed,
                                      allow_instrument)
        F, samples = self.reconstruct(obs, n_samples, seed, nH)
        cal = calibration(self.session.entry)
        cls = count_class(obs.counts_noticed, obs.noise)
        band = calibrated_band(F, samples, self.grid.energy_lo, self.grid.energy_hi, cal, cls)
        refolded = obs.R @ F
        m = obs.noticed
        chi2 = float((((obs.S - refolded) / obs.sigma)[m] ** 2).sum())
        dof = int(m.sum())
        b = 0.0 if obs.background is None else obs.background
        gof = refold_pvalue(obs.S + b, refolded + b, m, cal, cls, obs.noise, obs.sigma)
        if checks:
            warnings, inside = prior_checks(gof, obs, nH)
        else:
            warnings, inside = [], None
        warnings = applicable + warnings + list(obs.meta.get("notes", []))
        e = self.session.entry
        return DeconvolutionResult(
            energy_lo=self.grid.energy_lo, energy_hi=self.grid.energy_hi, flux=F,
            flux_lo=band["lo68"], flux_hi=band["hi68"], refolded=refolded, data=obs.S,
            sigma=obs.sigma, noticed=m, channel_lo=self.grid.channel_lo,
            channel_hi=self.grid.channel_hi, chi2=chi2, dof=dof, model_name=self.name,
            model_sha256=e["sha256"], provider=self.session.provider, exposure=obs.exposure,
            name=obs.name, samples=samples, warnings=warnings, in_prior=inside,
            flux_lo90=band["lo90"], flux_hi90=band["hi90"], bands=band["bands"], band_class=cls,
            gof=gof)


def deconvolve(id=1, model: str = "rim_default", n_samples: int = 32, seed: int = 0,
               providers=None, nH: Optional[float] = None,
               allow_instrument: bool = False) -> DeconvolutionResult:
    """Deconvolve a Sherpa data set with the shipped RIM (see the module docstring).

    ``id``: a session data set id, or a ``DataPHA`` object (the object API). ``nH``: the
    Galactic column (1e22 cm^-2); when not given it is read from a Galactic absorber in the
    data set's source expression (``mmabs``, ``xsphabs``, ...), if any."""
    dec = shared(RIMDeconvolver, model, providers)
    obs = observation_from_session(id, dec.grid)
    if nH is None:
        nH = galactic_column(id)
    return dec.deconvolve(obs, n_samples=n_samples, seed=seed, nH=nH,
                          allow_instrument=allow_instrument)


def deconvolve_files(pha, arf=None, rmf=None, bkg=None, model: str = "rim_default",
                     n_samples: int = 32, seed: int = 0, providers=None,
                     nH: Optional[float] = None, allow_instrument: bool = False) -> DeconvolutionResult:
    """Deconvolve a PHA file (ARF/RMF from its header unless given; ``bkg`` a background PHA,
    scaled as Sherpa scales it); ``nH`` the Galactic column (1e22 cm^-2) when known."""
    dec = shared(RIMDeconvolver, model, providers)
    obs = observation_from_files(pha, arf=arf, rmf=rmf, bkg=bkg, grid=dec.grid)
    return dec.deconvolve(obs, n_samples=n_samples, seed=seed, nH=nH,
                          allow_instrument=allow_instrument)


def _resample(obs: Observation, n: int, rng):
    """``n`` parametric-bootstrap copies of the (background-subtracted) counts and their
    noise: the source region's counts ~ Poisson(S + b), the background ~ r Poisson(b / r)
    with r = var_b / b per channel, the noise sqrt(total + r b*) of each copy."""
    if obs.noise == "gaussian":
        return obs.S + obs.sigma * rng.standard_normal((n, obs.S.size)), np.broadcast_to(
            obs.sigma, (n, obs.S.size))
    if obs.background is None:
        draws = rng.poisson(np.clip(obs.S, 0, None), size=(n, obs.S.size)).astype(float)
        return draws, np.sqrt(np.maximum(draws, 1.0))
    b = obs.background
    r = np.where(b > 0, obs.background_var / np.maximum(b, 1e-300), 1.0)
    total = rng.poisson(np.clip(obs.S + b, 0, None), size=(n, b.size)).astype(float)
    bstar = r * rng.poisson(np.clip(b / r, 0, None), size=(n, b.size))
    return total - bstar, np.sqrt(np.maximum(total + r * bstar, 1.0))
