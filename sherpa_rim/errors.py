"""Exceptions raised by sherpa_rim. Every message names the fix."""


class SherpaRimError(Exception):
    """Base class of every sherpa_rim error."""


class ResponseError(SherpaRimError, ValueError):
    """A response (ARF/RMF) is missing, unreadable or inconsistent with its data."""


class DataError(SherpaRimError, ValueError):
    """Spectral data are unusable as given (NaN or negative counts, wrong grid...)."""


class GridError(SherpaRimError, ValueError):
    """Energy or channel grids do not match what a model was trained on."""


class ModelFileError(SherpaRimError, RuntimeError):
    """A shipped or user ONNX model is missing, corrupted or mismatched."""


class MissingDependencyError(SherpaRimError, ImportError):
    """An optional dependency is needed for this feature."""


class OutputError(SherpaRimError, OSError):
    """An output cannot be written (it exists without --clobber, its folder is missing or
    read-only)."""
