"""Calibration cross-checks: one source seen by several observations.

    from sherpa_rim import crosscal
    crosscal.set_gain(2)                         # gainshift on data set 2's source (XSPEC gain)
    crosscal.set_area_correction(2)              # areacorr on it (a constant; knots= to bend)
    rep = crosscal.compare(ids=[1, 2, 3])        # joint fit, RIM, parameter and crossnet networks
    print(rep.summary()); rep.write("crosscal.fits"); rep.plot()

A calibration target's intrinsic spectrum does not change between observations: when they
deconvolve (or fit) to different spectra, the difference is in the responses. ``compare``
takes the first observation as the reference and reports for each other one its gain shift
(eV at 1 and 6 keV) and effective-area ratio per band, with 1-sigma errors, a p-value for
"one intrinsic spectrum fits all", and what deviates, by four routes (``routes=``):

* ``"joint"``: a joint forward fit (:mod:`.joint`) of the user's source model (the
  reference data set's source, copied; ``mmabs * cie`` with the given Galactic column when
  it has none) with a ``gainshift`` and an ``areacorr`` per observation;
* ``"rim"``: the observations deconvolved with their own responses and compared
  (:mod:`.routes`); only for thermal sources inside the RIM's training prior;
* ``"network"``: the parameter network's estimates compared;
* ``"crossnet"``: the cross-calibration network (:mod:`.pairnet`), trained with the gain and
  the area as free parameters of a pair, on each pair with the reference; thermal sources only.

``./dev.sh bench crosscal`` measures their sensitivity, false alarms and interval coverage
(docs/crosscal.md).
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
from scipy import stats as sps

from ..errors import DataError
from ..models import AreaCorr, GainShift, GainShifted
from ..observation import find_component
from .joint import AREA_MODES, GAIN_MODES, JointResult, joint_fit
from .report import CrossCalReport
from .bootstrap import MIN_BOOT, N_BOOT
from .pairnet import CrossNetEstimator, crossnet_route
from .routes import log_bands, network_route, redshift_of, rim_route

log = logging.getLogger(__name__)

__all__ = ["set_gain", "set_area_correction", "compare", "compare_files", "CrossCalReport",
           "ROUTES", "N_BOOT", "source_from"]

ROUTES = ("joint", "rim", "network", "crossnet")


def set_gain(id=1, name: Optional[str] = None, offset: bool = False, tie: Optional[GainShift] = None
             ) -> GainShift:
    """Apply a ``gainshift`` to data set ``id``'s source (``set_source(id, g(src))``),
    attached to its ARF, slope free (``offset=True`` frees the offset too, as XSPEC's ``gain
    fit``). ``tie``: another data set's ``gainshift`` whose parameters this one follows.
    Returns the component (``gain_<id>`` unless ``name``)."""
    from sherpa.astro import ui
    src = ui.get_source(id)
    if find_component(src, lambda m: isinstance(m, GainShifted)) is not None:
        raise DataError(f"data set {id!r}'s source already has a gain: {src.name}")
    g = ui.create_model_component("gainshift", name or f"gain_{id}")
    g.attach(id)
    g.offset.frozen = not offset
    if tie is not None:
        g.slope = tie.slope
        g.offset = tie.offset
    ui.set_source(id, g(src))
    return g


def set_area_correction(id=1, name: Optional[str] = None, knots: Sequence[int] = (),
                        tie: Optional[AreaCorr] = None) -> AreaCorr:
    """Multiply data set ``id``'s source by an ``areacorr`` (``set_source(id, a * src)``):
    its constant ``factor`` free, and the knot values ``d<k>`` for k in ``knots`` (1-5: 0.5,
    1, 2, 4, 8 keV). ``tie``: another data set's ``areacorr`` to follow."""
    from sherpa.astro import ui
    a = ui.create_model_component("areacorr", name or f"area_{id}")
    for k in knots:
        if k not in range(1, 6):
            raise ValueError(f"knots: {k!r} is not a knot index (1-5: 0.5, 1, 2, 4, 8 keV)")
        getattr(a, f"d{k}").frozen = False
    if tie is not None:
        for p, q in zip(a.pars, tie.pars):
            setattr(a, p.name, q)
    ui.set_source(id, a * ui.get_source(id))
    return a


def compare(ids: Sequence = (1, 2), routes: Sequence[str] = ROUTES, source=None,
            nH: Optional[float] = None, gain: str = "slope", area: str = "knots",
            n_samples: int = 32, n_boot: int = N_BOOT, seed: int = 0) -> CrossCalReport:
    """Cross-calibrate the session's data sets ``ids`` (the first is the reference); see the
    module docstring. ``source``: the shared model of the joint fit (default: the reference
    data set's source, else ``mmabs(nH) * cie``). ``gain`` / ``area``: which calibration
    parameters the joint fit frees (``"slope"``, ``"slope+offset"``; ``"knots"``,
    ``"constant"``). ``n_boot``: pairs simulated per comparison for the network and crossnet
    routes' null (:mod:`.bootstrap`; 0: their nulls measured on the validation ObsIDs
    instead, which docs/crosscal.md shows do not carry over); ``seed``: their draws'."""
    from sherpa.astro import ui
    from sherpa.utils.err import IdentifierErr, ModelErr
    datas = [ui.get_data(i) for i in ids]
    if source is None:
        try:
            source = ui.get_source(ids[0])
        except (IdentifierErr, ModelErr):
            source = None
    return _compare(datas, [f"data set {i!r}" for i in ids], routes, source, nH, gain, area,
                    n_samples, n_boot, seed)


def compare_files(phas: Sequence, routes: Sequence[str] = ROUTES, nH: Optional[float] = None,
                  band=(0.5, 7.0), gain: str = "slope", area: str = "knots",
                  n_samples: int = 32, arfs: Optional[Sequence] = None,
                  rmfs: Optional[Sequence] = None, source=None, n_boot: int = N_BOOT,
                  seed: int = 0) -> CrossCalReport:
    """:func:`compare` for PHA files, noticed in ``band`` keV; ``arfs`` / ``rmfs``: one per
    PHA (default: from each header). The joint fit's source: ``source`` (a model expression
    or its text), else ``mmabs(nH) * cie``."""
    from ..amortised.params import load_for_fit
    for what, lst in (("arfs", arfs), ("rmfs", rmfs)):
        if lst is not None and len(lst) != len(phas):
            raise ValueError(f"{what}: {len(lst)} given for {len(phas)} PHA files; give one per "
                             "PHA file, in the same order")
    datas = [load_for_fit(p, arf=None if arfs is None else arfs[k],
                          rmf=None if rmfs is None else rmfs[k], band=band)
             for k, p in enumerate(phas)]
    return _compare(datas, [str(p) for p in phas], routes, source, nH, gain, area, n_samples,
                    n_boot, seed)


def _compare(datas, names, routes, source, nH, gain, area, n_samples, n_boot=N_BOOT,
             seed=0) -> CrossCalReport:
    from ..amortised.params import ParameterEstimator
    from ..observation import observation_from_data
    from ..rim.deconvolver import RIMDeconvolver
    from ..runtime import shared
    unknown = [r for r in routes if r not in ROUTES]
    if unknown or not routes:
        raise ValueError(f"routes: {unknown or routes!r}; choose from {ROUTES}")
    if len(datas) < 2:
        raise DataError("a cross-calibration needs at least two observations of one source")
    if n_boot and n_boot < MIN_BOOT:
        raise ValueError(f"n_boot={n_boot}: give 0 (no simulated null) or at least {MIN_BOOT} "
                         f"pairs (the default is {N_BOOT})")
    if gain not in GAIN_MODES or area not in AREA_MODES:
        raise ValueError(f"gain={gain!r} / area={area!r}: choose gain from {list(GAIN_MODES)}, "
                         f"area from {list(AREA_MODES)}")
    rep = CrossCalReport(names=list(names), reference=0)
    column = 0.0 if nH is None else float(nH)
    est = None
    if ("network" in routes or "rim" in routes or ("crossnet" in routes and n_boot)
            or (source is None and "joint" in routes)):
        pe = shared(ParameterEstimator, "param_default")
        pe_obs = [observation_from_data(d, pe.grid) for d in datas]
        est = [pe.estimate(o, column, allow_instrument=False) for o in pe_obs]
    if isinstance(source, str):
        source = source_from(source)
    if "rim" in routes or "network" in routes:
        # both learned routes know thermal plasma only: the RIM's out-of-prior check decides,
        # before any fit (a refusal is the whole answer)
        dec = shared(RIMDeconvolver, "rim_default")
        results = [dec.deconvolve(observation_from_data(d, dec.grid), n_samples=n_samples,
                                  seed=k, nH=nH) for k, d in enumerate(datas)]
        outside = [n for n, r in zip(names, results) if r.in_prior is False]
        if outside:
            asked = " and ".join(r for r in ("rim", "network") if r in routes)
            raise DataError(f"the {asked} route{'s' if ' and ' in asked else ''} need thermal "
                            f"spectra inside the networks' training prior; {', '.join(outside)} "
                            "is outside it (deconvolve's check): use routes=('joint',) (--routes "
                            "joint) with a source model that describes it (source= / --source); "
                            "a thermal spectrum above about 3e5 counts is outside the RIM's "
                            "training too: routes=('joint', 'crossnet') run to 1e6 counts")
    if n_boot and nH is None and ("network" in routes or "crossnet" in routes):
        rep.warnings.append("no Galactic column given: the networks and their simulated null "
                            "take nH = 0; give nH= (--nH) for an absorbed source")
    if "crossnet" in routes:
        # before the joint fit: its thermal-source check refuses as the learned routes do
        cn = shared(CrossNetEstimator, "crossnet_default")
        rep.routes["crossnet"] = crossnet_route([observation_from_data(d, cn.grid) for d in datas],
                                                cn, 0, nH, list(names), est, n_boot, seed)
        rep.warnings += rep.routes["crossnet"].pop("warnings")
    if "joint" in routes:
        if source is None:
            from .joint import default_source
            source = default_source(column)
            _start(source, est[0])
        rep.routes["joint"] = _joint_rows(joint_fit(datas, 0, source, gain, area), len(datas))
        rep.warnings += rep.routes["joint"].pop("warnings")
    if "rim" in routes:
        rep.routes["rim"] = rim_route(results, 0, redshift_of(est[0] if est else None),
                                      dec.session.entry.get("crosscal_gain_calibration"),
                                      dec.session.entry.get("crosscal_null_calibration"))
    if "network" in routes:
        rep.routes["network"] = network_route(est, 0, [r.band_class for r in results],
                                              pe.entry.get("crosscal_null_calibration"),
                                              pe_obs, pe, column, n_boot, seed)
    return rep


def source_from(expr: str):
    """A Sherpa model expression from its text, e.g. ``"xsphabs.gal * powlaw1d.pl"`` (the
    components are created in the session, as ``set_source`` creates them)."""
    from sherpa.astro import ui
    tmp = "_sherpa_rim_crosscal_source"
    try:
        ui.set_source(tmp, expr)
        return ui.get_source(tmp)
    except Exception as exc:        # noqa: BLE001 - Sherpa raises several kinds
        raise DataError(f"source {expr!r} is not a Sherpa model expression ({exc}); write it "
                        "as for set_source, e.g. 'xsphabs.gal * powlaw1d.pl'") from None
    finally:
        if tmp in ui.list_model_ids():
            ui.delete_model(tmp)


def _start(source, estimate):
    """Start the default source at the network's estimate (LevMar needs to start near)."""
    if estimate is None:
        return
    c = [p for p in source.pars if p.modelname == "c"]
    vals = {"kT": estimate["kT"]["median"], "Abundanc": estimate["abundance"]["median"],
            "redshift": max(estimate["redshift"]["median"], 0.0), "norm": estimate["norm"]["median"]}
    for p in c:
        if p.name in vals:
            p.val = float(np.clip(vals[p.name], p.min, p.max))


def _joint_rows(res: JointResult, n: int) -> dict:
    """The joint fit's numbers in the report's per-observation form."""
    out = {"p": res.p, "observations": {}, "warnings": res.warnings,
           "statistic": {"name": res.statistic, "null": res.stat_null, "free": res.stat_free,
                         "n_free": res.n_free}}
    edges = [tuple(float(x) for x in b.split()[0].split("-")) for b in log_bands()]
    for k in range(n):
        if k not in res.free:
            continue
        g1, s1 = res.gain_shift(k, 1.0)
        g6, s6 = res.gain_shift(k, 6.0)
        area = {}
        for b, (lo, hi) in zip(log_bands(), edges):
            r, s = res.area_ratio(k, float(np.sqrt(lo * hi)))
            area[b] = {"ratio": r, "sigma_ln": s / r if r > 0 else float("nan")}
        # Wald test of this observation's freed parameters against nominal
        nominal = {"slope": 1.0, "offset": 0.0, "factor": 1.0}
        theta = np.array([res.params[k][p] - nominal.get(p, 0.0) for p in res.free[k]])
        C = res.cov[k]
        try:
            chi = float(theta @ np.linalg.solve(C, theta))
            p = float(sps.chi2.sf(chi, theta.size))
        except np.linalg.LinAlgError:
            chi, p = float("nan"), float("nan")
        out["observations"][k] = {"gain_1keV_eV": g1, "sigma_1keV_eV": s1, "gain_6keV_eV": g6,
                                  "sigma_6keV_eV": s6, "area_ratio": area, "chi2": chi,
                                  "dof": int(theta.size), "p": p, "params": res.params[k]}
    return out
