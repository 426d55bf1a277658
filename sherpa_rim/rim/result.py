"""The result of a RIM deconvolution: the intrinsic spectrum with its band, the refolded
fit to the data, warnings; written as a FITS binary table or ECSV, plotted in two panels."""
from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from typing import List, Optional

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

    @property
    def chi2_dof(self) -> float:
        return self.chi2 / max(self.dof, 1)

    def summary(self) -> str:
        lines = [f"RIM deconvolution of {self.name or 'spectrum'} with {self.model_name} "
                 f"({self.provider})",
                 f"  refolded chi2/dof = {self.chi2:.1f}/{self.dof} = {self.chi2_dof:.2f}",
                 "  inside the training prior: " + {True: "yes", False: "NO",
                                                   None: "not known (the check failed)"}[self.in_prior]]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        return "\n".join(lines)

    def write(self, path, overwrite: bool = False) -> pathlib.Path:
        """FITS binary table (.fits/.fit) or ECSV (.ecsv): ENERG_LO, ENERG_HI (keV), FLUX,
        FLUX_LO, FLUX_HI (photons/cm^2/s per bin; the band is the 16-84 % range)."""
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
        for c in ("ENERG_LO", "ENERG_HI"):
            t[c].unit = "keV"
        for c in ("FLUX", "FLUX_LO", "FLUX_HI"):
            t[c].unit = "photon / (cm2 s)"
        meta = {"EXTNAME": "RIM_SPECTRUM", "CREATOR": "sherpa_rim", "MODEL": self.model_name,
                "MODELSHA": self.model_sha256, "PROVIDER": self.provider,
                "CHI2": float(self.chi2), "DOF": int(self.dof), "EXPOSURE": float(self.exposure),
                "OBJECT": self.name[-60:],
                "INPRIOR": "UNKNOWN" if self.in_prior is None else bool(self.in_prior),
                "BAND": "16-84 percent, Poisson resampling",
                "REFINE": "data consistency, 16 log-E knots, ridge 30"}
        t.meta.update(meta)
        if self.warnings:          # each warning as a COMMENT card (FITS) / comment (ECSV)
            t.meta["comments"] = [f"WARNING: {w}" for w in self.warnings]
        if path.suffix.lower() == ".ecsv":
            t.write(path, format="ascii.ecsv", overwrite=overwrite)
        else:
            t.write(path, format="fits", overwrite=overwrite)
        return path

    def plot(self, ax=None, show_truth=None):
        """Two panels: intrinsic spectrum with its band; data, refolded model and residuals."""
        return plot_deconvolved(self, truth=show_truth)
