"""The instrument: dense responses (RMF x ARF) of Sherpa data sets or OGIP files, the
canonical grids the networks live on, and a library of real Chandra ACIS responses.

* :mod:`.grid`: :class:`CanonicalGrid`, rebinning, ``RIM_GRID``;
* :mod:`.matrix`: :class:`Response` (fold, regrid) and the dense RMF;
* :mod:`.ogip`: :func:`load_response` from files or a session data set;
* :mod:`.library`: :class:`ResponseLibrary` of real ARF/RMF pairs.
"""
from .grid import (ACIS_PI_CHANNELS, ACIS_PI_WIDTH_KEV, RIM_GRID, CanonicalGrid,  # noqa: F401
                   rebin_matrix, rim_grid)
from .matrix import Response, dense_rmf  # noqa: F401
from .ogip import load_response, read_spectrum  # noqa: F401

__all__ = ["CanonicalGrid", "Response", "load_response", "read_spectrum", "dense_rmf",
           "rebin_matrix", "rim_grid", "RIM_GRID", "ACIS_PI_CHANNELS", "ACIS_PI_WIDTH_KEV"]
