"""sherpa_rim: RIM deconvolution, amortised networks and smoothed particle
inference of X-ray spectra, inside ordinary Sherpa sessions.

``import sherpa_rim`` registers the package's Sherpa model types (``cie``, ``vcie``,
``bcie``, ``bvcie``, ``mmabs``, ``rimspec``, ``spi``, ``gainshift``, ``areacorr``) with the
``sherpa.astro.ui`` session; it has no other side effects. The layout is described in ``docs/architecture.md``.
"""
from . import _logging  # noqa: F401  (NullHandler on the package logger)

__version__ = "0.1.0"

from .amortised import estimate, fill_missing, guess  # noqa: E402,F401
from .errors import (DataError, GridError, MissingDependencyError,  # noqa: E402,F401
                     ModelFileError, ResponseError, SherpaRimError)
from .response import CanonicalGrid, Response, load_response  # noqa: E402,F401
from .rim import DeconvolutionResult, deconvolve, deconvolve_files  # noqa: E402,F401

__all__ = ["__version__", "load_response", "Response", "CanonicalGrid", "deconvolve",
           "deconvolve_files", "DeconvolutionResult", "estimate", "guess", "fill_missing",
           "set_abund", "get_abund", "register", "save_all", "SherpaRimError",
           "ResponseError", "DataError", "GridError", "ModelFileError", "MissingDependencyError"]

try:  # the Sherpa models need sherpa; the pure-numpy parts work without it
    import sherpa  # noqa: E402,F401  (configures Sherpa's logger before its UI is imported)
except ModuleNotFoundError as exc:  # pragma: no cover - sherpa is a core dependency
    if exc.name != "sherpa":
        raise
    import warnings  # noqa: E402

    warnings.warn("Sherpa is not installed: the Sherpa models (cie, vcie, bcie, bvcie, mmabs, "
                  "rimspec, spi, gainshift, areacorr) and statistics are not registered; install "
                  "it (./dev.sh env, or pip install sherpa after apt-get install bison flex "
                  "libfftw3-dev pkg-config)", stacklevel=2)
else:
    import sys  # noqa: E402

    # Sherpa's import-time notices (no ds9, no XSPEC) go to sherpa_rim's INFO log, anything
    # else it says then to stderr, not stdout
    with _logging.sherpa_output_to(sys.stderr), _logging.sherpa_optional_parts_quiet():
        from . import models, stats  # noqa: E402
        from .models import get_abund, set_abund  # noqa: E402,F401
        from .session import save_all  # noqa: E402,F401

    def register() -> None:
        """Register the Sherpa models (cie, vcie, bcie, bvcie, mmabs, rimspec, spi, gainshift,
        areacorr) and the prior statistics (rimprior_chi2, rimprior_cstat, netprior_chi2,
        netprior_cstat) with the ``sherpa.astro.ui`` session. ``import sherpa_rim`` does it; Sherpa's ``clean()``
        forgets the statistics, so call it again after ``clean()``."""
        models.register()
        stats.register()

    with _logging.sherpa_output_to(sys.stderr), _logging.sherpa_optional_parts_quiet():
        register()                                   # the first import of Sherpa's UI
