"""Simulated observations S = R F + noise for training, tests and benchmarks.

* intrinsic spectra F from the CIE emission model (one or two temperatures,
  optional Galactic absorption) on the canonical energy grid;
* responses from the real library, augmented (ARF x RMF cross-pairs, smooth
  contamination-like ARF changes, gain and resolution jitter) and **split by
  ObsID** into train / validation / test, so test responses are never seen in
  training;
* noise: Gaussian at a signal-to-noise ratio (SNR = peak expected counts / sigma,
  constant sigma per channel), or Poisson counts from an exposure, with an
  optional background.

Everything is reproducible from the configuration and seed written with each set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pathlib
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .errors import DataError
from .response import CanonicalGrid, rebin_matrix

log = logging.getLogger(__name__)

__all__ = ["RIM_GRID", "rim_grid", "SimConfig", "ResponseSet", "BaseComponents", "base_components",
           "build_response_sets",
           "split_groups", "sample_parameters", "intrinsic_spectra", "add_noise", "simulate",
           "write_set", "read_set"]


def rim_grid(n_energy: int = 200, e_min: float = 0.3, e_max: float = 10.0,
             channel_group: int = 2) -> CanonicalGrid:
    """The canonical grid of the shipped networks.

    ``n_energy`` log-spaced model bins over [e_min, e_max] keV, and the ACIS PI
    channels covering the same band grouped by ``channel_group`` (14.6 eV each).
    """
    edges = np.geomspace(e_min, e_max, n_energy + 1)
    first = int(np.floor(e_min / 0.0146))
    last = int(np.ceil(e_max / 0.0146))
    ch = np.arange(first, last + 1, channel_group) * 0.0146
    return CanonicalGrid(edges[:-1], edges[1:], ch[:-1], ch[1:])


RIM_GRID = rim_grid()


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------
@dataclass
class ResponseSet:
    """Responses on one canonical grid: ``matrices`` (N, n_channels, n_energy) in cm^2."""

    matrices: np.ndarray
    names: List[str]
    groups: List[str]
    split: str
    grid: CanonicalGrid

    def __len__(self):
        return self.matrices.shape[0]


def split_groups(groups: Sequence[str], fractions=(0.7, 0.15, 0.15), seed: int = 0
                 ) -> Dict[str, List[str]]:
    """Assign whole groups (ObsIDs) to train / val / test. No group is in two splits."""
    uniq = sorted(set(groups))
    rng = np.random.default_rng(seed)
    order = list(rng.permutation(uniq))
    n = len(order)
    n_test = max(1, int(round(fractions[2] * n)))
    n_val = max(1, int(round(fractions[1] * n)))
    return {"test": sorted(order[:n_test]), "val": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


def _base_components(pairs, grid: CanonicalGrid):
    """Per pair: RMF probabilities and ARF area, each regridded to ``grid``."""
    from .response import dense_rmf, _read  # noqa: PLC0415

    out = []
    for p in pairs:
        rmf = _read("RMF", p.rmf)
        r = dense_rmf(rmf)
        elo, ehi = np.asarray(rmf.energ_lo, float), np.asarray(rmf.energ_hi, float)
        elo = np.where(elo <= 0, 1e-10, elo)
        clo = np.asarray(rmf.e_min, float)
        chi = np.asarray(rmf.e_max, float)
        we = rebin_matrix(elo, ehi, grid.energy_lo, grid.energy_hi, "new")
        qc = rebin_matrix(clo, chi, grid.channel_lo, grid.channel_hi, "old")
        rmf_can = qc.T @ r @ we                                   # (chan, energy)
        if p.arf is not None:
            arf = _read("ARF", p.arf)
            alo, ahi = np.asarray(arf.energ_lo, float), np.asarray(arf.energ_hi, float)
            area = np.asarray(arf.specresp, float) @ rebin_matrix(
                alo, ahi, grid.energy_lo, grid.energy_hi, "new")
        else:
            area = np.ones(grid.n_energy)
        out.append((rmf_can, area))
    return out


def _augment(rmf, area, rng, grid: CanonicalGrid, strength: float = 1.0):
    """One augmented response: contamination-like ARF change, gain and resolution jitter."""
    e = 0.5 * (grid.energy_lo + grid.energy_hi)
    # ACIS contamination build-up: extra absorption rising steeply to low energy
    tau0 = rng.uniform(0.0, 0.6) * strength
    area = area * np.exp(-tau0 * (e / 0.5) ** -2.5)
    # smooth multiplicative ripple (calibration-level, few per cent)
    amp = rng.normal(0, 0.02 * strength, 3)
    x = np.log(e / e[0]) / np.log(e[-1] / e[0])
    area = area * (1 + amp[0] * np.sin(np.pi * x) + amp[1] * np.sin(2 * np.pi * x)
                   + amp[2] * (x - 0.5))
    # gain jitter: channel energies scaled by (1 + g)
    g = rng.normal(0, 0.005 * strength)
    c = 0.5 * (grid.channel_lo + grid.channel_hi)
    src = c / (1 + g)
    idx = np.interp(src, c, np.arange(c.size))
    lo = np.clip(np.floor(idx).astype(int), 0, c.size - 1)
    hi = np.clip(lo + 1, 0, c.size - 1)
    f = idx - lo
    rmf = rmf[lo] * (1 - f)[:, None] + rmf[hi] * f[:, None]
    # resolution jitter: extra Gaussian blur along channels (sigma up to ~1 channel)
    s = abs(rng.normal(0, 0.6 * strength))
    if s > 0.05:
        k = np.arange(-4, 5)
        ker = np.exp(-0.5 * (k / s) ** 2)
        ker /= ker.sum()
        pad = np.pad(rmf, ((4, 4), (0, 0)), mode="edge")
        rmf = sum(ker[i] * pad[i:i + rmf.shape[0]] for i in range(ker.size))
    return rmf * np.clip(area, 0, None)[None, :]


@dataclass
class BaseComponents:
    """Real ARF/RMF pairs regridded to a canonical grid, kept apart so that they can
    be cross-paired: ``rmf`` (P, n_channels, n_energy) probabilities, ``area`` (P, n_energy) cm^2."""

    rmf: np.ndarray
    area: np.ndarray
    keys: List[str]
    groups: List[str]
    grid: CanonicalGrid

    def save(self, path):
        np.savez_compressed(path, rmf=self.rmf.astype(np.float32), area=self.area,
                            keys=np.array(self.keys), groups=np.array(self.groups),
                            **self.grid.to_dict())

    @classmethod
    def load(cls, path) -> "BaseComponents":
        d = np.load(path)
        grid = CanonicalGrid(d["energy_lo"], d["energy_hi"], d["channel_lo"], d["channel_hi"])
        return cls(d["rmf"], d["area"], [str(k) for k in d["keys"]], [str(g) for g in d["groups"]], grid)


def base_components(library=None, grid: CanonicalGrid = RIM_GRID) -> BaseComponents:
    """Read every distinct real ARF/RMF pair (needs Sherpa's FITS readers)."""
    from .library import ResponseLibrary

    lib = ResponseLibrary.default() if library is None else library
    pairs = _unique_pairs([p for p in lib.pairs if p.arf is not None])
    comps = _base_components(pairs, grid)
    return BaseComponents(np.array([c[0] for c in comps]), np.array([c[1] for c in comps]),
                          [p.key for p in pairs], [p.group for p in pairs], grid)


def build_response_sets(library=None, grid: CanonicalGrid = RIM_GRID, n_total: int = 1000,
                        seed: int = 0, fractions=(0.7, 0.15, 0.15),
                        base: Optional[BaseComponents] = None) -> Dict[str, ResponseSet]:
    """About ``n_total`` distinct responses, split by ObsID into train/val/test.

    Within each split: every real pair, every ARF x RMF cross-pair of that
    split, and augmented copies of them, until the split holds its share.
    """
    base = base_components(library, grid) if base is None else base
    grid = base.grid
    split = split_groups(base.groups, fractions, seed)
    rng = np.random.default_rng(seed)
    sets = {}
    for name, frac in zip(("train", "val", "test"), fractions):
        members = [i for i, g in enumerate(base.groups) if g in split[name]]
        target = max(len(members), int(round(n_total * frac)))
        mats, names, grps = [], [], []
        for i in members:                            # the real pairs, unchanged
            mats.append(base.rmf[i] * base.area[i][None, :])
            names.append(base.keys[i])
            grps.append(base.groups[i])
        cross = [(i, j) for i in members for j in members if i != j]
        while len(mats) < target:
            if cross and rng.random() < 0.5:
                i, j = cross[rng.integers(len(cross))]      # ARF of i with RMF of j
                rmf, area = base.rmf[j], base.area[i]
                tag = f"{base.keys[i]}|arf+{base.keys[j]}|rmf"
                grp = f"{base.groups[i]}+{base.groups[j]}"
            else:
                i = members[rng.integers(len(members))]
                rmf, area = base.rmf[i], base.area[i]
                tag = base.keys[i]
                grp = base.groups[i]
            mats.append(_augment(rmf.astype(float), area, rng, grid))
            names.append(f"{tag}#aug{len(mats)}")
            grps.append(grp)
        sets[name] = ResponseSet(np.asarray(mats, dtype=np.float32), names, grps, name, grid)
    _check_no_leak(sets)
    return sets


def _file_digest(path) -> str:
    import gzip
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return hashlib.sha256(raw).hexdigest()


def _unique_pairs(pairs):
    """Drop pairs whose ARF and RMF contents both repeat an earlier pair
    (the same archive files reach the library through several sources)."""
    seen, out = set(), []
    for p in pairs:
        key = (_file_digest(p.arf), _file_digest(p.rmf))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _check_no_leak(sets: Dict[str, ResponseSet]):
    seen = {}
    for name, s in sets.items():
        for g in s.groups:
            for part in g.split("+"):
                if part in seen and seen[part] != name:
                    raise RuntimeError(f"ObsID group {part} is in both {seen[part]} and {name}")
                seen[part] = name


# ---------------------------------------------------------------------------
# Intrinsic spectra
# ---------------------------------------------------------------------------
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
    from .emission import spectrum_batch
    from .emission.absorption import grid_transmission

    lo, hi = grid.energy_lo, grid.energy_hi
    f = spectrum_batch(params["kT"], params["abundance"], params["redshift"], params["norm"], lo, hi)
    two = params["frac2"] > 0
    if np.any(two):
        f2 = spectrum_batch(params["kT2"][two], params["abundance"][two], params["redshift"][two],
                            params["norm"][two], lo, hi)
        w = params["frac2"][two][:, None]
        f[two] = (1 - w) * f[two] + w * f2
    if np.any(params["nH"] > 0):
        f *= grid_transmission(params["nH"], lo, hi)
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


# ---------------------------------------------------------------------------
# I/O
# ---------------------------------------------------------------------------
def write_set(folder, cfg: SimConfig, data: Dict[str, np.ndarray], responses: ResponseSet,
              shard_size: int = 10_000, overwrite: bool = False) -> List[pathlib.Path]:
    """Write ``data`` as npz shards plus ``config.json`` and the responses."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg_path = folder / f"{cfg.split}_config.json"
    if cfg_path.exists() and not overwrite:
        raise FileExistsError(f"{cfg_path} exists; pass overwrite=True (--force) or another folder")
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


def check_spectrum(S, sigma=None):
    """Refuse NaN or (for counts) negative data with a message that names the fix."""
    S = np.asarray(S, float)
    if not np.all(np.isfinite(S)):
        raise DataError("spectrum has NaN/inf values; remove or repair those channels")
    if sigma is not None and np.any(np.asarray(sigma) <= 0):
        raise DataError("noise sigma must be > 0 in every channel")
