"""Saving a Sherpa session that uses sherpa_rim: ``sherpa_rim.save_all``.

Sherpa's own ``save_all`` writes a Python script of the session: data files, filters,
model components and their Parameters, the statistic's *name*. What is not a Parameter
is not written: the particles of an ``spi`` model, the data set a ``rimspec`` is bound
to, the data set whose ARF a ``gainshift`` shifts, the settings of a prior statistic other than the default ones; and the script does
not ``import sherpa_rim``, without which ``create_model_component("cie", ...)`` fails.
:func:`save_all` writes Sherpa's script with those added, so that running it in a fresh
Python gives the same statistic (``docs/sherpa_session.md`` has the table of what each
way of saving carries).
"""
from __future__ import annotations

import io
import logging
import pathlib
import re

import numpy as np

from .models import GainShift, RIMSpec, SPI
from .stats import STATISTICS

log = logging.getLogger(__name__)

__all__ = ["save_all", "extra_state"]

HEADER = "import sherpa_rim  # registers the models and the prior statistics (sherpa_rim.save_all)"


def _stat_call(st) -> str:
    """A Python expression that rebuilds one of sherpa_rim's prior statistics."""
    args = []
    for k, v in st.settings.items():
        if k == "result":
            if v is not None:
                log.warning("%s: the DeconvolutionResult given as result= is not saved; the "
                            "restored statistic deconvolves the data set again", st.name)
            continue
        if k == "component":
            if v is not None:
                args.append(f"component=get_model_component({v.name.split('.')[-1]!r})")
            continue
        if v != st._defaults.get(k):
            args.append(f"{k}={v!r}")
    return f"sherpa_rim.stats.{type(st).__name__}({', '.join(args)})"


def extra_state() -> list:
    """Lines of Python that restore what Sherpa's save_all leaves out (run after its script)."""
    from sherpa.astro import ui

    lines = []
    for name in ui.list_model_components():
        m = ui.get_model_component(name)
        if isinstance(m, SPI):
            p = np.asarray(m.particles, float)
            lines.append(f"get_model_component({name!r}).particles = numpy.array("
                         f"{p.tolist()!r})")
        elif isinstance(m, RIMSpec) and m._bound is not None and not hasattr(m._bound, "counts"):
            lines.append(f"get_model_component({name!r}).bind({m._bound!r})")
        elif isinstance(m, GainShift) and m._unattached_ok:
            # the ARF it shifts: re-read from the data set it was attached to
            if m._attached is None and m._arf is not None:
                log.warning("%s was attached to an ARF object, not a data set: the script "
                            "cannot restore it; attach(id) it after restoring", name)
            else:
                lines.append(f"get_model_component({name!r}).attach({m._attached!r})")
    return lines


def save_all(outfile=None, clobber: bool = False) -> str:
    """Sherpa's ``save_all`` plus what it does not carry for sherpa_rim (module docstring).

    Parameters
    ----------
    outfile : str or path, optional
        Where to write the script; returned as a string as well. Not overwritten unless
        ``clobber``.
    clobber : bool
        Overwrite an existing ``outfile``.

    Returns
    -------
    str
        The script.
    """
    from sherpa.astro import ui

    if outfile is not None:
        path = pathlib.Path(outfile)
        if path.exists() and not clobber:
            raise FileExistsError(f"{path} exists; pass clobber=True or another name")
    buf = io.StringIO()
    ui.save_all(buf)
    text = buf.getvalue()
    # the models must be registered before any create_model_component / set_stat line
    text = re.sub(r"^(from sherpa\.astro\.ui import \*)$", r"\1\n" + HEADER, text, count=1,
                  flags=re.M)
    if HEADER not in text:
        text = "from sherpa.astro.ui import *\n" + HEADER + "\n" + text
    st = ui.get_stat()
    if isinstance(st, STATISTICS):
        text = text.replace(f'set_stat("{st.name}")', f"set_stat({_stat_call(st)})")
    extra = extra_state()
    if extra:
        text += ("\n######### sherpa_rim: state that is not a Parameter\n\n"
                 + "\n".join(extra) + "\n")
    if outfile is not None:
        pathlib.Path(outfile).write_text(text)
    return text
