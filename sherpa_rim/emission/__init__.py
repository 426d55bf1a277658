"""Thermal-plasma (CIE) emission for sherpa_rim.

* :func:`spectrum` / :func:`spectrum_batch`: CHIANTI-based CIE spectra from the
  shipped table (APEC normalisation), see :mod:`sherpa_rim.emission.cie`;
* :mod:`~sherpa_rim.emission.backends`: the same interface on XSPEC's ``xsapec``
  (when Sherpa has XSPEC) or on AtomDB ``*_line.fits``/``*_coco.fits`` files;
* :mod:`~sherpa_rim.emission.absorption`: Morrison & McCammon (1983) absorption;
* :mod:`~sherpa_rim.emission.abundances`: solar abundance tables.
"""
from .abundances import ELEMENTS, SYMBOLS, available_tables, solar  # noqa: F401
from .cie import (CIETable, K_PER_KEV, KEV_PER_K, load_table, spectrum,  # noqa: F401
                  spectrum_batch, table_info)

__all__ = ["spectrum", "spectrum_batch", "load_table", "table_info", "CIETable", "solar",
           "available_tables", "ELEMENTS", "SYMBOLS", "K_PER_KEV", "KEV_PER_K"]
