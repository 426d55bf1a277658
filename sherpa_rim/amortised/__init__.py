"""Amortised networks at run time (ONNX Runtime): the parameter network
(:mod:`.params`: ``estimate``, ``guess``) and the denoising autoencoder that fills
missing bands (:mod:`.dae`: ``fill_missing``)."""
from .dae import FilledSpectrum, GapFiller, fill_missing  # noqa: F401
from .params import ParameterEstimator, estimate, estimate_files, guess  # noqa: F401

__all__ = ["estimate", "estimate_files", "guess", "fill_missing", "ParameterEstimator",
           "GapFiller", "FilledSpectrum"]
