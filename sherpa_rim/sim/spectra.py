"""Simulated observations S = R F + noise for training, tests and benchmarks.

* intrinsic spectra F from the CIE emission model (one or two temperatures,
  optional Galactic absorption) on the canonical energy grid;
* responses from :mod:`sherpa_rim.sim.responses` (real, cross-paired, augmented,
  split by ObsID);
* noise: Gaussian at a signal-to-noise ratio (SNR = peak expected counts / sigma,
  constant sigma per channel), or Poisson counts from an exposure, with an
  optional background.

Everything is reproducible from the configuration and seed written with each set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..emission import spectrum_batch
from ..errors import DataError
from ..emission.absorption import transmission
from ..response.grid import CanonicalGrid, rim_grid
from .responses import ResponseSet, build_response_sets

__all__ = ["SimConfig", "sample_parameters", "intrinsic_spectra", "add_noise", "simulate",
           "write_set", "read_set"]


@dataclass
class SimConfig:
    """What a simulated set contains (written with every set)."""

    n: int = 10_000
    split: str = "train"
    seed: int = 0
    kT_range: Tuple[float, float] = (0.5, 8.0)          # keV, log-uniform
    abundance_range: Tuple[float, float] = (0.2, 1.2)   # solar, uniform
    redshift_range: Tuple[float, float] = (0.0, 0.25)   # uniform
    nH_range: Tuple[float, float] = (0.0, 0.0)          # 1e22 cm^-2, uniform (0: none)
    two_temperature_fraction: float = 0.0               # fraction of spectra with a second phase
    noise: str = "gaussian"                              # 'gaussian' or 'poisson'
    snr_range: Tuple[float, float] = (30.0, 100.0)      # gaussian: peak counts / sigma
    counts_range: Tuple[float, float] = (3e3, 3e5)      # poisson: total expected counts, log-uniform
    background_fraction: float = 0.0                     # poisson: background / source counts
    n_responses: int = 1000
    response_seed: int = 0
    grid: Dict = field(default_factory=lambda: {"n_energy": 200, "e_min": 0.3, "e_max": 10.0,
                                                 "channel_group": 2})

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def sample_parameters(cfg: SimConfig, rng) -> Dict[str, np.ndarray]:
    n = cfg.n
    lo, hi = np.log(cfg.kT_range[0]), np.log(cfg.kT_range[1])
    p = {
        "kT": np.exp(rng.uniform(lo, hi, n)),
        "abundance": rng.uniform(*cfg.abundance_range, n),
        "redshift": rng.uniform(*cfg.redshift_range, n),
        "nH": rng.uniform(*cfg.nH_range, n),
        "norm": np.ones(n),
        "kT2": np.zeros(n),
        "frac2": np.zeros(n),
    }
    two = rng.random(n) < cfg.two_temperature_fraction
    p["kT2"][two] = np.clip(p["kT"][two] * np.exp(rng.uniform(np.log(1.5), np.log(4.0), two.sum())),
                            *cfg.kT_range)
    p["frac2"][two] = rng.uniform(0.2, 0.8, two.sum())
    return p


def intrinsic_spectra(params: Dict[str, np.ndarray], grid: CanonicalGrid) -> np.ndarray:
    """Photon flux per canonical energy bin (photons/cm^2/s), shape (N, n_energy)."""
    lo, hi = grid.energy_lo, grid.energy_hi
    f = spectrum_batch(params["kT"], params["abundance"], params["redshift"], params["norm"], lo, hi)
    two = params["frac2"] > 0
    if np.any(two):
        f2 = spectrum_batch(params["kT2"][two], params["abundance"][two], params["redshift"][two],
                            params["norm"][two], lo, hi)
        w = params["frac2"][two][:, None]
        f[two] = (1 - w) * f[two] + w * f2
    if np.any(params["nH"] > 0):
        f *= transmission(params["nH"], lo, hi, rule="centre")
    return f


def add_noise(expected: np.ndarray, cfg: SimConfig, rng) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noisy spectra. Returns (S, sigma, scale): the data, their per-channel noise
    sigma, and the factor by which F was scaled (expected = scale * R F)."""
    n = expected.shape[0]
    if cfg.noise == "gaussian":
        snr = rng.uniform(*cfg.snr_range, n)
        sigma = (expected.max(axis=1) / snr)[:, None] * np.ones_like(expected)
        s = expected + sigma * rng.standard_normal(expected.shape)
        return s, sigma, np.ones(n)
    if cfg.noise == "poisson":
        tot = np.exp(rng.uniform(np.log(cfg.counts_range[0]), np.log(cfg.counts_range[1]), n))
        scale = tot / expected.sum(axis=1)
        lam = expected * scale[:, None]
        if cfg.background_fraction > 0:
            bkg = cfg.background_fraction * tot[:, None] / expected.shape[1]
            counts = rng.poisson(lam + bkg).astype(float) - bkg   # subtracted known background
            sigma = np.sqrt(np.maximum(lam + 2 * bkg, 1.0))
        else:
            counts = rng.poisson(lam).astype(float)
            sigma = np.sqrt(np.maximum(counts, 1.0))
        return counts, sigma, scale
    raise ValueError(f"noise must be 'gaussian' or 'poisson', not {cfg.noise!r}")


def simulate(cfg: SimConfig, responses: Optional[ResponseSet] = None, progress: bool = False
             ) -> Dict[str, np.ndarray]:
    """One simulated set as arrays: S, sigma, F (true, on the canonical grid, scaled
    to the data), response index, parameters."""
    if responses is None:
        responses = build_response_sets(grid=rim_grid(**cfg.grid), n_total=cfg.n_responses,
                                        seed=cfg.response_seed)[cfg.split]
    if len(responses) == 0:
        raise DataError(f"no {cfg.split} response to simulate with: the response library holds "
                        f"no real response of the {cfg.split} split (without ../shared/data/chandra "
                        "or $SHERPA_RIM_DATA, Sherpa's three ACIS sets are all training responses "
                        "of the shipped models); point SHERPA_RIM_DATA at a library")
    rng = np.random.default_rng([cfg.seed, ["train", "val", "test"].index(cfg.split)])
    params = sample_parameters(cfg, rng)
    ridx = rng.integers(len(responses), size=cfg.n)
    chunk = 2048
    S = np.empty((cfg.n, responses.grid.n_channels), np.float32)
    F = np.empty((cfg.n, responses.grid.n_energy), np.float32)
    SIG = np.empty_like(S)
    it = range(0, cfg.n, chunk)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=(cfg.n + chunk - 1) // chunk, unit="chunk", desc=f"simulate {cfg.split}")
    for s0 in it:
        sl = slice(s0, min(cfg.n, s0 + chunk))
        sub = {k: v[sl] for k, v in params.items()}
        f = intrinsic_spectra(sub, responses.grid)
        f /= f.sum(axis=1, keepdims=True)                # unit total photon flux
        mats = responses.matrices[ridx[sl]]
        expected = np.einsum("nce,ne->nc", mats, f.astype(np.float32))
        # a reference exposure: 1 count per unit area-flux, rescaled by the noise model
        data, sigma, scale = add_noise(expected.astype(np.float64), cfg, rng)
        S[sl] = data
        SIG[sl] = sigma
        F[sl] = f * scale[:, None]
    return {"S": S, "sigma": SIG, "F": F, "response_index": ridx.astype(np.int32),
            **{k: v.astype(np.float32) for k, v in params.items()}}


def write_set(folder, cfg: SimConfig, data: Dict[str, np.ndarray], responses: ResponseSet,
              shard_size: int = 10_000, overwrite: bool = False) -> List[pathlib.Path]:
    """Write ``data`` as npz shards plus ``config.json`` and the responses."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / f"{cfg.split}_config.json"
    if cfg_path.exists() and not overwrite:
        raise FileExistsError(f"{cfg_path} exists; pass overwrite=True (--clobber) or another folder")
    paths = []
    n = data["S"].shape[0]
    for k, s0 in enumerate(range(0, n, shard_size)):
        p = folder / f"{cfg.split}_{k:04d}.npz"
        np.savez(p, **{key: v[s0:s0 + shard_size] for key, v in data.items()})
        paths.append(p)
    np.savez(folder / f"{cfg.split}_responses.npz", matrices=responses.matrices,
             names=np.array(responses.names), groups=np.array(responses.groups),
             **{k: v for k, v in responses.grid.to_dict().items()})
    cfg_path.write_text(json.dumps({"config": json.loads(cfg.to_json()), "digest": cfg.digest(),
                                    "n": n, "shards": [p.name for p in paths],
                                    "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                   indent=1))
    return paths


def read_set(folder, split: str = "train") -> Tuple[Dict[str, np.ndarray], ResponseSet, dict]:
    folder = pathlib.Path(folder)
    meta = json.loads((folder / f"{split}_config.json").read_text())
    parts = [np.load(folder / s) for s in meta["shards"]]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0].files}
    r = np.load(folder / f"{split}_responses.npz")
    grid = CanonicalGrid(r["energy_lo"], r["energy_hi"], r["channel_lo"], r["channel_hi"])
    rs = ResponseSet(r["matrices"], list(r["names"]), list(r["groups"]), split, grid)
    return data, rs, meta
