"""Simulation for training, tests and benchmarks: responses split by ObsID and augmented
(:mod:`.responses`), spectra S = R F + noise and their I/O (:mod:`.spectra`)."""
from .responses import (BaseComponents, ResponseSet, base_components,  # noqa: F401
                        build_response_sets, split_groups)
from .spectra import (SimConfig, add_noise, intrinsic_spectra, read_set,  # noqa: F401
                      sample_parameters, simulate, write_set)

__all__ = ["SimConfig", "simulate", "build_response_sets", "base_components", "BaseComponents",
           "ResponseSet", "split_groups", "sample_parameters", "intrinsic_spectra", "add_noise",
           "write_set", "read_set"]
