"""Sherpa model classes (thin: parameters + ``calc`` delegating to pure functions).

``MODEL_CLASSES`` is the one list of what ``import sherpa_rim`` registers with the
``sherpa.astro.ui`` session (``cie``, ``vcie``, ``bcie``, ``bvcie``, ``mmabs``, ``rimspec``,
``spi``, and the response calibration models ``gainshift`` and ``areacorr``).
"""
from __future__ import annotations

from .absorption import MMAbs
from .calibration import AreaCorr, GainShift, GainShifted
from .rim import RIMSpec
from .spi import SPI
from .thermal import BCIE, BVCIE, CIE, VCIE, get_abund, set_abund

__all__ = ["MODEL_CLASSES", "register", "CIE", "VCIE", "BCIE", "BVCIE", "MMAbs", "RIMSpec", "SPI", "GainShift",
           "GainShifted", "AreaCorr", "set_abund", "get_abund"]

MODEL_CLASSES = (CIE, VCIE, BCIE, BVCIE, MMAbs, RIMSpec, SPI, GainShift, AreaCorr)

_REGISTERED = False


def register() -> None:
    """Add sherpa_rim's model types to the ``sherpa.astro.ui`` session (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from sherpa.astro import ui

    for cls in MODEL_CLASSES:
        ui.add_model(cls)
    _REGISTERED = True
