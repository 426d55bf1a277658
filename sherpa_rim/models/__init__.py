"""Sherpa model classes (thin: parameters + ``calc`` delegating to pure functions)."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_REGISTERED = False


def register() -> None:
    """Add sherpa_rim's model types to the ``sherpa.astro.ui`` session."""
    global _REGISTERED
    if _REGISTERED:
        return
    from sherpa.astro import ui

    for cls in _model_classes():
        ui.add_model(cls)
    _REGISTERED = True


def _model_classes():
    from .thermal import _all
    return list(_all())
