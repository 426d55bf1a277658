"""Plots in the style of Sherpa's fit plots (matplotlib, imported lazily)."""
from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["plot_deconvolved"]


def plot_deconvolved(res, truth=None, fig=None, title=None):
    """Intrinsic spectrum with its calibrated 68 % band (top), data with the refolded model
    (middle) and residuals in sigma (bottom), like ``plot_fit_resid``.

    Parameters
    ----------
    res : DeconvolutionResult
    truth : array, optional
        A known intrinsic spectrum on the same bins (photons/cm^2/s per bin).
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(7.5, 8))
    gs = fig.add_gridspec(3, 1, height_ratios=[2.2, 1.6, 0.8], hspace=0.08)
    ax0 = fig.add_subplot(gs[0])
    ax1 = fig.add_subplot(gs[1])
    ax2 = fig.add_subplot(gs[2], sharex=ax1)
    e = np.sqrt(res.energy_lo * res.energy_hi)
    de = res.energy_hi - res.energy_lo
    ax0.fill_between(e, res.flux_lo / de, res.flux_hi / de, color="C0", alpha=0.3, lw=0,
                     label="RIM 68 % (calibrated)")
    ax0.plot(e, res.flux / de, color="C0", lw=1.2, label="RIM reconstruction")
    if truth is not None:
        ax0.plot(e, np.asarray(truth) / de, color="k", lw=0.9, ls="--", label="true spectrum")
    ax0.set_xscale("log")
    ax0.set_yscale("log")
    good = res.flux > 0
    if np.any(good):
        ymax = (res.flux_hi / de)[good].max()
        ax0.set_ylim(ymax * 1e-4, ymax * 2)
    ax0.set_ylabel("photons cm$^{-2}$ s$^{-1}$ keV$^{-1}$")
    ax0.legend(fontsize=8)
    name = pathlib.Path(res.name).name if res.name else "spectrum"       # not a whole path
    ax0.set_title(title or f"{name}: RIM deconvolution ({res.model_name})", fontsize=9)

    c = 0.5 * (res.channel_lo + res.channel_hi)
    dc = res.channel_hi - res.channel_lo
    m = res.noticed
    pos = m & (res.data > 0)
    ax1.errorbar(c[pos], res.data[pos] / dc[pos], yerr=np.minimum(res.sigma[pos], 0.999 * res.data[pos]) / dc[pos],
                 fmt=".", ms=2, color="k", elinewidth=0.5, label="data (channels with counts)")
    ax1.plot(c[m], res.refolded[m] / dc[m], color="C1", lw=1.0, label="refolded RIM")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    mod = (res.refolded / dc)[m]
    if np.any(mod > 0):
        ax1.set_ylim(max(mod[mod > 0].min() * 0.3, mod.max() * 1e-5), mod.max() * 3)
    ax1.set_ylabel("counts / keV")
    ax1.legend(fontsize=8)
    plt.setp(ax1.get_xticklabels(), visible=False)
    r = (res.data - res.refolded) / res.sigma
    ax2.plot(c[m], r[m], ".", ms=2, color="k")
    ax2.axhline(0, color="C1", lw=0.8)
    ax2.set_ylabel("sigma")
    ax2.set_xlabel("Energy (keV)")
    g = getattr(res, "gof", None) or {}
    ax2.text(0.01, 0.85, (f"{g['statistic']} p = {g['p']:.2g}" if g else f"chi2/dof = {res.chi2_dof:.2f}"),
             transform=ax2.transAxes, fontsize=8)
    return fig
