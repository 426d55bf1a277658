"""Bad input files for tests/test_bad_input.py, made from Sherpa's real ACIS set (ObsID 7867)."""
import pathlib
import shutil

import numpy as np
from astropy.io import fits

from sherpa_rim.response.library import sherpa_data_dir

SRC = sherpa_data_dir()
PHA = SRC / "acisf07867_000N001_r0002_pha3.fits"
ARF = SRC / "acisf07867_000N001_r0002_arf3.fits"
RMF = SRC / "acisf07867_000N001_r0002_rmf3.fits"


def spectrum(path, counts=None, exposure=None, ancrfile="spec.arf", respfile="spec.rmf",
             quality=None, telescop="CHANDRA", instrume="ACIS", float_counts=False):
    """A type I PHA on the 1024 ACIS PI channels (the real 7867 spectrum unless ``counts``)."""
    with fits.open(PHA) as hl:
        h = hl[1].header.copy()
        real = np.asarray(hl[1].data["COUNTS"])
    counts = real if counts is None else np.asarray(counts)
    n = counts.size
    cols = [fits.Column("CHANNEL", "J", array=np.arange(1, n + 1)),
            fits.Column("COUNTS", "E" if float_counts else "J", array=counts)]
    if quality is not None:
        cols.append(fits.Column("QUALITY", "I", array=np.asarray(quality)))
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    for k in ("HDUCLASS", "HDUCLAS1", "HDUCLAS2", "HDUCLAS3", "HDUVERS", "CHANTYPE", "DETCHANS",
              "BACKSCAL", "AREASCAL", "CORRSCAL", "OBJECT", "OBS_ID", "DETNAM", "TLMIN1"):
        if k in h:
            hdu.header[k] = h[k]
    hdu.header["DETCHANS"] = n
    hdu.header["TLMIN1"] = 1
    hdu.header["TLMAX1"] = n
    hdu.header["EXPOSURE"] = h["EXPOSURE"] if exposure is None else exposure
    hdu.header["TELESCOP"] = telescop
    hdu.header["INSTRUME"] = instrume
    hdu.header["ANCRFILE"] = ancrfile
    hdu.header["RESPFILE"] = respfile
    hdu.header["BACKFILE"] = "none"
    hdu.header["POISSERR"] = True
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return pathlib.Path(path)


def response(folder, stem="spec", telescop="CHANDRA", instrume="ACIS", channel_kev=None,
             ebounds=True):
    """ARF and RMF copies named <stem>.arf / <stem>.rmf, relabelled, with 10 eV channels
    (``channel_kev``), or without EBOUNDS."""
    folder = pathlib.Path(folder)
    arf, rmf = folder / f"{stem}.arf", folder / f"{stem}.rmf"
    with fits.open(ARF) as hl:
        for h in hl:
            h.header["TELESCOP"], h.header["INSTRUME"] = telescop, instrume
        hl.writeto(arf, overwrite=True)
    with fits.open(RMF) as hl:
        for h in hl:
            h.header["TELESCOP"], h.header["INSTRUME"] = telescop, instrume
        if channel_kev is not None:
            ch = np.arange(hl[2].data.size)
            hl[2].data["E_MIN"] = ch * channel_kev
            hl[2].data["E_MAX"] = (ch + 1) * channel_kev
        out = hl if ebounds else fits.HDUList([hl[0], hl[1]])
        out.writeto(rmf, overwrite=True)
    return arf, rmf


def huge_rmf(path, n=60000):
    """A diagonal microcalorimeter-like RMF: ``n`` channels of 0.2 eV, ``n`` energy bins."""
    e = 0.3 + 2e-4 * np.arange(n + 1)
    m = fits.BinTableHDU.from_columns([
        fits.Column("ENERG_LO", "E", array=e[:-1]), fits.Column("ENERG_HI", "E", array=e[1:]),
        fits.Column("N_GRP", "I", array=np.ones(n)),
        fits.Column("F_CHAN", "J", array=np.arange(1, n + 1)),
        fits.Column("N_CHAN", "J", array=np.ones(n)),
        fits.Column("MATRIX", "E", array=np.ones(n))], name="MATRIX")
    b = fits.BinTableHDU.from_columns([
        fits.Column("CHANNEL", "J", array=np.arange(1, n + 1)),
        fits.Column("E_MIN", "E", array=e[:-1]), fits.Column("E_MAX", "E", array=e[1:])],
        name="EBOUNDS")
    for h in (m, b):
        h.header.update(HDUCLASS="OGIP", HDUCLAS1="RESPONSE", DETCHANS=n, TLMIN4=1,
                        TELESCOP="XRISM", INSTRUME="RESOLVE", CHANTYPE="PI")
    m.header["HDUCLAS2"] = "RSP_MATRIX"
    b.header["HDUCLAS2"] = "EBOUNDS"
    fits.HDUList([fits.PrimaryHDU(), m, b]).writeto(path, overwrite=True)
    return pathlib.Path(path)


def type2(path):
    """A type II PHA: two spectra in one SPECTRUM extension."""
    with fits.open(PHA) as hl:
        c = np.asarray(hl[1].data["COUNTS"])
        h = hl[1].header
    cols = [fits.Column("SPEC_NUM", "I", array=[1, 2]),
            fits.Column("CHANNEL", "1024J", array=np.tile(np.arange(1, 1025), (2, 1))),
            fits.Column("COUNTS", "1024J", array=np.stack([c, c]))]
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECTRUM")
    hdu.header.update(HDUCLASS="OGIP", HDUCLAS1="SPECTRUM", HDUCLAS2="TOTAL", HDUCLAS3="COUNT",
                      HDUCLAS4="TYPE:II", HDUVERS="1.2.1", CHANTYPE="PI", DETCHANS=1024,
                      EXPOSURE=h["EXPOSURE"], BACKSCAL=1.0, AREASCAL=1.0, TELESCOP="CHANDRA",
                      INSTRUME="ACIS", ANCRFILE="spec.arf", RESPFILE="spec.rmf", POISSERR=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return pathlib.Path(path)


def truncated(src, path):
    raw = pathlib.Path(src).read_bytes()
    pathlib.Path(path).write_bytes(raw[: len(raw) // 2])
    return pathlib.Path(path)


def random_bytes(path, n=20000, seed=0):
    pathlib.Path(path).write_bytes(np.random.default_rng(seed).bytes(n))
    return pathlib.Path(path)


def good_set(folder):
    """The real 7867 spectrum as spec.pi with its ARF and RMF beside it."""
    folder = pathlib.Path(folder)
    shutil.copy(ARF, folder / "spec.arf")
    shutil.copy(RMF, folder / "spec.rmf")
    return spectrum(folder / "spec.pi")
