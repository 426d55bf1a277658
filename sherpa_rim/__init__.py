"""sherpa_rim: RIM deconvolution, amortised networks and smoothed particle
inference of X-ray spectra, inside ordinary Sherpa sessions.

``import sherpa_rim`` registers the package's Sherpa model types (``cie``,
``vcie``, ...) with the ``sherpa.astro.ui`` session; it has no other side
effects.
"""
from . import _logging  # noqa: F401  (NullHandler on the package logger)

__version__ = "0.1.0"

from .errors import (DataError, GridError, MissingDependencyError,  # noqa: E402,F401
                     ModelFileError, ResponseError, SherpaRimError)
from .response import CanonicalGrid, Response, load_response  # noqa: E402,F401
from .deconvolution import DeconvolutionResult, deconvolve, deconvolve_files  # noqa: E402,F401
from .amortised import estimate, fill_missing, guess  # noqa: E402,F401

__all__ = ["__version__", "load_response", "Response", "CanonicalGrid", "deconvolve",
           "deconvolve_files", "DeconvolutionResult", "estimate", "guess", "fill_missing",
           "SherpaRimError",
           "ResponseError", "DataError", "GridError", "ModelFileError", "MissingDependencyError"]


def _register():
    """Register the Sherpa model classes with the UI session (idempotent)."""
    from . import models  # noqa: F401
    models.register()


try:  # registration needs sherpa; the pure-numpy parts work without a session
    _register()
except ImportError:  # pragma: no cover - sherpa is a core dependency
    pass

try:
    from .models.thermal import get_abund, set_abund  # noqa: E402,F401
except ImportError:  # pragma: no cover - without Sherpa (e.g. a training machine)
    pass
