"""Spatial SPI maps written as FITS images (TAN WCS, arcsec pixels) and PNG panels."""
from __future__ import annotations

import pathlib
from typing import List

import numpy as np

__all__ = ["write_maps"]


def write_maps(maps: dict, folder, prefix="spi", ra=0.0, dec=0.0, overwrite=False) -> List[pathlib.Path]:
    """FITS images with a TAN WCS (arcsec pixels) and PNGs of every map."""
    from astropy.io import fits
    from astropy.wcs import WCS
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    xe, ye = maps["x_edges"], maps["y_edges"]
    pix = (xe[1] - xe[0])
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(-xe[0]) / pix + 0.5, (-ye[0]) / pix + 0.5]
    w.wcs.cdelt = [-pix / 3600.0, pix / 3600.0]
    w.wcs.cunit = ["deg", "deg"]
    out = []
    items = {"luminosity": maps["luminosity"], "kT": maps["kT"], "kT_lo": maps["kT_lo"],
             "kT_hi": maps["kT_hi"]}
    for j, band in enumerate(maps["kT_bands"]):
        items[f"lum_kT_{band[0]:g}_{band[1]:g}"] = maps["bands"][j]
    for name, img in items.items():
        p = folder / f"{prefix}_{name}.fits"
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass overwrite=True")
        h = fits.PrimaryHDU(np.asarray(img, np.float32), header=w.to_header())
        h.header["BUNIT"] = "keV" if name.startswith("kT") else "counts (model)"
        h.header["CREATOR"] = "sherpa_rim.spi"
        h.writeto(p, overwrite=overwrite)
        out.append(p)
    fig, axs = plt.subplots(2, 3, figsize=(11, 7))
    ext = [xe[0], xe[-1], ye[0], ye[-1]]
    panels = [("luminosity", "median luminosity", "viridis"), ("kT", "L-weighted kT (keV)", "inferno"),
              ("kT_lo", "kT 16 %", "inferno"), ("kT_hi", "kT 84 %", "inferno")]
    for ax, (k, title, cmap) in zip(axs.ravel(), panels):
        img = items[k]
        if k == "luminosity":
            im = ax.imshow(np.log10(np.maximum(img, img.max() * 1e-4)), origin="lower", extent=ext, cmap=cmap)
        else:
            lum = items["luminosity"]
            im = ax.imshow(np.where(lum > lum.max() * 1e-3, img, np.nan), origin="lower", extent=ext,
                           cmap=cmap, vmin=0, vmax=np.nanpercentile(items["kT_hi"], 99))
        ax.set_title(title, fontsize=9)
        plt.colorbar(im, ax=ax, fraction=0.046)
    if "rgb" in maps:
        axs[1, 1].imshow(maps["rgb"], origin="lower", extent=ext)
        axs[1, 1].set_title("RGB: kT < 2 (blue), 2-4.5 (green), > 4.5 keV (red)", fontsize=8)
    axs[1, 2].axis("off")
    for ax in axs.ravel():
        ax.set_xlabel("arcsec")
    fig.tight_layout()
    p = folder / f"{prefix}_maps.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    out.append(p)
    return out
