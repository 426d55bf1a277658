"""The Recurrent Inference Machine at run time: the deconvolver behind ONNX Runtime
(:mod:`.deconvolver`), its data-consistency step (:mod:`.consistency`), the out-of-prior
checks (:mod:`.checks`) and the result with its I/O and plots (:mod:`.result`)."""
from .deconvolver import RIMDeconvolver, deconvolve, deconvolve_files  # noqa: F401
from .result import DeconvolutionResult  # noqa: F401

__all__ = ["RIMDeconvolver", "deconvolve", "deconvolve_files", "DeconvolutionResult"]
