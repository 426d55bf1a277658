#!/usr/bin/env python
"""Build the CIE emission table shipped in ``sherpa_rim/emission/data``.

Reads CHIANTI v9.0.1, plus, for the ions whose v9 collision strengths are absent from the
public mirror (``chianti-supplement-absent-ions.tar.gz``: Fe VIII-XIII, XVII, Ni XI, XV, XIX,
XXIV, Mg VIII, Si X, S XII, Ar XIV, Ca XVI, ...), the ``.splups`` of a pre-v8 release with that
release's own ``.elvlc`` and ``.wgfa`` where its level list differs from v9's,
through fiasco 0.6.2 and writes, per ion, line photon emissivities on a
temperature grid, and per element the continuum (free-free, free-bound,
two-photon) as a cumulative photon emissivity on a fine energy grid.

This script runs *offline*, once, in its own environment (fiasco pins
``numpy<2.3``): ``bash tools/build_emission_table.sh``. It is resumable:
each ion's result is cached in ``--work/ions`` and skipped when present.

Units (all per unit element abundance relative to H, i.e. Ab(X)=1):

* line emissivity  eps_l(T)  [photons cm^3 s^-1]: photons emitted per unit
  volume per unit n_e n_H, 4 pi integrated (APEC's convention);
* continuum cumulative  C(E, T) = int_0^E dN/dE' dE'  [photons cm^3 s^-1].
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import multiprocessing as mp
import os
import pathlib
import re
import shutil
import sys
import tarfile
import time

import numpy as np

log = logging.getLogger("build_emission_table")

# APEC's element set (Z), as in AtomDB's default abundance file
ELEMENTS = {1: "h", 2: "he", 6: "c", 7: "n", 8: "o", 10: "ne", 11: "na", 12: "mg",
            13: "al", 14: "si", 16: "s", 18: "ar", 20: "ca", 26: "fe", 28: "ni"}
KEV_ANGSTROM = 12.398419843320026   # h c in keV Angstrom
DENSITY = 1.0                        # cm^-3, low-density limit as APEC
LOGT = np.round(np.arange(5.90, 8.4001, 0.05), 4)   # 51 temperatures: 0.068-21.6 keV
E_MIN, E_MAX = 0.05, 15.0            # keV, band for the lines
E_MAX_CONT = 50.0                    # keV, top of the continuum grid
N_CONT_15 = 3000                     # log-spaced continuum points from E_MIN to E_MAX
IONEQ_MIN = 1e-5                     # skip ions never more abundant than this
LINE_MIN = 1e-24                     # keep lines with max_T eps * Ab_sun(AG89) above this
FF_4PI = 4 * np.pi                   # see compute_ion: fiasco 0.6.2 free-free is per steradian
PSEUDO_FRACTION = 1e-3               # weakest lines carrying this photon fraction -> pseudo-continuum


def cont_grid() -> np.ndarray:
    """The continuum grid: 3,000 log-spaced points over 0.05-15 keV, continued with the same
    step to 50 keV (so the cells below 15 keV are those of a 15 keV grid)."""
    lo, hi = E_MIN * 0.999, E_MAX * 1.001
    step = np.log(hi / lo) / (N_CONT_15 - 1)
    n = int(np.ceil(np.log(E_MAX_CONT * 1.001 / lo) / step)) + 1
    return lo * np.exp(step * np.arange(n))


def ag89():
    """Anders & Grevesse (1989) abundances by number relative to H (XSPEC 'angr')."""
    return {1: 1.0, 2: 9.77e-2, 6: 3.63e-4, 7: 1.12e-4, 8: 8.51e-4, 10: 1.23e-4,
            11: 2.14e-6, 12: 3.80e-5, 13: 2.95e-6, 14: 3.55e-5, 16: 1.62e-5,
            18: 3.63e-6, 20: 2.29e-6, 26: 4.68e-5, 28: 1.78e-6}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# CHIANTI tree preparation
# --------------------------------------------------------------------------
def splups_to_scups(splups: pathlib.Path, scups: pathlib.Path, source_note: str):
    """Re-express CHIANTI 7.x ``.splups`` rows as a v8+ ``.scups`` file.

    Each ``.splups`` row has Fortran format (5I3,12E10.3): Z, ion, lower, upper,
    Burgess-Tully type, gf, Delta E (Ry), C, then 5 or 9 spline values at equally
    spaced scaled temperatures in [0, 1]. The ``.scups`` block carries the same
    content: lower, upper, Delta E, gf, high-T limit (unknown: -1), number of
    points, type, C; the scaled temperatures; the scaled upsilons.
    """
    out = []
    for line in splups.read_bytes().decode("latin-1").splitlines():
        if line.strip().startswith("-1"):
            break
        ints = [int(line[3 * i:3 * i + 3]) for i in range(5)]
        rest = line[15:]
        vals = [float(rest[10 * i:10 * i + 10]) for i in range(len(rest) // 10)
                if rest[10 * i:10 * i + 10].strip()]
        _, _, lower, upper, bt_type = ints
        gf, de, c = vals[:3]
        spl = vals[3:]
        n = len(spl)
        xs = np.linspace(0.0, 1.0, n)
        out.append(f"{lower:7d}{upper:7d}{de:12.3e}{gf:12.3e}{-1:12d}{n:5d}{bt_type:5d}{c:12.3e}")
        out.append("".join(f"{x:12.3e}" for x in xs))
        out.append("".join(f"{y:12.3e}" for y in spl))
    out.append(" -1")
    out.append(f"%filename: {scups.name}")
    out.append(f"%{source_note}")
    out.append(" -1")
    scups.write_text("\n".join(out) + "\n", encoding="ascii")


SUPPLEMENT = "chianti-supplement-absent-ions.tar.gz"
_ELVLC_OLD = re.compile(r"^\s*(\d+)\s+(\d+)\s+(.+?)\s+(\d+)\s+(\d+)\s+([A-Za-z])\s+([\d.]+)\s+(\d+)"
                        r"\s+([-\d.eE+]+)\s+([-\d.eE+]+)\s+([-\d.eE+]+)\s+([-\d.eE+]+)")


def elvlc_to_v8(old: pathlib.Path, new: pathlib.Path, source_note: str) -> int:
    """Re-express a CHIANTI <= 7 ``.elvlc`` (index, configuration index, configuration, 2S+1,
    L, L letter, J, 2J+1, E_obs cm-1, E_obs Ry, E_th cm-1, E_th Ry[, ...]) in the v8+ layout
    that fiasco reads, ``(I7,A30,A5,I5,A5,F5.1,F15.3,F15.3)``: index, configuration ('.' as a
    space), a blank label, 2S+1, L letter, J, E_obs, E_th (cm-1). An excited level with
    E_obs = 0 (not observed) gets -1, v8's flag for it. Returns the number of levels."""
    rows = []
    for line in old.read_bytes().decode("latin-1").splitlines():
        if line.strip().startswith("-1"):
            break
        m = _ELVLC_OLD.match(line)
        if m is None:
            raise ValueError(f"{old.name}: cannot read the level line {line!r}")
        idx, _, cfg, mult, _, letter, j, _, e_obs, _, e_th, _ = m.groups()
        idx, e_obs, e_th = int(idx), float(e_obs), float(e_th)
        if idx > 1 and e_obs == 0.0:
            e_obs = -1.0
        cfg = cfg.replace(".", " ").strip()
        rows.append(f"{idx:7d}{cfg:>30s}{'':5s}{int(mult):5d}{letter.upper():>5s}{float(j):5.1f}"
                    f"{e_obs:15.3f}{e_th:15.3f}")
    rows += [" -1", f"%filename: {new.name}", f"%{source_note}", " -1"]
    new.write_text("\n".join(rows) + "\n", encoding="ascii")
    return len(rows) - 4


def ascii_copy(src: pathlib.Path, dst: pathlib.Path) -> None:
    """``src`` written as ASCII (a comment footer may hold a latin-1 byte: it becomes '?')."""
    dst.write_text(src.read_bytes().decode("latin-1").encode("ascii", "replace").decode("ascii"),
                   encoding="ascii")


def prepare_ascii(chianti_dir: pathlib.Path, work: pathlib.Path) -> pathlib.Path:
    """CHIANTI 9.0.1's ASCII tree, with every ion of the supplement (``SUPPLEMENT``) whose
    element is in the table: its pre-v8 ``.splups`` as a ``.scups`` (replacing an absent one
    or a git-LFS pointer), and, where its level list differs from v9's (the supplement's
    ``use_own_elvlc_wgfa``), its own ``.elvlc`` (v8 layout) and ``.wgfa``. What was done per
    ion is written to ``work/supplement_used.json`` (the provenance's ``chianti_supplement``)."""
    root = work / "ascii"
    if (root / "VERSION").is_file() and (work / "supplement_used.json").is_file():
        return root
    tmp = work / "ascii.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    # a new tree: the database and the per-ion results of an older one are stale
    (work / "chianti.h5").unlink(missing_ok=True)
    shutil.rmtree(work / "ions", ignore_errors=True)
    (work / "ions").mkdir(parents=True)
    tmp.mkdir(parents=True)
    log.info("extracting CHIANTI 9.0.1")
    with tarfile.open(chianti_dir / "chianti-9.0.1.tar.gz") as tf:
        tf.extractall(tmp, filter="data")
    top = next(p for p in tmp.iterdir() if (p / "VERSION").is_file())
    sup_dir = work / "supplement"
    shutil.rmtree(sup_dir, ignore_errors=True)
    sup_dir.mkdir(parents=True)
    with tarfile.open(chianti_dir / SUPPLEMENT) as tf:
        tf.extractall(sup_dir, filter="data")
    manifest = json.loads(next(sup_dir.rglob("MANIFEST.json")).read_text())
    used = {}
    symbols = set(ELEMENTS.values())
    for rec in manifest["recovered"]:
        ion = rec["ion"]
        el = ion.split("_")[0]
        if el not in symbols:
            continue
        src = {ext: next(sup_dir.rglob(f"{ion}.{ext}"), None) for ext in ("splups", "elvlc", "wgfa")}
        if None in src.values():
            gone = [ext for ext, f in src.items() if f is None]
            raise SystemExit(f"{SUPPLEMENT}: {ion} has no .{', .'.join(gone)} although its "
                             "MANIFEST.json lists it: the tarball is incomplete; fetch it again")
        dst = top / el / ion
        dst.mkdir(parents=True, exist_ok=True)
        note = (f"CHIANTI {rec['chianti_version']} ({rec['source_repo']} {rec['commit'][:10]}), "
                "converted by sherpa_rim tools/build_emission_table.py")
        splups_to_scups(src["splups"], dst / f"{ion}.scups", note)
        files = {"scups": f"{rec['chianti_version']} .splups as .scups"}
        if rec.get("use_own_elvlc_wgfa"):
            n = elvlc_to_v8(src["elvlc"], dst / f"{ion}.elvlc", note)
            ascii_copy(src["wgfa"], dst / f"{ion}.wgfa")
            files["elvlc"] = f"{rec['chianti_version']} .elvlc in the v8 layout ({n} levels)"
            files["wgfa"] = f"{rec['chianti_version']} .wgfa"
        else:
            files["elvlc"] = files["wgfa"] = "9.0.1 (same levels: " + rec["level_list_vs_v9"][:60] + ")"
        used[ion] = dict(files, release=rec["chianti_version"], commit=rec["commit"],
                         levels_vs_v9=rec["level_list_vs_v9"],
                         max_ion_fraction=rec.get("max_ion_fraction_logT_5p9_8p4"))
    top.rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    (work / "supplement_used.json").write_text(json.dumps(used, indent=1))
    return root


def is_lfs_pointer(path: pathlib.Path) -> bool:
    with open(path, "rb") as f:
        return f.read(40).startswith(b"version https://git-lfs")


def build_hdf5(ascii_root: pathlib.Path, work: pathlib.Path) -> pathlib.Path:
    """fiasco's HDF5 database for the elements we need.

    Files that the public mirror holds only as git-LFS pointers (no data) or that
    fail to parse are left out and listed in ``work/skipped_files.json``.
    """
    import h5py
    import fiasco
    from fiasco.util.util import get_chianti_catalog

    h5 = work / "chianti.h5"
    if h5.is_file():
        return h5
    cat = get_chianti_catalog(ascii_root)
    files = []
    for k in ("abundance_files", "ioneq_files", "ip_files", "continuum_files"):
        files += cat[k]
    # fiasco's catalogue skips any directory whose *absolute* path contains
    # 'em', 'ip', ... (e.g. /home/emma): walk the element folders ourselves.
    for sym in ELEMENTS.values():
        for f in sorted((ascii_root / sym).glob(f"{sym}_*/*")):
            if f.is_file() and not f.name.startswith("."):
                files.append(f.name)
    skipped = {}
    tmp = str(h5) + ".tmp"
    with h5py.File(tmp, "w") as hf:
        for f in files:
            parser = fiasco.io.Parser(f, ascii_dbase_root=ascii_root)
            full = getattr(parser, "full_path", None)
            if full is not None and pathlib.Path(full).is_file() and is_lfs_pointer(full):
                skipped[f] = "git-LFS pointer in the mirror (no data)"
                continue
            try:
                df = parser.parse()
            except Exception as exc:   # noqa: BLE001 - recorded
                skipped[f] = repr(exc)[:200]
                continue
            parser.to_hdf5(hf, df)
    with h5py.File(tmp, "a") as hf:
        ion_list_ = fiasco.list_ions(tmp)
        ds = hf.create_dataset("ion_index", data=np.array(ion_list_).astype(np.bytes_))
        ds.attrs["unit"] = "SKIP"
        hf.attrs["fiasco_version"] = fiasco.__version__
    (work / "skipped_files.json").write_text(json.dumps(skipped, indent=1))
    os.replace(tmp, h5)
    return h5


# --------------------------------------------------------------------------
# Per-ion computation
# --------------------------------------------------------------------------
def ion_list(h5):
    import astropy.units as u
    import fiasco

    temps = 10 ** LOGT * u.K
    out = []
    for z, sym in ELEMENTS.items():
        for stage in range(1, z + 2):
            ion = fiasco.Ion((z, stage), temps, hdf5_dbase_root=str(h5))
            f = np.asarray(ion.ionization_fraction)
            # keep the ion if it, or the ion it recombines from, matters
            out.append((z, stage, float(np.nanmax(f))))
    return out


def patch_free_free(args):
    """Ions cached without the 4 pi factor: add (4 pi - 1) x their free-free continuum."""
    z, stage, h5, work = args
    import warnings

    import astropy.units as u
    import fiasco

    path = pathlib.Path(work) / "ions" / f"{ELEMENTS[z]}_{stage}.npz"
    d = dict(np.load(path))
    if "ff_4pi" in d or stage == 1:
        return f"{ELEMENTS[z]}_{stage}", "ok"
    warnings.simplefilter("ignore")
    logging.getLogger("fiasco").setLevel(logging.ERROR)
    temps = 10 ** LOGT * u.K
    ion = fiasco.Ion((z, stage), temps, hdf5_dbase_root=str(h5))
    frac = np.asarray(ion.ionization_fraction, dtype=float)
    egrid = d["egrid"]
    wave = (KEV_ANGSTROM / egrid) * u.AA
    q = ion.free_free(wave).to_value("erg cm3 s-1 Angstrom-1")
    dens = q / (egrid * 1.602176634e-9) * (KEV_ANGSTROM / egrid ** 2) * frac[:, None]
    cum = np.concatenate([np.zeros((LOGT.size, 1)),
                          np.cumsum(0.5 * (dens[:, 1:] + dens[:, :-1]) * np.diff(egrid), axis=1)], axis=1)
    d["cont_cum"] = d["cont_cum"] + (FF_4PI - 1.0) * np.nan_to_num(cum)
    d["ff_4pi"] = np.array(True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **d)
    os.replace(tmp, path)
    return f"{ELEMENTS[z]}_{stage}", "patched"


def ion_continuum(ion, frac, egrid, notes):
    """Free-free, free-bound and two-photon continua of one ion on ``egrid`` (keV), per unit
    abundance: the cumulative photon emissivity (photons cm^3 s^-1 from egrid[0]), and the
    continuum's radiative losses (erg cm^3 s^-1, all wavelengths)."""
    import astropy.units as u

    z, stage = ion.atomic_number, ion.ionization_stage
    wave = (KEV_ANGSTROM / egrid) * u.AA
    n_e = DENSITY * u.cm ** -3

    def to_photon_density(q):
        # q: erg cm^3 s^-1 Angstrom^-1 -> photons cm^3 s^-1 keV^-1
        q = q.to_value("erg cm3 s-1 Angstrom-1")
        e_erg = egrid * 1.602176634e-9
        dlam_de = KEV_ANGSTROM / egrid ** 2        # Angstrom per keV
        return q / e_erg * dlam_de

    cont = np.zeros((LOGT.size, egrid.size))
    loss_cont = np.zeros(LOGT.size)
    if stage > 1:   # free-free from this ion (charge stage-1)
        try:
            # fiasco 0.6.2's Ion.free_free is per steradian (it integrates to 1/4pi of its own
            # free_free_radiative_loss); free_bound and two_photon are already 4pi-integrated
            ff = FF_4PI * to_photon_density(ion.free_free(wave)) * frac[:, None]
            cont += ff
            loss_cont += np.asarray(ion.free_free_radiative_loss().to_value("erg cm3 s-1")) * frac
        except Exception as exc:   # noqa: BLE001 - recorded in provenance
            notes.append(f"free-free failed: {exc!r}")
    if stage <= z:  # free-bound of this (recombined) ion, weighted by the recombining ion
        try:
            nxt = ion.next_ion()
            fnext = np.asarray(nxt.ionization_fraction, dtype=float)
            if np.nanmax(fnext) > IONEQ_MIN * 1e-2:
                fb = to_photon_density(ion.free_bound(wave)) * fnext[:, None]
                cont += np.nan_to_num(fb)
                loss_cont += np.nan_to_num(
                    np.asarray(ion.free_bound_radiative_loss().to_value("erg cm3 s-1"))) * fnext
        except Exception as exc:   # noqa: BLE001
            notes.append(f"free-bound failed: {exc!r}")
        if (ion.hydrogenic or ion.helium_like) and np.nanmax(frac) > IONEQ_MIN:
            try:
                tp = ion.two_photon(wave, n_e, use_two_ion_model=False)[:, 0, :]
                cont += np.nan_to_num(to_photon_density(tp)) * frac[:, None]
            except Exception as exc:   # noqa: BLE001
                notes.append(f"two-photon failed: {exc!r}")
    cont = np.nan_to_num(cont)
    # cumulative photon emissivity on the grid (trapezoid), starting at 0
    cum = np.concatenate([np.zeros((LOGT.size, 1)),
                          np.cumsum(0.5 * (cont[:, 1:] + cont[:, :-1]) * np.diff(egrid), axis=1)],
                         axis=1)
    return cum, loss_cont


def extend_continuum(args):
    """Ions cached on a continuum grid that ends at 15 keV: recompute their continuum on
    :func:`cont_grid` (to 50 keV); lines and level populations are kept."""
    z, stage, h5, work = args
    import warnings

    import astropy.units as u
    import fiasco

    path = pathlib.Path(work) / "ions" / f"{ELEMENTS[z]}_{stage}.npz"
    d = dict(np.load(path))
    egrid = cont_grid()
    if d["egrid"].size == egrid.size:
        return f"{ELEMENTS[z]}_{stage}", "ok"
    warnings.simplefilter("ignore")
    logging.getLogger("fiasco").setLevel(logging.ERROR)
    ion = fiasco.Ion((z, stage), 10 ** LOGT * u.K, hdf5_dbase_root=str(h5))
    frac = np.asarray(ion.ionization_fraction, dtype=float)
    notes = [n for n in json.loads(str(d["notes"]))
             if not n.startswith(("free-free failed", "free-bound failed", "two-photon failed"))]
    d["cont_cum"], d["loss_cont"] = ion_continuum(ion, frac, egrid, notes)   # appends its notes
    d["egrid"] = egrid
    d["ff_4pi"] = np.array(True)
    d["notes"] = np.array(json.dumps(notes))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **d)
    os.replace(tmp, path)
    return f"{ELEMENTS[z]}_{stage}", "extended"


def compute_ion(args):
    """Lines, continuum contributions and total radiative losses of one ion."""
    z, stage, h5, work = args
    import warnings

    import astropy.units as u
    import fiasco

    name = f"{ELEMENTS[z]}_{stage}"
    path = pathlib.Path(work) / "ions" / f"{name}.npz"
    if path.is_file():
        return name, "cached"
    t0 = time.time()
    logging.getLogger("fiasco").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    temps = 10 ** LOGT * u.K
    ion = fiasco.Ion((z, stage), temps, hdf5_dbase_root=str(h5))
    frac = np.asarray(ion.ionization_fraction, dtype=float)
    egrid = cont_grid()
    result = dict(logT=LOGT, egrid=egrid, ioneq=frac)
    notes = []
    n_e = DENSITY * u.cm ** -3
    cum, loss_cont = ion_continuum(ion, frac, egrid, notes)
    result["cont_cum"] = cum
    result["loss_cont"] = loss_cont

    # ---- lines ----
    line_e = np.zeros(0)
    line_eps = np.zeros((0, LOGT.size))
    loss_lines = np.zeros(LOGT.size)
    has_lines = (ion._has_dataset("elvlc") and ion._has_dataset("wgfa")
                 and ion._has_dataset("scups") and np.nanmax(frac) > IONEQ_MIN)
    if has_lines:
        try:
            try:
                pops = ion.level_populations(n_e)[:, 0, :]      # (T, levels)
            except ValueError:
                pops = None
            if pops is None:
                # level-resolved ionisation/recombination data stop at log T 8.398 < 8.40:
                # drop that small correction rather than the ion
                try:
                    pops = ion.level_populations(
                        n_e, include_level_resolved_rate_correction=False)[:, 0, :]
                    notes.append("without the level-resolved rate correction (data end below log T 8.4)")
                except ValueError:
                    pops = None
            if pops is None:
                # some rate data stop short of the grid's top (log T 8.2): solve where the
                # ion exists (ioneq > 1e-6) and set the populations to zero elsewhere
                sub = np.flatnonzero(frac > 1e-6)
                ion_sub = fiasco.Ion((z, stage), temps[sub], hdf5_dbase_root=str(h5))
                p_sub = ion_sub.level_populations(n_e)[:, 0, :]
                pops = np.zeros((LOGT.size, p_sub.shape[1]))
                pops[sub] = p_sub
                notes.append(f"level populations solved for log T {LOGT[sub[0]]:.2f}-{LOGT[sub[-1]]:.2f} only")
            tr = ion.transitions
            bb = tr.is_bound_bound
            wl = np.abs(tr.wavelength[bb].to_value("AA"))
            A = tr.A[bb].to_value("s-1")
            upper = tr.upper_level[bb]
            levels = np.asarray(ion._elvlc["level"])
            idx = np.searchsorted(levels, upper)
            # photons cm^3 s^-1 per unit abundance: f N_j A_ji / n_e
            eps = frac[:, None] * pops[:, idx] * A[None, :] / DENSITY
            with np.errstate(divide="ignore"):
                e_kev = np.where(wl > 0, KEV_ANGSTROM / np.where(wl > 0, wl, 1), 0.0)
            loss_lines = (eps * (e_kev * 1.602176634e-9)[None, :]).sum(axis=1)
            ab = ag89()[z]
            keep = (e_kev >= E_MIN) & (e_kev <= E_MAX) & (eps.max(axis=0) * ab > LINE_MIN)
            line_e = e_kev[keep]
            line_eps = eps[:, keep].T
            result["line_lower"] = np.asarray(tr.lower_level[bb])[keep]
            result["line_upper"] = np.asarray(upper)[keep]
        except Exception as exc:   # noqa: BLE001
            notes.append(f"lines failed: {exc!r}")
    else:
        missing = [d for d in ("elvlc", "wgfa", "scups") if not ion._has_dataset(d)]
        if missing and np.nanmax(frac) > IONEQ_MIN:
            notes.append("no lines: missing " + ",".join(missing))
    result["line_energy"] = line_e
    result["line_eps"] = line_eps
    result["loss_lines"] = loss_lines
    result["ff_4pi"] = np.array(True)
    result["notes"] = np.array(json.dumps(notes))
    result["seconds"] = time.time() - t0
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **result)
    os.replace(tmp, path)
    return name, f"{time.time() - t0:.1f}s lines={line_e.size} {'; '.join(notes)}"


# --------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------
def assemble(work: pathlib.Path, out: pathlib.Path, ions, chianti_dir, argv):
    import fiasco

    zs, stages = [], []
    line_e, line_eps, line_ion = [], [], []
    cont = {}
    loss = np.zeros((len(ELEMENTS), LOGT.size))
    per_ion = {}
    zlist = list(ELEMENTS)
    egrid = None
    for z, stage, _ in ions:
        name = f"{ELEMENTS[z]}_{stage}"
        p = work / "ions" / f"{name}.npz"
        d = np.load(p)
        egrid = d["egrid"]
        k = zlist.index(z)
        cont.setdefault(z, np.zeros_like(d["cont_cum"]))
        cont[z] += d["cont_cum"]
        loss[k] += d["loss_cont"] + d["loss_lines"]
        if d["line_energy"].size:
            line_e.append(d["line_energy"])
            line_eps.append(d["line_eps"])
            line_ion.append(np.full(d["line_energy"].size, len(zs)))
        zs.append(z)
        stages.append(stage)
        per_ion[name] = dict(n_lines=int(d["line_energy"].size),
                             notes=json.loads(str(d["notes"])),
                             max_ioneq=float(np.nanmax(d["ioneq"])))
    line_e = np.concatenate(line_e)
    order = np.argsort(line_e)
    line_eps = np.concatenate(line_eps)[order]
    line_ion = np.concatenate(line_ion)[order]
    line_e = line_e[order]
    ion_z = np.array(zs)
    line_elem = np.array([zlist.index(z) for z in ion_z[line_ion]])
    zero = np.zeros((LOGT.size, egrid.size))
    cont_arr = np.stack([cont.get(z, zero) for z in zlist])
    # Weak lines go into a pseudo-continuum (as APEC does): at each temperature
    # the weakest lines that together carry < PSEUDO_FRACTION of the line photons
    # (AG89 abundances) are moved; a line stays discrete if it is strong at any T.
    ab = ag89()
    flux = line_eps * np.array([ab[z] for z in ion_z[line_ion]])[:, None]
    strong = np.zeros(line_e.size, bool)
    for k in range(LOGT.size):
        o = np.argsort(flux[:, k])
        c = np.cumsum(flux[o, k])
        strong[o[c > PSEUDO_FRACTION * c[-1]]] = True
    weak = ~strong
    steps = np.searchsorted(egrid, line_e[weak], side="right")
    for el in range(len(zlist)):
        m = line_elem[weak] == el
        if not np.any(m):
            continue
        for k in range(LOGT.size):
            add = np.bincount(steps[m], weights=line_eps[weak][m, k], minlength=egrid.size + 1)
            cont_arr[el, k] += np.cumsum(add)[:egrid.size]
    log.info("lines: %d discrete, %d weak ones moved to the pseudo-continuum",
             strong.sum(), weak.sum())
    line_e, line_eps, line_ion, line_elem = (line_e[strong], line_eps[strong], line_ion[strong],
                                             line_elem[strong])
    # atomic masses (amu) for thermal broadening
    masses = {1: 1.008, 2: 4.0026, 6: 12.011, 7: 14.007, 8: 15.999, 10: 20.180, 11: 22.990,
              12: 24.305, 13: 26.982, 14: 28.085, 16: 32.06, 18: 39.948, 20: 40.078,
              26: 55.845, 28: 58.693}
    prov = dict(
        description="CIE plasma emission table for sherpa_rim (lines + continuum per element)",
        chianti_version="9.0.1",
        chianti_supplement=json.loads((work / "supplement_used.json").read_text()),
        chianti_sources={f: sha256(chianti_dir / f) for f in ("chianti-9.0.1.tar.gz", SUPPLEMENT)},
        ionisation_equilibrium="CHIANTI chianti.ioneq (v9.0.1) through fiasco Ion.ionization_fraction",
        free_free_note="fiasco 0.6.2 Ion.free_free is per steradian: multiplied by 4 pi (checked "
                       "against its own free_free_radiative_loss and the 1.43e-27 T^0.5 g law)",
        fiasco_version=fiasco.__version__,
        numpy_version=np.__version__,
        electron_density_cm3=DENSITY,
        logT=[float(x) for x in LOGT],
        energy_band_keV=[E_MIN, E_MAX],
        continuum_band_keV=[E_MIN, E_MAX_CONT],
        line_threshold=f"max_T eps * Ab_AG89 > {LINE_MIN} photons cm^3 s^-1",
        pseudo_continuum=(f"at each T the weakest lines carrying {PSEUDO_FRACTION} of the line "
                          "photons (AG89) are added to their element's continuum cell"),
        ioneq_threshold=IONEQ_MIN,
        units={"line_eps": "photons cm^3 s^-1 per unit n_e n_H and unit abundance (Ab=1)",
               "cont_cells": "photons cm^3 s^-1 between consecutive cont_energy points, same normalisation",
               "loss": "erg cm^3 s^-1 per unit n_e n_H, per unit abundance, all wavelengths"},
        command=" ".join(argv),
        built_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        ions=per_ion,
        cite="Dere et al. 1997, A&AS 125, 149; Dere et al. 2019, ApJS 241, 22; fiasco (Barnes et al.)",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        logT=LOGT, elements=np.array(zlist), mass_amu=np.array([masses[z] for z in zlist]),
        line_energy=line_e, line_eps=line_eps.astype(np.float32), line_elem=line_elem.astype(np.int16),
        line_ion_z=ion_z[line_ion].astype(np.int16),
        line_ion_stage=np.array(stages)[line_ion].astype(np.int16),
        cont_energy=egrid,
        cont_cells=np.clip(np.diff(cont_arr, axis=2), 0, None).astype(np.float32),
        loss=loss, provenance=np.array(json.dumps(prov)),
    )
    os.replace(tmp, out)
    (out.with_suffix(".json")).write_text(json.dumps(prov, indent=1) + "\n")
    log.info("wrote %s: %d lines, %d elements, %d temperatures", out, line_e.size, len(zlist), LOGT.size)


def main(argv=None):
    argv = sys.argv if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chianti", default="../shared/data/chianti", type=pathlib.Path)
    p.add_argument("--work", default=pathlib.Path.home() / ".cache/sherpa_rim/cie-build",
                   type=pathlib.Path)
    p.add_argument("--out", default="sherpa_rim/emission/data/cie_chianti.npz", type=pathlib.Path)
    p.add_argument("--jobs", default=os.cpu_count() or 1, type=int)
    p.add_argument("--only", nargs="*", help="compute only these ions (e.g. fe_17), no assembly")
    p.add_argument("--assemble-only", action="store_true",
                   help="assemble the cached ions (no computation); missing ions are an error")
    args = p.parse_args(argv[1:])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work.resolve()
    (work / "ions").mkdir(parents=True, exist_ok=True)
    ascii_root = prepare_ascii(args.chianti.resolve(), work)
    h5 = build_hdf5(ascii_root, work)
    ions = ion_list(h5)
    todo = [(z, s, str(h5), str(work)) for z, s, f in ions
            if (f > IONEQ_MIN or z < 3 or True)]
    if args.only:
        todo = [t for t in todo if f"{ELEMENTS[t[0]]}_{t[1]}" in args.only]
    # biggest ions first so the pool stays busy
    todo.sort(key=lambda t: -(t[0] - t[1]))
    if args.assemble_only:
        todo = []
    log.info("%d ions to compute with %d processes", len(todo), args.jobs)
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for i, (name, msg) in enumerate(pool.imap_unordered(compute_ion, todo), 1):
            log.info("[%d/%d] %s %s", i, len(todo), name, msg)
    if not args.only:
        patch = [(z, s_, str(h5), str(work)) for z, s_, _ in ions]
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for name, msg in pool.imap_unordered(extend_continuum, patch):
                if msg == "extended":
                    log.info("continuum to %g keV: %s", E_MAX_CONT, name)
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            for name, msg in pool.imap_unordered(patch_free_free, patch):
                if msg == "patched":
                    log.info("free-free x 4 pi: %s", name)
        assemble(work, args.out, ions, args.chianti.resolve(), argv)


if __name__ == "__main__":
    main()
