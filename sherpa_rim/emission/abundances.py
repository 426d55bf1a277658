"""Solar abundance tables (number density relative to H), as in XSPEC's ``abund``.

Only the elements of APEC's set are listed: H, He, C, N, O, Ne, Na, Mg, Al, Si, S,
Ar, Ca, Fe, Ni.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["ELEMENTS", "SYMBOLS", "TABLES", "solar", "available_tables", "set_abund", "get_abund"]

#: atomic numbers of the elements in the emission table
ELEMENTS = (1, 2, 6, 7, 8, 10, 11, 12, 13, 14, 16, 18, 20, 26, 28)
SYMBOLS = ("H", "He", "C", "N", "O", "Ne", "Na", "Mg", "Al", "Si", "S", "Ar", "Ca", "Fe", "Ni")

TABLES: Dict[str, Dict[str, float]] = {
    # Anders & Grevesse (1989), Geochim. Cosmochim. Acta 53, 197 (XSPEC default 'angr')
    "angr": dict(H=1.0, He=9.77e-2, C=3.63e-4, N=1.12e-4, O=8.51e-4, Ne=1.23e-4, Na=2.14e-6,
                 Mg=3.80e-5, Al=2.95e-6, Si=3.55e-5, S=1.62e-5, Ar=3.63e-6, Ca=2.29e-6,
                 Fe=4.68e-5, Ni=1.78e-6),
    # Asplund, Grevesse, Sauval & Scott (2009), ARA&A 47, 481 (photospheric; 'aspl')
    "aspl": dict(H=1.0, He=8.51e-2, C=2.69e-4, N=6.76e-5, O=4.90e-4, Ne=8.51e-5, Na=1.74e-6,
                 Mg=3.98e-5, Al=2.82e-6, Si=3.24e-5, S=1.32e-5, Ar=2.51e-6, Ca=2.19e-6,
                 Fe=3.16e-5, Ni=1.66e-6),
    # Wilms, Allen & McCray (2000), ApJ 542, 914 ('wilm')
    "wilm": dict(H=1.0, He=9.77e-2, C=2.40e-4, N=7.59e-5, O=4.90e-4, Ne=8.71e-5, Na=1.45e-6,
                 Mg=2.51e-5, Al=2.14e-6, Si=1.86e-5, S=1.23e-5, Ar=2.57e-6, Ca=1.58e-6,
                 Fe=2.69e-5, Ni=1.12e-6),
    # Lodders (2003), ApJ 591, 1220 ('lodd')
    "lodd": dict(H=1.0, He=7.92e-2, C=2.45e-4, N=6.76e-5, O=4.90e-4, Ne=7.41e-5, Na=1.99e-6,
                 Mg=3.55e-5, Al=2.88e-6, Si=3.47e-5, S=1.55e-5, Ar=3.55e-6, Ca=2.19e-6,
                 Fe=2.95e-5, Ni=1.66e-6),
}


def available_tables():
    return sorted(TABLES)


def solar(table: str = "angr") -> np.ndarray:
    """Abundances (by number, relative to H) of :data:`ELEMENTS` in the named table."""
    try:
        t = TABLES[table]
    except KeyError:
        raise ValueError(f"unknown solar abundance table {table!r}; choose one of "
                         f"{available_tables()}") from None
    return np.array([t[s] for s in SYMBOLS])


_CURRENT = {"table": "angr"}


def set_abund(table: str) -> None:
    """Solar abundance table used by ``cie``, ``vcie`` and the exact posterior (like XSPEC's
    ``abund``). One of 'angr' (Anders & Grevesse 1989, default), 'aspl', 'wilm', 'lodd'."""
    if table not in available_tables():
        raise ValueError(f"unknown abundance table {table!r}; choose from {available_tables()}")
    _CURRENT["table"] = table


def get_abund() -> str:
    """The solar abundance table in use (:func:`set_abund`)."""
    return _CURRENT["table"]
