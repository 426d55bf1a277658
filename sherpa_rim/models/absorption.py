"""``mmabs``: Morrison & McCammon (1983) photoelectric absorption (XSPEC's ``wabs``) as a
Sherpa multiplicative model; ``calc`` delegates to :func:`sherpa_rim.emission.absorption.transmission`."""
from __future__ import annotations

from sherpa.models.model import ArithmeticModel
from sherpa.models.parameter import Parameter

from ..emission import absorption
from ..response.grid import energy_bins

__all__ = ["MMAbs"]


class MMAbs(ArithmeticModel):
    """Photoelectric absorption, Morrison & McCammon (1983) cross-sections (XSPEC ``wabs``).

    Parameters
    ----------
    nH : equivalent hydrogen column, 1e22 cm^-2.
    """

    def __init__(self, name="mmabs"):
        self.nH = Parameter(name, "nH", 0.01, min=0.0, max=1e5, hard_min=0.0, hard_max=1e6,
                            units="10^22 atoms / cm^2")
        ArithmeticModel.__init__(self, name, (self.nH,))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        lo, hi = energy_bins(lo, hi)
        return absorption.transmission(p[0], lo, hi)
