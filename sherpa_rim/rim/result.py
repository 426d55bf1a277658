"""The result of a RIM deconvolution: the intrinsic spectrum with its band, the refolded
fit to the data, warnings; written as a FITS binary table or ECSV, plotted in two panels."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..plotting import plot_deconvolved

__all__ = ["DeconvolutionResult"]


@dataclass
class DeconvolutionResult:
    energy_lo: np.ndarray
    energy_hi: np.ndarray
    flux: np.ndarray
    flux_lo: np.ndarray
    flux_hi: np.ndarray
    refolded: np.ndarray
    data: np.ndarray
    sigma: np.ndarray
    noticed: np.ndarray
    channel_lo: np.ndarray
    channel_hi: np.ndarray
    chi2: float
    dof: int
    model_name: str
    model_sha256: str
    provider: str
    exposure: float
    name: str = ""
    samples: Optional[np.ndarray] = None
    warnings: List[str] = field(default_factory=list)
    in_prior: Optional[bool] = True     # inside the training prior; None: the check failed
    flux_lo90: Optional[np.ndarray] = None
    flux_hi90: Optional[np.ndarray] = None
    bands: Dict[str, Dict[str, float]] = field(default_factory=dict)
    band_class: str = ""
    gof: Dict[str, object] = field(default_factory=dict)

    BAND_NOTE = ("calibrated: the resampling spread scaled per count class and energy bin to "
                 "cover the truth at the stated rate on the validation ObsIDs")

    @property
    def chi2_dof(self) -> float:
        return self.chi2 / max(self.dof, 1)

    def summary(self) -> str:
        g = self.gof
        fit = (f"  goodness of fit: {g['statistic']} = {g['value']:.1f}, expected "
               f"{g['expected']:.1f} +- {g['sd']:.1f}, p = {g['p']:.2g}" if g else
               f"  refolded chi2/dof = {self.chi2:.1f}/{self.dof} = {self.chi2_dof:.2f}")
        lines = [f"RIM deconvolution of {self.name or 'spectrum'} with {self.model_name} "
                 f"({self.provider})", fit,
                 f"  band: 68 % and 90 %, {self.BAND_NOTE} (class {self.band_class})",
                 "  inside the training prior: " + {True: "yes", False: "NO",
                                                   None: "not known (the check failed)"}[self.in_prior]]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def write(self, path, overwrite: bool = False) -> pathlib.Path:
        """FITS (.fits/.fit/.fts) or ECSV (.ecsv): ENERG_LO, ENERG_HI (keV), FLUX, FLUX_LO,
        FLUX_HI (the calibrated 68 % band), FLUX_LO90, FLUX_HI90 (90 %), in photons/cm^2/s
        per bin; the header says what the band is, the goodness of fit and every warning.
        FITS adds a BANDS extension with the broad-band fluxes and their intervals (ECSV:
        in the meta)."""
        from astropy.io import fits
        from astropy.table import Table

        path = pathlib.Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True (--clobber) or another name")
        t = Table()
        t["ENERG_LO"] = self.energy_lo
        t["ENERG_HI"] = self.energy_hi
        t["FLUX"] = self.flux
        t["FLUX_LO"] = self.flux_lo
        t["FLUX_HI"] = self.flux_hi
        cols = ["FLUX", "FLUX_LO", "FLUX_HI"]
        if self.flux_lo90 is not None:
            t["FLUX_LO90"] = self.flux_lo90
            t["FLUX_HI90"] = self.flux_hi90
            cols += ["FLUX_LO90", "FLUX_HI90"]
        for c in ("ENERG_LO", "ENERG_HI"):
            t[c].unit = "keV"
        for c in cols:
            t[c].unit = "photon / (cm2 s)"
        g = self.gof or {}
        meta = {"EXTNAME": "RIM_SPECTRUM", "CREATOR": "sherpa_rim", "MODEL": self.model_name,
                "MODELSHA": self.model_sha256, "PROVIDER": self.provider,
                "CHI2": float(self.chi2), "DOF": int(self.dof), "EXPOSURE": float(self.exposure),
                "OBJECT": self.name[-60:],
                "INPRIOR": "UNKNOWN" if self.in_prior is None else bool(self.in_prior),
                "BAND": "FLUX_LO/HI 68 pc, FLUX_LO90/HI90 90 pc, calibrated",
                "BANDCLS": self.band_class,
                "GOF_STAT": str(g.get("statistic", "")), "GOF_P": float(g.get("p", np.nan)),
                "REFINE": "data consistency, 16 log-E knots, ridge 30"}
        t.meta.update(meta)
        comments = [f"Band: {self.BAND_NOTE}."]
        if g:
            comments.append(f"Goodness of fit: {g.get('method')}.")
        comments += [f"WARNING: {w}" for w in self.warnings]
        t.meta["comments"] = comments
        if path.suffix.lower() == ".ecsv":
            t.meta["bands"] = self.bands
            t.write(path, format="ascii.ecsv", overwrite=overwrite)
            return path
        hdus = [fits.PrimaryHDU(), fits.table_to_hdu(t)]
        if self.bands:
            bt = Table(rows=[(n, *(v[k] for k in ("flux", "lo68", "hi68", "lo90", "hi90")))
                             for n, v in self.bands.items()],
                       names=("BAND", "FLUX", "FLUX_LO", "FLUX_HI", "FLUX_LO90", "FLUX_HI90"))
            bt.meta.update({"EXTNAME": "BANDS", "BAND": "photon flux in each band, calibrated "
                            "68 and 90 percent intervals"})
            hdus.append(fits.table_to_hdu(bt))
        fits.HDUList(hdus).writeto(path, overwrite=overwrite)
        return path

    def plot(self, ax=None, show_truth=None):
        """Two panels: intrinsic spectrum with its band; data, refolded model and residuals."""
        return plot_deconvolved(self, truth=show_truth)
