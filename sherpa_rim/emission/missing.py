"""Where the emission table's missing ions matter.

Some ions have no lines in the shipped table: no release the build reads has their collision
strengths (Ni VI-X; the ions whose CHIANTI 9.0.1 files are absent from the mirror come from the
pre-v8 supplement). ``tools/missing_ions.py``
records in the table's JSON, per element, the share of the element those ions hold at each
temperature of the table (CHIANTI 9.0.1's own ionisation balance). The Sherpa thermal models
warn from it (:func:`missing_ions_note`); docs/emission.md tabulates it.
"""
from __future__ import annotations

import functools
import json
from typing import Optional

import numpy as np

from .cie import KEV_PER_K, TABLE_FILE

__all__ = ["MISSING_WARN", "NOT_NAMED", "missing_ions", "missing_ions_note"]

MISSING_WARN = 0.2     # an element with this fraction of its ions without lines is named
#: trace elements without strong X-ray lines (AG89: 2.1e-6 and 3.0e-6 of H): missing_ions()
#: reports them, the warning does not name them (Na VI-XI are absent at every kT < 0.9 keV)
NOT_NAMED = ("na", "al")


@functools.lru_cache(maxsize=1)
def _missing_record():
    """(logT, elements, fractions (element, T)) of ions without lines (tools/missing_ions.py),
    or None for a table whose JSON does not record them."""
    p = TABLE_FILE.with_suffix(".json")
    try:
        prov = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    rec = prov.get("missing_ions")
    if not rec:
        return None
    names = list(rec["fraction"])
    frac = np.array([rec["fraction"][n] for n in names], float)
    logt = np.asarray(prov["logT"], float)
    hot = logt[(frac >= MISSING_WARN).any(axis=0)]
    return logt, names, frac, (10.0 ** hot.max() * KEV_PER_K if hot.size else 0.0), rec["ions"]


def missing_ions(kT: float) -> dict:
    """{element: fraction} of the elements whose ions without lines in the table (no CHIANTI
    release the build reads has their collision strengths; fully stripped ions left out) hold
    at least :data:`MISSING_WARN` of the element at ``kT`` (keV), in the table's ionisation
    equilibrium. Empty above about 0.12 keV (Ni VI-X); see docs/emission.md."""
    rec = _missing_record()
    if rec is None or kT > rec[3] * 1.13:          # 1.13: half a 0.05-dex step
        return {}
    logt, names, frac, _, _ = rec
    x = np.log10(max(kT, 1e-6) / KEV_PER_K)
    f = np.array([np.interp(x, logt, row) for row in frac])
    return {n: float(v) for n, v in zip(names, f) if v >= MISSING_WARN}


def missing_ions_note(kT: float) -> Optional[str]:
    """The warning :func:`missing_ions` gives rise to, or None."""
    found = missing_ions(kT)
    if not found:
        return None
    ions = _missing_record()[4]
    roman = ("I II III IV V VI VII VIII IX X XI XII XIII XIV XV XVI XVII XVIII XIX XX XXI XXII "
             "XXIII XXIV XXV XXVI XXVII XXVIII").split()
    parts = [f"{n.capitalize()} ({100 * f:.0f} %: {' '.join(roman[s - 1] for s in ions[n])})"
             for n, f in sorted(found.items(), key=lambda kv: -kv[1]) if n not in NOT_NAMED]
    if not parts:
        return None
    return (f"at kT = {kT:.3g} keV the emission table has no lines from ions that hold this "
            f"share of their element: {', '.join(parts)} (no CHIANTI release the table was built "
            "from has their collision strengths): lines of these elements are underestimated "
            "(docs/emission.md)")
