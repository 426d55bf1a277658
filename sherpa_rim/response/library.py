"""A library of real Chandra responses (ARF + RMF pairs) and spectra.

Two sources:

* ``../shared/data/chandra`` (or ``$SHERPA_RIM_DATA``): files gathered from
  public archive products, described by ``MANIFEST.json`` (source repository,
  kind, ObsID, detector). ARFs and RMFs are paired by the PHA headers
  (ANCRFILE/RESPFILE) where a PHA names them, else by matching file stems
  (``x_arf3.fits``/``x_rmf3.fits``, ``x.warf``/``x.wrmf``, ``arfN``/``rmfN``).
* The three ACIS sets that pip-installed Sherpa ships in
  ``sherpa/astro/datastack/tests/data`` (usable without ``../shared``).

Examples
--------
>>> from sherpa_rim.response.library import ResponseLibrary
>>> lib = ResponseLibrary.default()
>>> [p.key for p in lib.pairs][:3]                      # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .ogip import load_response, spectrum_header

log = logging.getLogger(__name__)

__all__ = ["ResponsePair", "ResponseLibrary", "shared_data_dir", "sherpa_data_dir"]


def shared_data_dir() -> Optional[pathlib.Path]:
    """``$SHERPA_RIM_DATA`` or the ``shared/data/chandra`` folder beside the checkout."""
    env = os.environ.get("SHERPA_RIM_DATA")
    cands = [pathlib.Path(env)] if env else []
    here = pathlib.Path(__file__).resolve()
    for up in list(here.parents)[:5]:
        cands.append(up / "shared" / "data" / "chandra")
    cands.append(pathlib.Path.cwd().parent / "shared" / "data" / "chandra")
    for c in cands:
        if (c / "MANIFEST.json").is_file():
            return c
    return None


def sherpa_data_dir() -> Optional[pathlib.Path]:
    """The folder of real ACIS PHA/ARF/RMF files shipped inside pip Sherpa."""
    try:
        import sherpa.astro.datastack as ds
    except ImportError:     # pragma: no cover
        return None
    p = pathlib.Path(ds.__file__).parent / "tests" / "data"
    return p if p.is_dir() else None


@dataclass
class ResponsePair:
    """One ARF + RMF pair (and the PHA that uses them, when known)."""

    key: str
    arf: Optional[pathlib.Path]
    rmf: pathlib.Path
    pha: Optional[pathlib.Path] = None
    obsid: str = ""
    detnam: str = ""
    source: str = ""
    how: str = ""
    extra: Dict[str, str] = field(default_factory=dict)

    def load(self, **kwargs):
        """The dense :class:`~sherpa_rim.response.matrix.Response` of this pair."""
        with_pha = kwargs.pop("with_pha", True)
        if self.pha is not None and with_pha:
            return load_response(pha=self.pha, arf=self.arf, rmf=self.rmf, **kwargs)
        return load_response(arf=self.arf, rmf=self.rmf, **kwargs)

    @property
    def group(self) -> str:
        """The key a train/validation/test split groups by: the ObsID (or the pair key)."""
        return self.obsid if self.obsid and self.obsid.lower() != "merged" else f"pair:{self.key}"


_ARF_PAT = [(re.compile(r"_arf(\d*)(\.fits(\.gz)?)$"), r"_rmf\1\2"),
            (re.compile(r"\.warf$"), ".wrmf"),
            (re.compile(r"\.arf$"), ".rmf"),
            (re.compile(r"__arf(\d+|_\d+)?\.fits$"), r"__rmf\1.fits"),
            (re.compile(r"__arf\.fits$"), "__rmf.fits")]


def _strip_version(name: str) -> str:
    # duplicated versions are stored as "<name>.<8 hex>"
    return re.sub(r"\.[0-9a-f]{8}$", "", name)


def _rmf_name_for(arf_name: str) -> Optional[str]:
    base = _strip_version(arf_name)
    for pat, rep in _ARF_PAT:
        if pat.search(base):
            return pat.sub(rep, base)
    return None


def _pair_key(arf: Optional[str], rmf: str) -> str:
    """A readable unique key: the ARF's (or RMF's) stem, with version tags if any."""
    base = _strip_version(arf or rmf)
    stem = re.sub(r"(\.fits)?(\.gz)?$", "", base)
    stem = re.sub(r"\.(w?arf|w?rmf)$", "", stem)
    tags = [n[len(_strip_version(n)) + 1:] for n in (arf, rmf) if n and n != _strip_version(n)]
    return stem + ("@" + "+".join(tags) if tags else "")


class ResponseLibrary:
    """ARF/RMF pairs from the shared data folder and from Sherpa's own test data."""

    def __init__(self, pairs: List[ResponsePair], phas: Optional[List[pathlib.Path]] = None):
        self.pairs = pairs
        self.phas = phas or []

    def __len__(self):
        return len(self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    def __getitem__(self, key: str) -> ResponsePair:
        for p in self.pairs:
            if p.key == key:
                return p
        raise KeyError(f"no response pair {key!r}; known: {[p.key for p in self.pairs]}")

    # -- construction -----------------------------------------------------
    @classmethod
    def default(cls, shared: Optional[pathlib.Path] = None, include_sherpa: bool = True
                ) -> "ResponseLibrary":
        pairs: List[ResponsePair] = []
        phas: List[pathlib.Path] = []
        shared = shared_data_dir() if shared is None else pathlib.Path(shared)
        if shared is not None:
            lib = cls.from_manifest(shared)
            pairs += lib.pairs
            phas += lib.phas
        if include_sherpa:
            lib = cls.from_sherpa()
            pairs += lib.pairs
            phas += lib.phas
        if not pairs:
            log.warning("no response library found: neither ../shared/data/chandra "
                        "($SHERPA_RIM_DATA) nor Sherpa's test data")
        return cls(pairs, phas)

    @classmethod
    def from_sherpa(cls) -> "ResponseLibrary":
        d = sherpa_data_dir()
        if d is None:
            return cls([])
        sets = [("sherpa:3c273", "3c273.pi", "3c273.arf", "3c273.rmf", "459", "ACIS-7"),
                ("sherpa:acisf04938", "acisf04938_000N002_r0043_pha3.fits",
                 "acisf04938_000N002_r0043_arf3.fits", "acisf04938_000N002_r0043_rmf3.fits",
                 "4938", "ACIS-23"),
                ("sherpa:acisf07867", "acisf07867_000N001_r0002_pha3.fits",
                 "acisf07867_000N001_r0002_arf3.fits", "acisf07867_000N001_r0002_rmf3.fits",
                 "7867", "ACIS-7")]
        pairs = [ResponsePair(key=k, pha=d / p, arf=d / a, rmf=d / r, obsid=o, detnam=det,
                              source="sherpa (pip package test data)", how="shipped set")
                 for k, p, a, r, o, det in sets if (d / r).is_file()]
        return cls(pairs, [p.pha for p in pairs])

    @classmethod
    def from_manifest(cls, folder: pathlib.Path) -> "ResponseLibrary":
        folder = pathlib.Path(folder)
        entries = json.loads((folder / "MANIFEST.json").read_text())
        by_name = {e["file"]: e for e in entries if (folder / e["file"]).is_file()}
        arfs = [n for n, e in by_name.items() if e["kind"] == "ARF"]
        rmfs = {n for n, e in by_name.items() if e["kind"] == "RMF"}
        phas = [folder / n for n, e in by_name.items() if e["kind"] == "PHA"]
        pairs: Dict[tuple, ResponsePair] = {}

        def add(arf, rmf, how, pha=None):
            key = (arf, rmf)
            if key in pairs:
                if pha is not None and pairs[key].pha is None:
                    pairs[key].pha = folder / pha
                return
            ea = by_name.get(arf, {}) if arf else {}
            er = by_name[rmf]
            obsid = ea.get("obsid") or er.get("obsid") or ""
            pairs[key] = ResponsePair(
                key=_pair_key(arf, rmf),
                arf=folder / arf if arf else None, rmf=folder / rmf,
                pha=folder / pha if pha else None, obsid=str(obsid),
                detnam=ea.get("detnam") or er.get("detnam") or "",
                source=ea.get("repo") or er.get("repo") or "", how=how)

        # 1. PHA headers
        prefix_of = {n: n.split("__", 1)[0] for n in by_name}
        for pha in phas:
            try:
                hdr = spectrum_header(pha)
            except Exception:     # noqa: BLE001 - an unreadable PHA just gives no pairing
                continue
            pre = prefix_of[pha.name]

            def find(val):
                if not val or str(val).strip().lower() in ("none", ""):
                    return None
                base = pathlib.Path(str(val).strip()).name
                for cand in (f"{pre}__{base}", f"{pre}__{base}.gz"):
                    if cand in by_name:
                        return cand
                return None
            a, r = find(hdr.get("ANCRFILE")), find(hdr.get("RESPFILE"))
            if r is not None and r in rmfs:
                add(a, r, "PHA header", pha=pha.name)
        # 2. stems
        for arf in arfs:
            rn = _rmf_name_for(arf)
            if rn is None:
                continue
            cands = sorted(n for n in rmfs if _strip_version(n) == rn)
            if not cands:
                continue
            if any(k[0] is not None and _strip_version(k[0]) == _strip_version(arf)
                   and k[1] in cands for k in pairs) and arf == _strip_version(arf):
                # an unversioned ARF already paired through a header
                if any(k[0] == arf for k in pairs):
                    continue
            # versioned duplicates pair with versioned duplicates, plain with plain
            plain = [c for c in cands if c == _strip_version(c)]
            versioned = [c for c in cands if c != _strip_version(c)]
            pick = (versioned or plain) if arf != _strip_version(arf) else (plain or versioned)
            add(arf, pick[0], "file stem")
        out = sorted(pairs.values(), key=lambda p: p.key)
        return cls(out, phas)

    # -- splits -------------------------------------------------------------
    def groups(self) -> Dict[str, List[ResponsePair]]:
        g: Dict[str, List[ResponsePair]] = {}
        for p in self.pairs:
            g.setdefault(p.group, []).append(p)
        return g

    def describe(self) -> str:
        lines = [f"{len(self.pairs)} ARF/RMF pairs, {len(self.phas)} spectra"]
        for p in self.pairs:
            lines.append(f"  {p.key:55s} obsid={p.obsid or '-':7s} {p.detnam or '-':12s} ({p.how})")
        return "\n".join(lines)


