"""Reading responses: OGIP PHA/ARF/RMF files (through Sherpa's readers) and the
data sets of a Sherpa session, into a dense :class:`~sherpa_rim.response.matrix.Response`.

Examples
--------
>>> from sherpa_rim.response import load_response
>>> rsp = load_response(pha="acisf07867_000N001_r0002_pha3.fits")   # doctest: +SKIP
>>> counts = rsp.fold(flux)                                          # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import pathlib
import warnings
from typing import Optional, Union

import numpy as np

from ..errors import DataError, MissingDependencyError, ResponseError
from .grid import rebin_matrix
from .matrix import Response, dense_rmf

log = logging.getLogger(__name__)

__all__ = ["load_response", "read_ogip", "read_spectrum", "response_from_data", "spectrum_header",
           "instrument_of"]

PathLike = Union[str, os.PathLike]


def _io():
    try:
        from sherpa.astro import io
    except ImportError as exc:    # pragma: no cover - sherpa is a core dependency
        raise MissingDependencyError(
            "sherpa_rim reads PHA/ARF/RMF files through Sherpa; install it with "
            "'pip install sherpa' (needs bison flex libfftw3-dev pkg-config)") from exc
    return io


def _quiet(fn, *args, **kwargs):
    """Call a Sherpa reader without its INFO chatter."""
    lg = logging.getLogger("sherpa")
    old = lg.level
    lg.setLevel(logging.WARNING)
    try:
        return fn(*args, **kwargs)
    finally:
        lg.setLevel(old)


def _read_logged(reader, path, **kwargs):
    """``reader(path)`` with the FITS reader's warnings (e.g. "may have been truncated") kept,
    for a file that reads, as log warnings (for one that does not, the caller's error says it)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = _quiet(reader, str(path), **kwargs)
    for w in seen:
        log.warning("%s: %s", pathlib.Path(path).name, w.message)
    return out


@contextlib.contextmanager
def _without_response_warnings():
    """Without Sherpa's "unable to read ARF/RMF" for a file a PHA header names: the caller
    either gives the file (arf= / rmf=) or gets this module's error that says so."""
    def flt(record):
        return not record.getMessage().startswith(("unable to read ARF", "unable to read RMF"))
    loggers = [logging.getLogger(n) for n in ("sherpa", "sherpa.astro.io", "sherpa.astro.io.io")]
    for lg in loggers:
        lg.addFilter(flt)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(flt)


def _stamp(path: pathlib.Path):
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=32)
def _read_cached(reader, path: str, size: int, mtime_ns: int):
    """An ARF or RMF read once per process (by Sherpa's ``reader``) for a given file state
    (size and mtime): callers get a shallow copy, so that one data set's notice filter never
    reaches another's."""
    return _read_logged(reader, path)


@contextlib.contextmanager
def _responses_through_cache(io):
    """Sherpa's ``read_pha`` reads the ARF / RMF of the header with the module's
    ``read_arf`` / ``read_rmf``: for its duration they read through :func:`_read_cached`
    (restored afterwards, whatever happens)."""
    real = io.read_arf, io.read_rmf

    def via(reader):
        def read(filename, *args, **kwargs):
            p = pathlib.Path(filename)
            if args or kwargs or not p.is_file():
                return reader(filename, *args, **kwargs)
            return copy.copy(_read_cached(reader, str(p), *_stamp(p)))
        return read
    io.read_arf, io.read_rmf = via(real[0]), via(real[1])
    try:
        yield
    finally:
        io.read_arf, io.read_rmf = real


def read_ogip(kind: str, path: PathLike, role: Optional[str] = None):
    """A Sherpa PHA / ARF / RMF object read from ``path`` (``role``: what the file is for,
    e.g. "bkg", named in the error when it is missing)."""
    path = pathlib.Path(path)
    if not path.exists():
        role = role or kind.lower()
        raise ResponseError(f"{kind} file {str(path)!r} does not exist; check the path "
                            f"(or pass {role}=... / --{role} explicitly)")
    io = _io()
    try:
        if kind == "PHA":
            # Sherpa's PHA reader also reads the ARF and RMF its header names: through the
            # same per-process cache (a catalogue's spectra share responses, and the caller
            # usually reads them again)
            with _responses_through_cache(io), _without_response_warnings():
                out = _read_logged(io.read_pha, path, use_errors=False, use_background=False)
        else:
            reader = {"ARF": io.read_arf, "RMF": io.read_rmf}[kind]
            out = copy.copy(_read_cached(reader, str(path), *_stamp(path)))
    except Exception as exc:     # noqa: BLE001 - re-raised with the fix
        if kind == "PHA" and "incompatible" in str(exc):
            # Sherpa reads the ARF/RMF a PHA header names, and refuses a mismatch
            raise ResponseError(f"spectrum {str(path)!r} does not match the response its header "
                                f"names ({exc}): their channels differ; pass the matching "
                                "rmf=PATH (--rmf) / arf=PATH (--arf)") from exc
        raise ResponseError(f"cannot read {str(path)!r} as an OGIP {kind} file ({exc}); "
                            f"check that it is a FITS {kind} (gzip is fine) and not truncated") from exc
    if isinstance(out, (list, tuple)):
        raise DataError(f"{str(path)!r} is a type II PHA file with {len(out)} spectra (e.g. grating "
                        "orders); sherpa_rim works on one spectrum: extract it first (CIAO "
                        "dmtype2split) or load it in Sherpa and pick one data set")
    return out


def _resolve_header_file(pha_path: pathlib.Path, value, keyword: str, kind: str
                         ) -> Optional[pathlib.Path]:
    """The file a PHA header keyword (ANCRFILE, RESPFILE) names, found as written, beside the
    PHA, or gzipped; None when the keyword is absent or says none. A keyword that names a
    file that is not there is an error (a spectrum without its ARF would be 300x too bright)."""
    if value is None:
        return None
    value = str(value).strip()
    if value.lower() in ("", "none", "null", "nan"):
        return None
    cand = [pathlib.Path(value), pha_path.parent / value, pha_path.parent / pathlib.Path(value).name]
    for c in cand:
        for suffix in ("", ".gz"):
            p = pathlib.Path(str(c) + suffix)
            if p.is_file():
                return p
    raise ResponseError(f"no {kind} for {str(pha_path)!r}: its {keyword} keyword is {value!r}, "
                        f"which is not a file next to it; pass {kind.lower()}=PATH "
                        f"(--{kind.lower()} PATH)")


def _check_pha(pha, rmf=None):
    counts = np.asarray(pha.counts, dtype=float)
    if not np.all(np.isfinite(counts)):
        bad = np.flatnonzero(~np.isfinite(counts))
        raise DataError(f"spectrum {pha.name!r} has NaN/inf counts in {bad.size} channels "
                        f"(first: channel {int(pha.channel[bad[0]])}); repair the file or "
                        "remove those channels (e.g. dmcopy with a channel filter)")
    if np.any(counts < 0):
        raise DataError(f"spectrum {pha.name!r} has negative counts; sherpa_rim needs the "
                        "source spectrum, not a background-subtracted one (keep the background "
                        "in its own file)")
    if rmf is not None and len(counts) != int(rmf.detchans):
        raise ResponseError(f"spectrum {pha.name!r} has {len(counts)} channels but the RMF "
                            f"{rmf.name!r} has DETCHANS={int(rmf.detchans)}; the RMF does not "
                            "belong to this spectrum: pass the matching rmf=...")


def _check_exposure(exposure, what):
    if exposure is None or not np.isfinite(float(exposure)) or float(exposure) <= 0:
        shown = exposure if exposure is None else float(exposure)
        raise DataError(f"{what} has EXPOSURE = {shown!r}: without a positive exposure its counts "
                        "cannot be turned into a flux; set EXPOSURE in the file (CIAO dmhedit) or "
                        "pass exposure= (seconds)")


def instrument_of(*objs) -> dict:
    """TELESCOP / INSTRUME / DETNAM from the first of ``objs`` (Sherpa RMF, ARF, PHA) whose
    header has them (upper case; empty strings when none does)."""
    out = {"telescop": "", "instrume": "", "detnam": ""}
    for o in objs:
        h = getattr(o, "header", None) or {}
        for k in out:
            if not out[k] and h.get(k.upper()) not in (None, ""):
                out[k] = str(h.get(k.upper())).strip().upper()
    return out


def _build(arf, rmf, exposure, areascal, name, meta=None, pha=None) -> Response:
    if rmf.e_min is None or rmf.e_max is None:
        raise ResponseError(f"RMF {rmf.name!r} has no EBOUNDS extension, so its channel energies "
                            "are unknown; use the RMF with its EBOUNDS (as the instrument pipeline "
                            "writes it)")
    r = dense_rmf(rmf)
    elo = np.asarray(rmf.energ_lo, dtype=float)
    ehi = np.asarray(rmf.energ_hi, dtype=float)
    if np.any(elo <= 0):
        # OGIP allows a first bin starting at 0 keV; Sherpa replaces it by a small value
        elo = elo.copy()
        elo[elo <= 0] = min(1e-10, 0.5 * ehi[0])
    if arf is not None:
        alo = np.asarray(arf.energ_lo, dtype=float)
        ahi = np.asarray(arf.energ_hi, dtype=float)
        spec = np.asarray(arf.specresp, dtype=float)
        if not np.all(np.isfinite(spec)) or np.any(spec < 0):
            raise ResponseError(f"ARF {arf.name!r} has NaN or negative SPECRESP; regenerate it")
        if alo.size == elo.size and np.allclose(alo, elo, rtol=1e-5) and np.allclose(ahi, ehi, rtol=1e-5):
            r = r * spec[None, :]
        else:
            overlap = min(ahi[-1], ehi[-1]) - max(alo[0], elo[0])
            if overlap <= 0:
                raise ResponseError(f"ARF {arf.name!r} ({alo[0]:.3g}-{ahi[-1]:.3g} keV) and RMF "
                                    f"{rmf.name!r} ({elo[0]:.3g}-{ehi[-1]:.3g} keV) do not overlap "
                                    "in energy: they belong to different instruments; pass the "
                                    "matching arf=/rmf=")
            if alo.size > elo.size:
                # As Sherpa does: the model lives on the finer ARF grid, is
                # multiplied by the ARF there and summed onto the RMF grid.
                w = rebin_matrix(alo, ahi, elo, ehi, "old")          # (arf, rmf)
                r = (r @ w.T) * spec[None, :]
                elo, ehi = alo, ahi
            else:
                # a coarser or shifted ARF: average its area over each RMF bin
                log.warning("ARF %s (%d bins) is coarser than RMF %s (%d bins): its area is "
                            "averaged over the RMF bins", arf.name, alo.size, rmf.name, elo.size)
                w = rebin_matrix(alo, ahi, elo, ehi, "new")
                r = r * (spec @ w)[None, :]
    nch = r.shape[0]
    clo = np.asarray(rmf.e_min, float)
    chi = np.asarray(rmf.e_max, float)
    offset = int(getattr(rmf, "offset", 1))
    meta = {**instrument_of(rmf, arf, pha), **dict(meta or {})}
    if exposure is None:                  # a bare ARF/RMF pair (no spectrum): per second
        meta["exposure_assumed"] = True
    return Response(matrix=r, energy_lo=elo, energy_hi=ehi, channel_lo=clo, channel_hi=chi,
                    channels=np.arange(offset, offset + nch),
                    exposure=1.0 if exposure is None else float(exposure),
                    areascal=areascal, name=name,
                    arf_name=None if arf is None else str(arf.name), rmf_name=str(rmf.name),
                    meta=meta)


def spectrum_header(path: pathlib.Path) -> dict:
    """The SPECTRUM extension header as a dict (empty if unreadable)."""
    from astropy.io import fits
    try:
        with fits.open(path) as hl:
            for h in hl[1:]:
                if (str(h.header.get("HDUCLAS1", "")).upper() == "SPECTRUM"
                        or h.name == "SPECTRUM"):
                    return dict(h.header)
            return dict(hl[1].header) if len(hl) > 1 else {}
    except Exception:   # noqa: BLE001 - Sherpa already read the file; keywords are optional
        return {}


def _areascal(pha):
    a = getattr(pha, "areascal", None)
    if a is None:
        return 1.0
    a = np.asarray(a, dtype=float)
    return float(a) if a.ndim == 0 else a


def load_response(pha: Optional[PathLike] = None, arf: Optional[PathLike] = None,
                  rmf: Optional[PathLike] = None, *, id=None, resp_id=None,
                  exposure: Optional[float] = None, check_counts: bool = True) -> Response:
    """Build the dense response of an observation.

    Parameters
    ----------
    pha : path, optional
        PHA file. The ARF and RMF are taken from its ANCRFILE/RESPFILE keywords
        when not given.
    arf, rmf : path, optional
        ARF and RMF files. An RMF is required (from the header or here); the
        ARF may be absent (an RMF that already includes the effective area).
    id : int or str, optional
        A Sherpa session data set id (``from sherpa.astro.ui import *``); its
        own ARF, RMF, exposure and AREASCAL are used.
    resp_id : int, optional
        Which response of the data set (default: the first).
    exposure : float, optional
        Exposure (s) when no PHA is given (otherwise the PHA's EXPOSURE).
    check_counts : bool
        Check the PHA counts for NaN/negative values.

    Returns
    -------
    Response
    """
    if id is not None:
        return _from_session(id, resp_id)
    if exposure is not None:
        _check_exposure(exposure, "exposure=")
    return _load_files(pha, arf, rmf, exposure, check_counts)[1]


def read_spectrum(pha: PathLike, arf: Optional[PathLike] = None, rmf: Optional[PathLike] = None,
                  exposure: Optional[float] = None, check_counts: bool = True):
    """A PHA file, read once, and its dense response: ``(DataPHA, Response)`` (ARF and RMF
    from the PHA's ANCRFILE/RESPFILE keywords unless given; see :func:`load_response`)."""
    return _load_files(pha, arf, rmf, exposure, check_counts)


def _load_files(pha, arf, rmf, exposure, check_counts):
    if pha is None and rmf is None:
        raise ResponseError("give a PHA file, an RMF file (and ARF), or a Sherpa data set id=")
    pha_obj = None
    expo = exposure
    ascal = 1.0
    meta = {}
    if pha is not None:
        pha_path = pathlib.Path(pha)
        pha_obj = read_ogip("PHA", pha_path)
        hdr = spectrum_header(pha_path)
        if hdr:
            if rmf is None:
                rmf = _resolve_header_file(pha_path, hdr.get("RESPFILE"), "RESPFILE", "RMF")
            if arf is None:
                arf = _resolve_header_file(pha_path, hdr.get("ANCRFILE"), "ANCRFILE", "ARF")
            meta["obsid"] = str(hdr.get("OBS_ID", "") or "")
            meta["object"] = str(hdr.get("OBJECT", "") or "")
        if rmf is None:
            raise ResponseError(f"no RMF for {str(pha_path)!r}: its header names none (RESPFILE); "
                                "pass rmf=PATH (--rmf PATH)")
        expo = pha_obj.exposure if exposure is None else exposure
        _check_exposure(expo, f"spectrum {str(pha_path)!r}")
        ascal = _areascal(pha_obj)
    rmf_obj = read_ogip("RMF", rmf)
    arf_obj = read_ogip("ARF", arf) if arf is not None else None
    if pha_obj is not None and check_counts:
        _check_pha(pha_obj, rmf_obj)
    if expo is None and arf_obj is not None:
        expo = arf_obj.exposure
    name = str(pha) if pha is not None else str(rmf)
    rsp = _build(arf_obj, rmf_obj, expo, ascal, name, meta, pha_obj)
    rsp.meta["_arf_obj"], rsp.meta["_rmf_obj"] = arf_obj, rmf_obj   # for fits outside a session
    return pha_obj, rsp


def _from_session(id, resp_id=None) -> Response:
    from sherpa.astro import ui

    try:
        data = ui.get_data(id)
    except Exception as exc:    # noqa: BLE001
        raise ResponseError(f"no data set {id!r} in the Sherpa session; load it first "
                            f"(load_pha({id!r}, 'spec.pi'))") from exc
    return response_from_data(data, resp_id, label=f"data set {id!r}", id=id)


def response_from_data(data, resp_id=None, label=None, id=None) -> Response:
    """The dense response of a Sherpa ``DataPHA`` object (its own ARF, RMF, exposure and
    AREASCAL): the same as ``load_response(id=...)`` for a data set outside the UI session
    (the object API, ``sherpa.fit.Fit``)."""
    label = label or f"spectrum {getattr(data, 'name', '')!r}"
    hint = id if id is not None else 1
    if not hasattr(data, "response_ids"):
        raise ResponseError(f"{label} is not a PHA spectrum; sherpa_rim needs load_pha()")
    ids = list(data.response_ids)
    if not ids:
        raise ResponseError(f"{label} has no response; use load_rmf({hint!r}, 'file.rmf') "
                            f"and load_arf({hint!r}, 'file.arf')")
    if resp_id is None and len(ids) > 1:
        raise ResponseError(f"{label} has {len(ids)} responses (e.g. grating orders): sherpa_rim "
                            "uses one; pass resp_id= (one of {ids}) or load the spectrum with one "
                            "response".replace("{ids}", str(ids)))
    rid = ids[0] if resp_id is None else resp_id
    arf, rmf = data.get_response(rid)
    if rmf is None:
        raise ResponseError(f"{label} has an ARF but no RMF; use load_rmf({hint!r}, 'file.rmf')")
    _check_pha(data, rmf)
    _check_exposure(data.exposure, label)
    meta = {}
    if data.header is not None:
        meta["obsid"] = str(data.header.get("OBS_ID", "") or "")
    return _build(arf, rmf, data.exposure, _areascal(data), str(data.name), meta, data)
