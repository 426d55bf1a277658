"""``rimspec``: the RIM reconstruction of a data set as a Sherpa model.

The reconstruction is computed once per data set (ONNX Runtime), cached until the
data set's counts, filter, grouping, background or response change, and mapped onto
whatever energy bins Sherpa asks for (piecewise-constant flux
density on the model's canonical bins, integrated over each requested bin).
Parameters: ``norm`` (free, 1 = the reconstruction as is) and ``gain`` (a
fractional energy-scale shift, frozen at 0).

The model finds its data set itself (the one whose source expression holds it);
``m.bind(id)`` picks one explicitly when the model serves several, and ``m.bind(data)``
with a ``DataPHA`` works without the UI session (``sherpa.fit.Fit``).
"""
from __future__ import annotations

import logging

import numpy as np
from sherpa.models.model import RegriddableModel1D
from sherpa.models.parameter import Parameter
from sherpa.utils.err import ModelErr

from ..observation import data_fingerprint, find_component
from ..response.grid import bin_integral, energy_bins
from ..rim.deconvolver import deconvolve

log = logging.getLogger(__name__)

__all__ = ["RIMSpec"]


class RIMSpec(RegriddableModel1D):
    """The RIM-deconvolved intrinsic spectrum of a data set (photons/cm^2/s per bin).

    Parameters
    ----------
    norm : multiplies the reconstruction.
    gain : energy-scale shift; the model at E is the reconstruction at E (1 + gain).
    """

    def __init__(self, name="rimspec"):
        self.norm = Parameter(name, "norm", 1.0, min=0.0, max=1e6, hard_min=0.0, hard_max=1e10)
        self.gain = Parameter(name, "gain", 0.0, min=-0.05, max=0.05, hard_min=-0.2, hard_max=0.2,
                              frozen=True)
        self._bound = None
        self._result = {}
        RegriddableModel1D.__init__(self, name, (self.norm, self.gain))

    # -- binding to a data set -------------------------------------------------
    def bind(self, data):
        """Deconvolve ``data``: a session data set id, or a Sherpa ``DataPHA`` object (the
        object API, ``sherpa.fit.Fit``, where there is no session to search)."""
        self._bound = data
        self._result = {}

    def _find_id(self):
        from sherpa.astro import ui
        hits = []
        for i in ui.list_data_ids():
            try:
                src = ui.get_source(i)
            except Exception:     # noqa: BLE001 - a data set without a source
                continue
            if find_component(src, lambda m: m is self) is not None:
                hits.append(i)
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise ModelErr(f"{self.name} is not in any data set's source; set_source(id, ...) "
                           f"first or call {self.name}.bind(id) (or .bind(data) with a DataPHA)")
        raise ModelErr(f"{self.name} is in the sources of data sets {hits}; call "
                       f"{self.name}.bind(id) to choose the one to deconvolve")

    def _target(self):
        """(cache key, what deconvolve takes, the DataPHA)."""
        from sherpa.astro.data import DataPHA
        if isinstance(self._bound, DataPHA):
            return "data", self._bound, self._bound
        from sherpa.astro import ui
        i = self._find_id() if self._bound is None else self._bound
        return i, i, ui.get_data(i)

    def result(self):
        """The DeconvolutionResult behind the model: computed on first use, and again
        whenever the data set's counts, filter, grouping, background or response change."""
        key, target, data = self._target()
        fp = data_fingerprint(data)
        cached = self._result.get(key)
        if cached is None or cached[0] != fp:
            log.info("%s: deconvolving %s", self.name, key)
            self._result[key] = (fp, deconvolve(target))
        return self._result[key][1]

    def calc(self, p, lo, hi=None, *args, **kwargs):
        if hi is None:
            raise ModelErr(f"{self.name} needs an integrated energy grid (a PHA response "
                           "provides one)")
        norm, gain = p
        res = self.result()
        lo, hi = energy_bins(lo, hi)
        edges = np.concatenate([res.energy_lo, res.energy_hi[-1:]])
        f = 1.0 + gain
        return norm * bin_integral(edges, res.flux, lo * f, hi * f)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_result"] = {}
        return state
