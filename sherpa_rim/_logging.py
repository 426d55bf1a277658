"""Library logging: a NullHandler on the package logger; and where Sherpa's own messages go.

Sherpa gives its logger a handler on ``sys.stdout``. Its import-time warnings (no ds9, no
XSPEC) and the messages it prints while reading files would then land in front of a
command's machine-readable output. :func:`sherpa_output_to` points Sherpa's own handlers at
another stream for a while: ``import sherpa_rim`` sends Sherpa's import-time messages to
stderr, and the command line sends everything Sherpa says to stderr.
"""
import contextlib
import logging

logging.getLogger("sherpa_rim").addHandler(logging.NullHandler())


@contextlib.contextmanager
def sherpa_output_to(stream):
    """Within the block, Sherpa's own stream handlers write to ``stream``."""
    handlers = [h for h in logging.getLogger("sherpa").handlers
                if isinstance(h, logging.StreamHandler)]
    old = [h.stream for h in handlers]
    for h in handlers:
        h.setStream(stream)
    try:
        yield
    finally:
        for h, s in zip(handlers, old):
            h.setStream(s)


#: Sherpa's import-time notices about its optional parts (no ds9, no XSPEC): not about the
#: user's data, so sherpa_rim logs them at INFO (``sherpa-rim -v`` shows them) when it is the
#: one importing Sherpa's UI
_OPTIONAL_PARTS = ("sherpa.image", "sherpa.astro.all")


class _OptionalPartsToInfo(logging.Filter):
    def filter(self, record):
        if record.name in _OPTIONAL_PARTS and record.levelno == logging.WARNING:
            logging.getLogger("sherpa_rim").info("Sherpa: %s", " ".join(record.getMessage().split()))
            return False
        return True


@contextlib.contextmanager
def sherpa_optional_parts_quiet():
    """Within the block, Sherpa's notices about its optional parts go to sherpa_rim's INFO log."""
    handlers = logging.getLogger("sherpa").handlers
    f = _OptionalPartsToInfo()
    for h in handlers:
        h.addFilter(f)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(f)
