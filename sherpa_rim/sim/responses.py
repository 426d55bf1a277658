"""Responses for simulation: real ARF/RMF pairs regridded to a canonical grid, cross-paired
and augmented (smooth contamination-like ARF changes, gain and resolution jitter), and
**split by ObsID** into train / validation / test, so test responses are never seen in
training.
"""
from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..response.grid import RIM_GRID, CanonicalGrid, rebin_matrix
from ..response.library import ResponseLibrary
from ..response.matrix import dense_rmf
from ..response.ogip import read_ogip
from ..runtime import read_manifest

__all__ = ["ResponseSet", "BaseComponents", "base_components", "build_response_sets",
           "split_groups", "assign_split", "recorded_split", "SPLIT"]


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
    out = []
    for p in pairs:
        rmf = read_ogip("RMF", p.rmf)
        r = dense_rmf(rmf)
        elo, ehi = np.asarray(rmf.energ_lo, float), np.asarray(rmf.energ_hi, float)
        elo = np.where(elo <= 0, 1e-10, elo)
        clo = np.asarray(rmf.e_min, float)
        chi = np.asarray(rmf.e_max, float)
        we = rebin_matrix(elo, ehi, grid.energy_lo, grid.energy_hi, "new")
        qc = rebin_matrix(clo, chi, grid.channel_lo, grid.channel_hi, "old")
        rmf_can = qc.T @ r @ we                                   # (chan, energy)
        if p.arf is not None:
            arf = read_ogip("ARF", p.arf)
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
    digests: Optional[List[str]] = None      # "sha256(ARF):sha256(RMF)" per pair

    def save(self, path):
        extra = {} if self.digests is None else {"digests": np.array(self.digests)}
        np.savez_compressed(path, rmf=self.rmf.astype(np.float32), area=self.area,
                            keys=np.array(self.keys), groups=np.array(self.groups),
                            **extra, **self.grid.to_dict())

    @classmethod
    def load(cls, path) -> "BaseComponents":
        d = np.load(path)
        grid = CanonicalGrid(d["energy_lo"], d["energy_hi"], d["channel_lo"], d["channel_hi"])
        dig = [str(x) for x in d["digests"]] if "digests" in d.files else None
        return cls(d["rmf"], d["area"], [str(k) for k in d["keys"]], [str(g) for g in d["groups"]],
                   grid, dig)


def base_components(library=None, grid: CanonicalGrid = RIM_GRID) -> BaseComponents:
    """Read every distinct real ARF/RMF pair (needs Sherpa's FITS readers)."""
    lib = ResponseLibrary.default() if library is None else library
    pairs, digests = _unique_pairs([p for p in lib.pairs if p.arf is not None])
    comps = _base_components(pairs, grid)
    return BaseComponents(np.array([c[0] for c in comps]), np.array([c[1] for c in comps]),
                          [p.key for p in pairs], [p.group for p in pairs], grid, digests)


SPLIT = "obsid_v1"      # the split the shipped models were trained with (onnx_models/manifest.json)


def recorded_split(name: str = SPLIT, folder=None) -> Optional[dict]:
    """A train / val / test split recorded in the models' manifest: ``{"train": [groups],
    "val": [...], "test": [...], "pairs": [{"key", "group", "split", "arf_sha256",
    "rmf_sha256"}]}``, or None when the manifest holds none of that name."""
    return read_manifest(folder).get("splits", {}).get(name)


def assign_split(base: BaseComponents, split=None, fractions=(0.7, 0.15, 0.15),
                 seed: int = 0) -> Dict[str, List[str]]:
    """Groups (ObsIDs) of ``base`` per split.

    ``split=None``: the split the shipped models were trained with (:func:`recorded_split`),
    so that "held out" means held out from every shipped model: a recorded group keeps its
    split, a pair whose ARF and RMF digests match a recorded training pair is training
    whatever its group is called, and a group no model has seen is a test group.
    ``split="fresh"``: a new random split by ObsID (``seed``, ``fractions``), e.g. to train
    a new model on another library. A dict: that split."""
    if isinstance(split, str) and split == "fresh":
        return split_groups(base.groups, fractions, seed)
    rec = recorded_split() if split is None else split
    if rec is None:
        raise RuntimeError(f"no recorded split {SPLIT!r} in the models' manifest; pass "
                           "split='fresh' to draw one")
    where = {g: name for name in ("train", "val", "test") for g in rec[name]}
    trained = {(q["arf_sha256"], q["rmf_sha256"]) for q in rec.get("pairs", ())
               if q["split"] == "train"}
    out = {"train": set(), "val": set(), "test": set()}
    digests = base.digests or [None] * len(base.groups)
    forced = {g for g, d in zip(base.groups, digests)
              if d is not None and tuple(d.split(":")) in trained}
    for g in base.groups:
        out["train" if g in forced else where.get(g, "test")].add(g)
    return {k: sorted(v) for k, v in out.items()}


def build_response_sets(library=None, grid: CanonicalGrid = RIM_GRID, n_total: int = 1000,
                        seed: int = 0, fractions=(0.7, 0.15, 0.15),
                        base: Optional[BaseComponents] = None, split=None) -> Dict[str, ResponseSet]:
    """About ``n_total`` distinct responses, split by ObsID into train/val/test.

    The split is the one the shipped models were trained with (``split=None``; see
    :func:`assign_split`), so that val and test responses were in no model's training set.
    Within each split: every real pair, every ARF x RMF cross-pair of that split, and
    augmented copies of them, until the split holds its share. A split with no real
    response (e.g. test without ``../shared/data/chandra``: Sherpa's three ACIS sets are
    all training responses) is left empty.
    """
    base = base_components(library, grid) if base is None else base
    grid = base.grid
    split = assign_split(base, split, fractions, seed)
    rng = np.random.default_rng(seed)
    sets = {}
    for name, frac in zip(("train", "val", "test"), fractions):
        members = [i for i, g in enumerate(base.groups) if g in split[name]]
        if not members:
            sets[name] = ResponseSet(np.zeros((0, grid.n_channels, grid.n_energy), np.float32),
                                     [], [], name, grid)
            continue
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
    (the same archive files reach the library through several sources); return the
    pairs kept and their "sha256(ARF):sha256(RMF)" digests."""
    seen, out, digests = set(), [], []
    for p in pairs:
        key = (_file_digest(p.arf), _file_digest(p.rmf))
        if key not in seen:
            seen.add(key)
            out.append(p)
            digests.append(":".join(key))
    return out, digests


def _check_no_leak(sets: Dict[str, ResponseSet]):
    seen = {}
    for name, s in sets.items():
        for g in s.groups:
            for part in g.split("+"):
                if part in seen and seen[part] != name:
                    raise RuntimeError(f"ObsID group {part} is in both {seen[part]} and {name}")
                seen[part] = name
