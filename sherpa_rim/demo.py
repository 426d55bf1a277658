"""``sherpa-rim demo``: the main job on built-in data.

On a real Chandra ACIS-S response shipped with Sherpa (ObsID 7867), simulate an
NGC 1550-like galaxy group (kT = 1.3 keV, abundance 0.4 solar, z = 0.0123,
Galactic nH = 0.1e22) with Poisson noise, fit the ``cie`` model in Sherpa, and
write plots and a text summary; deconvolve the same data with the RIM and ask the
parameter network. Any failure of those stops the demo with an error.
"""
from __future__ import annotations

import json
import logging
import pathlib
import time

import numpy as np

from .amortised.params import estimate
from .emission import spectrum
from .emission.absorption import transmission
from .metrics import FE_L_BAND, band_flux_error, relative_l2
from .models import register
from .response.library import sherpa_data_dir
from .response.ogip import load_response
from .rim.deconvolver import deconvolve

log = logging.getLogger(__name__)

TRUTH = dict(kT=1.3, Abundanc=0.4, redshift=0.0123, norm=2.0e-3, nH=0.1)
SIGMA_90 = 1.6448536269514722          # two-sided 90 % for one parameter
OUTPUTS = ("demo_fit.png", "demo_intrinsic.png", "demo_rim.png", "demo_summary.txt",
           "demo_summary.json", "demo_spectrum.pi")


def _check_outputs(out: pathlib.Path, clobber: bool):
    out.mkdir(parents=True, exist_ok=True)
    existing = [f for f in OUTPUTS if (out / f).exists()]
    if existing and not clobber:
        raise FileExistsError(f"{out} already holds {', '.join(existing)}; pass --clobber to "
                              "overwrite them or --out to write elsewhere")


def run(out="sherpa_rim_demo", clobber=False, seed=1, exposure=40e3) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sherpa.astro import ui

    register()                               # cie, mmabs in the session
    t0 = time.perf_counter()
    out = pathlib.Path(out)
    _check_outputs(out, clobber)
    d = sherpa_data_dir()
    pha = d / "acisf07867_000N001_r0002_pha3.fits"
    logging.getLogger("sherpa").setLevel(logging.ERROR)

    ui.clean()
    ui.load_pha("demo", str(pha))
    d0 = ui.get_data("demo")
    for bid in list(d0.background_ids):          # the simulation has no background
        d0.delete_background(bid)
    gal = ui.create_model_component("mmabs", "gal")
    grp = ui.create_model_component("cie", "group")
    ui.set_source("demo", gal * grp)
    gal.nH = TRUTH["nH"]
    grp.kT, grp.Abundanc, grp.redshift, grp.norm = (TRUTH[k] for k in
                                                     ("kT", "Abundanc", "redshift", "norm"))
    np.random.seed(seed)
    ui.fake_pha("demo", arf=ui.get_arf("demo"), rmf=ui.get_rmf("demo"), exposure=exposure,
                grouped=False, bkg=None)
    ui.save_pha("demo", str(out / "demo_spectrum.pi"), clobber=True)
    counts = float(ui.get_data("demo").counts.sum())
    ui.notice(0.5, 7.0)
    ui.set_stat("cstat")
    ui.set_method("levmar")
    # a conventional fit from a neutral start
    gal.nH.freeze()
    grp.kT, grp.Abundanc, grp.norm = 3.0, 1.0, 1e-3
    grp.Abundanc.thaw()
    ui.fit("demo")
    fr = ui.get_fit_results()
    # 90 % intervals from conf() (the statistic's own profile; covar() would ignore the
    # conf options and give 1 sigma)
    old_sigma = ui.get_conf_opt("sigma")
    ui.set_conf_opt("sigma", SIGMA_90)
    try:
        ui.conf("demo")
    finally:
        ui.set_conf_opt("sigma", old_sigma)
    cv = ui.get_conf_results()
    errs = {n.split(".")[-1]: (lo, hi) for n, lo, hi in zip(cv.parnames, cv.parmins, cv.parmaxes)}

    rsp = load_response(id="demo")
    # figure 1: the Sherpa fit
    ui.plot_fit_resid("demo")
    fig = plt.gcf()
    fig.axes[0].set_title(f"NGC 1550-like group through ACIS-S (ObsID 7867), {exposure/1e3:.0f} ks")
    fig.savefig(out / "demo_fit.png", dpi=110)
    plt.close("all")
    # figure 2: intrinsic spectrum, true and fitted
    e_mid = rsp.energy_mid()
    de = rsp.energy_hi - rsp.energy_lo
    true_f = true_flux_on(rsp.energy_lo, rsp.energy_hi)
    fit_f = grp(rsp.energy_lo, rsp.energy_hi) * gal(rsp.energy_lo, rsp.energy_hi)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.loglog(e_mid, true_f / de, color="k", lw=1.0, label="true intrinsic spectrum")
    ax.loglog(e_mid, fit_f / de, color="C1", lw=1.0, alpha=0.8, label="cie fit")
    ax.set_xlim(0.4, 8)
    ax.set_ylim(bottom=max(1e-7, (true_f / de)[(e_mid > 0.4) & (e_mid < 8)].min() * 0.5))
    ax.set_xlabel("Energy (keV)")
    ax.set_ylabel("photons cm$^{-2}$ s$^{-1}$ keV$^{-1}$")
    ax.legend()
    ax.set_title("Intrinsic (absorbed) spectrum")
    fig.tight_layout()
    fig.savefig(out / "demo_intrinsic.png", dpi=110)
    plt.close(fig)

    # RIM deconvolution of the same data set and the amortised estimate: the demo's main job,
    # so any failure stops it (an error, not a demo that reports success without them)
    t1 = time.perf_counter()
    res = deconvolve(id="demo")
    t_rim = time.perf_counter() - t1
    truth_can = true_flux_on(res.energy_lo, res.energy_hi)
    fig = res.plot(show_truth=truth_can)
    fig.savefig(out / "demo_rim.png", dpi=110)
    plt.close(fig)
    # the fitted parameters binned as the truth is (lines in their bins), not the Sherpa
    # model's binning (lines shared between neighbouring bins, for fitting): like with like
    fit_can = true_flux_on(res.energy_lo, res.energy_hi, kT=grp.kT.val,
                           Abundanc=grp.Abundanc.val, redshift=grp.redshift.val,
                           norm=grp.norm.val, nH=gal.nH.val)
    rim = {"gof": {k: res.gof[k] for k in ("statistic", "value", "expected", "sd", "p")},
           "in_prior": res.in_prior, "seconds": t_rim,
           "rel_l2_rim": float(relative_l2(truth_can, res.flux, res.energy_lo, res.energy_hi)),
           "rel_l2_cie_fit": float(relative_l2(truth_can, fit_can, res.energy_lo, res.energy_hi)),
           "fe_l_err_rim": float(band_flux_error(truth_can, res.flux, res.energy_lo, res.energy_hi, FE_L_BAND)),
           "fe_l_err_cie_fit": float(band_flux_error(truth_can, fit_can, res.energy_lo, res.energy_hi, FE_L_BAND)),
           "provider": res.provider, "warnings": res.warnings}
    flag = {True: "", False: "  (flagged: outside the training prior)",
            None: "  (the out-of-prior check failed)"}[res.in_prior]
    rim_lines = ["", f"RIM deconvolution ({res.model_name}, ONNX Runtime {res.provider}, "
                     f"{t_rim:.2f} s incl. 32 Poisson resamplings):",
                 f"  goodness of fit of the refolded reconstruction: {res.gof['statistic']} = "
                 f"{res.gof['value']:.1f} (expected {res.gof['expected']:.1f} +- {res.gof['sd']:.1f}), "
                 f"p = {res.gof['p']:.2f}" + flag,
                 f"  relative L2 error of the intrinsic spectrum (0.5-7 keV): RIM {rim['rel_l2_rim']:.3f}, "
                 f"cie fit {rim['rel_l2_cie_fit']:.3f}",
                 f"  Fe-L (0.7-1.3 keV) flux error: RIM {100 * rim['fe_l_err_rim']:+.1f} %, "
                 f"cie fit {100 * rim['fe_l_err_cie_fit']:+.1f} %",
                 "  plot: demo_rim.png"]
    rim_lines += [f"  WARNING: {w}" for w in res.warnings]
    t2 = time.perf_counter()
    net = estimate(id="demo", method="network")
    t_net = time.perf_counter() - t2
    post = estimate(id="demo")                       # the exact posterior
    rim["estimate_network"] = {k: net[k] for k in ("kT", "abundance", "redshift", "norm")}
    rim["estimate"] = {k: post[k] for k in ("kT", "abundance", "redshift", "norm")}
    rim["estimate"].update(ess=post.ess, khat=post.khat, path=post.path, seconds=post.seconds)

    def row(e):
        return ", ".join(f"{k} {e[k]['median']:.3g} [{e[k]['lo90']:.3g}, {e[k]['hi90']:.3g}]"
                         for k in ("kT", "abundance", "redshift"))
    rim_lines += ["", "amortised estimates (median [90 % interval]):",
                  f"  network alone ({1e3 * t_net:.0f} ms): {row(net)}",
                  f"  exact posterior ({post.seconds:.2f} s, {post.path}; ESS {post.ess:.0f}"
                  + (f", k-hat {post.khat:.2f}" if post.khat is not None else "") + f"): {row(post)}"]
    rim_lines += [f"  WARNING: {w}" for w in post["warnings"]]

    summary = {
        "response": pha.name, "exposure_s": exposure, "counts": counts,
        "truth": TRUTH,
        "cie_fit": {p.name: p.val for p in grp.pars if not p.frozen},
        "cie_fit_90pct": errs,
        "cstat": fr.statval, "dof": fr.dof, "nfev": fr.nfev,
        "rim": rim,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    lines = [
        "sherpa-rim demo: NGC 1550-like group (kT 1.3 keV, Z 0.4, z 0.0123) through a real",
        f"Chandra ACIS-S response (ObsID 7867), {exposure/1e3:.0f} ks, {counts:.0f} counts (0.5-7 keV fit)",
        "",
        f"{'parameter':10s} {'truth':>8s} {'cie fit':>9s} {'90% interval':>22s}",
    ]
    for label, name in (("kT (keV)", "kT"), ("abundance", "Abundanc"), ("norm", "norm")):
        v = getattr(grp, name).val
        lo, hi = errs.get(name, (None, None))
        iv = f"[{v + lo:.4g}, {v + hi:.4g}]" if lo is not None and hi is not None else "-"
        lines.append(f"{label:10s} {TRUTH[name]:8.4g} {v:9.4g} {iv:>22s}")
    lines += ["", f"cstat = {fr.statval:.1f} for {fr.dof} dof ({fr.nfev} model evaluations)"]
    lines += rim_lines
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    lines += ["", f"wall time {summary['seconds']:.1f} s",
              "plots: demo_fit.png (Sherpa fit and residuals), demo_intrinsic.png, demo_rim.png"]
    (out / "demo_summary.txt").write_text("\n".join(lines) + "\n")
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=1, default=float) + "\n")
    ui.clean()
    return summary | {"text": "\n".join(lines)}


def true_flux_on(lo, hi, **pars):
    """mmabs * cie photon flux per bin on [lo, hi] keV for the demo's truth (or ``pars``
    given), lines binned exactly (each in the bin that holds it)."""
    p = {**TRUTH, **pars}
    f = spectrum(p["kT"], p["Abundanc"], p["redshift"], p["norm"], lo, hi)
    return f * transmission(p["nH"], lo, hi)
