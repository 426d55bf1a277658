"""Response calibration as Sherpa models: ``gainshift`` (XSPEC's gain) and ``areacorr``.

    g = create_model_component("gainshift", "g1")
    g.attach(1)                               # the data set whose ARF it shifts (see below)
    a = create_model_component("areacorr", "a1")
    set_source(1, a1 * g1(mmabs.gal * cie.c))

``gainshift`` is applied to a source expression like a convolution model: ``g1(src)``
evaluates ``src`` on the response's energy bins mapped by E' = E / slope - offset
(:mod:`sherpa_rim.response.gain`, XSPEC's definition), so the redistribution of each row
moves with the gain while the effective area stays that of the photon's own energy: the
model multiplies by A(E') / A(E), A the data set's ARF (``attach``). Without an ARF (a
response whose RMF holds the area) there is no such factor, as in XSPEC.

``areacorr`` is multiplicative: factor x (1 + d(E)), d piecewise linear in log E through
d1..d5 at 0.5, 1, 2, 4, 8 keV (frozen at 0 by default; thaw some to bend the area).

Both have ordinary Parameters: ``fit``, ``conf``, ``covar``, ``get_draws``, parameter links
across data sets and Sherpa's ``save_all`` work with them. Sherpa's script does not record
which ARF a ``gainshift`` was attached to: ``sherpa_rim.save_all`` adds the ``attach`` line;
a ``gainshift`` used unattached on a data set with an ARF raises rather than ignore it.
:mod:`sherpa_rim.crosscal` sets them up on data sets (``set_gain``, ``set_area_correction``).
"""
from __future__ import annotations

import numpy as np
from sherpa.models.model import ArithmeticModel, CompositeModel, Model
from sherpa.models.parameter import Parameter
from sherpa.utils.err import ModelErr

from ..response.gain import AREA_KNOTS_KEV, area_factor, area_on_bins, shifted_bins
from ..response.grid import HC_KEV_A, energy_bins

__all__ = ["GainShift", "GainShifted", "AreaCorr"]


class GainShift(ArithmeticModel):
    """XSPEC's gain as a Sherpa model kernel: ``gainshift.g1(src)``.

    Parameters
    ----------
    slope : the response's energy scale (1: nominal); a photon of energy E is detected as
        slope (E + offset).
    offset : keV (0: nominal), frozen by default.
    """

    def __init__(self, name="gainshift"):
        self.slope = Parameter(name, "slope", 1.0, min=0.9, max=1.1, hard_min=0.5, hard_max=2.0)
        self.offset = Parameter(name, "offset", 0.0, min=-0.1, max=0.1, hard_min=-1.0,
                                hard_max=1.0, units="keV", frozen=True)
        self._arf = None          # (energ_lo, energ_hi, specresp) of the attached ARF
        self._attached = None     # the data set id it was attached to (for save_all)
        self._unattached_ok = False
        ArithmeticModel.__init__(self, name, (self.slope, self.offset))

    def attach(self, id=None, arf=None):
        """Use the ARF of session data set ``id`` (or a ``DataARF`` ``arf``) for the area
        factor A(E') / A(E). ``attach(None)`` with no ``arf``: the data set has none (its RMF
        holds the area), so no factor."""
        from sherpa.astro import ui
        if arf is None and id is not None:
            d = ui.get_data(id)
            if len(getattr(d, "response_ids", [])) > 1:
                raise ModelErr(f"data set {id!r} has {len(d.response_ids)} responses; a "
                               "gainshift applies to one ARF: use one per response")
            try:
                arf = ui.get_arf(id)
            except Exception:           # noqa: BLE001 - Sherpa raises several kinds for "none"
                arf = None
        if arf is None:
            self._arf = None
        else:
            self._arf = (np.asarray(arf.energ_lo, float), np.asarray(arf.energ_hi, float),
                         np.asarray(arf.specresp, float))
        self._attached = id
        self._unattached_ok = True
        return self

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], Model):
            return GainShifted(args[0], self)
        return ArithmeticModel.__call__(self, *args, **kwargs)

    def calc(self, p, *args, **kwargs):
        raise ModelErr(f"{self.name} is a gain kernel: apply it to a source, {self.name}(src)")

    def factor(self, lo, hi, lo2, hi2):
        """A(E') / A(E) on the bins (keV) before and after the mapping (1 without an ARF)."""
        if self._arf is None:
            if not self._unattached_ok:
                raise ModelErr(f"{self.name} is not attached to a data set: call "
                               f"{self.name}.attach(id) (the data set whose ARF it shifts; "
                               "sherpa_rim.crosscal.set_gain does it), or attach(None) for a "
                               "response without an ARF")
            return 1.0
        a_lo, a_hi, area = self._arf
        before = area_on_bins(a_lo, a_hi, area, lo, hi)
        after = area_on_bins(a_lo, a_hi, area, lo2, hi2)
        return np.divide(after, before, out=np.zeros_like(after), where=before > 0)


class GainShifted(CompositeModel, ArithmeticModel):
    """``kernel(model)``: ``model`` evaluated on the gain-mapped bins (see :class:`GainShift`)."""

    def __init__(self, model, kernel: GainShift):
        self.model = model
        self.kernel = kernel
        CompositeModel.__init__(self, f"{kernel.name}({model.name})", (kernel, model))

    def startup(self, cache=False):
        self.model.startup(cache)
        CompositeModel.startup(self, cache)

    def teardown(self):
        self.model.teardown()
        CompositeModel.teardown(self)

    def calc(self, p, lo, hi=None, *args, **kwargs):
        if hi is None:
            raise ModelErr(f"{self.name}: the gain needs integrated bins (lo, hi), as a PHA "
                           "response gives")
        n = len(self.kernel.pars)
        slope, offset = p[0], p[1]
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        wave = (lo.size > 1 and lo[0] > lo[-1]) or bool(np.any(hi < lo))   # as energy_bins decides
        e_lo, e_hi = energy_bins(lo, hi)
        s_lo, s_hi = shifted_bins(e_lo, e_hi, slope, offset)
        if wave:                       # back to the wavelength bins the model was given
            args2 = (HC_KEV_A / s_hi, HC_KEV_A / s_lo)
        else:
            args2 = (s_lo, s_hi)
        out = np.asarray(self.model.calc(p[n:], *args2, *args, **kwargs), float)
        return out * self.kernel.factor(e_lo, e_hi, s_lo, s_hi)


class AreaCorr(ArithmeticModel):
    """Effective-area correction: factor x (1 + d(E)), d piecewise linear in log E through
    d1..d5 at 0.5, 1, 2, 4, 8 keV (constant beyond). Multiplicative: ``a1 * src``."""

    def __init__(self, name="areacorr"):
        self.factor = Parameter(name, "factor", 1.0, min=0.5, max=2.0, hard_min=0.0, hard_max=10.0)
        ds = []
        for k, e in enumerate(AREA_KNOTS_KEV, start=1):
            par = Parameter(name, f"d{k}", 0.0, min=-0.5, max=0.5, hard_min=-1.0, hard_max=10.0,
                            frozen=True)
            setattr(self, f"d{k}", par)
            ds.append(par)
        ArithmeticModel.__init__(self, name, (self.factor, *ds))

    def calc(self, p, lo, hi=None, *args, **kwargs):
        e_lo, e_hi = energy_bins(lo, hi)
        mid = 0.5 * (e_lo + e_hi) if hi is not None else e_lo
        return area_factor(mid, p[0], p[1:])
