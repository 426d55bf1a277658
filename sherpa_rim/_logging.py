"""Library logging: a NullHandler on the package logger, nothing else."""
import logging

logging.getLogger("sherpa_rim").addHandler(logging.NullHandler())
