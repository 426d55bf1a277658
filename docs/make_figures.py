"""Make the figures of the how-to guides (docs/img/*.png).

    .venv/bin/python docs/make_figures.py [emission] [demo] [spi] [amortised] [architecture]
"""
import logging
import pathlib
import shutil
import sys

import numpy as np

logging.getLogger("sherpa").setLevel(logging.ERROR)

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

IMG = pathlib.Path(__file__).parent / "img"
IMG.mkdir(exist_ok=True)

LINES = [("O VII", 0.574), ("O VIII Lya", 0.654), ("Fe XVII", 0.826), ("Ne X", 1.022),
         ("Fe L", 1.15), ("Mg XI", 1.352), ("Mg XII", 1.473), ("Si XIII", 1.865), ("Si XIV", 2.006),
         ("S XV", 2.461), ("S XVI", 2.623), ("Ar XVII", 3.14), ("Ca XIX", 3.90), ("Fe XXV", 6.700),
         ("Fe XXVI", 6.973)]


def emission():
    from sherpa_rim.emission import spectrum
    e = np.geomspace(0.3, 9.0, 3000)
    lo, hi = e[:-1], e[1:]
    mid = np.sqrt(lo * hi)
    fig, axs = plt.subplots(5, 1, figsize=(9, 13), sharex=True)
    for ax, kT in zip(axs, (0.5, 1.0, 2.0, 4.0, 8.0)):
        s = spectrum(kT, 1.0, 0.0, 1e-2, lo, hi) / (hi - lo)
        ax.loglog(mid, s, lw=0.7, color="k")
        ax.set_ylabel("ph cm$^{-2}$ s$^{-1}$ keV$^{-1}$", fontsize=8)
        ax.text(0.98, 0.85, f"kT = {kT:g} keV, Z = 1 (AG89), norm = 0.01", transform=ax.transAxes,
                ha="right", fontsize=9)
        top = s.max()
        ax.set_ylim(top * 1e-5, top * 5)
        for name, el in LINES:
            j = np.searchsorted(mid, el)
            if 0 < j < s.size - 1:
                win = s[max(0, j - 4):j + 5].max()
                cont = np.median(s[max(0, j - 60):j + 60])
                if win > 1.6 * cont:
                    ax.annotate(name, (el, win), xytext=(0, 8), textcoords="offset points",
                                rotation=90, fontsize=7, ha="center", va="bottom", color="C3")
    axs[-1].set_xlabel("Energy (keV)")
    fig.suptitle("sherpa_rim cie (CHIANTI 9.0.1 via fiasco 0.6.2): main lines labelled", fontsize=10)
    fig.tight_layout()
    fig.savefig(IMG / "cie_spectra.png", dpi=100)
    plt.close(fig)
    print("written", IMG / "cie_spectra.png")


def demo():
    from sherpa_rim.demo import run
    out = pathlib.Path("/tmp/sherpa_rim_demo_docs")
    res = run(out=out, clobber=True)
    for f in ("demo_fit.png", "demo_intrinsic.png", "demo_rim.png"):
        if (out / f).exists():
            shutil.copy(out / f, IMG / f)
            print("written", IMG / f)
    (IMG / "demo_summary.txt").write_text(res["text"] + "\n")


def spi():
    from sherpa_rim.response.library import sherpa_data_dir
    from sherpa_rim.response import load_response
    from sherpa_rim.spi.maps import write_maps
    from sherpa_rim.spi.paper import simulate_double_cluster
    from sherpa_rim.spi.spatial import run_spatial_spi
    rsp = load_response(pha=sherpa_data_dir() / "acisf07867_000N001_r0002_pha3.fits")
    ev, truth = simulate_double_cluster(rsp, n_photons=60_000, seed=0)
    res = run_spatial_spi(ev, rsp, n_particles=150, n_sweeps=300, redshift=0.2, nH=0.04, max_counts=60)
    maps = res.maps(((-90, 90), (-90, 90)), npix=60)
    files = write_maps(maps, "/tmp/spi_maps_docs", overwrite=True)
    for f in files:
        if f.suffix == ".png":
            shutil.copy(f, IMG / "spi_maps.png")
            print("written", IMG / "spi_maps.png")


def amortised():
    """Calibration of the parameter network's intervals (held-out test ObsIDs) and a DAE fill
    of a 0.3-0.7 keV gap."""
    from scipy.stats import norm as gauss

    from sherpa_rim.amortised import GapFiller, ParameterEstimator
    from sherpa_rim.observation import Observation
    from sherpa_rim.sim import SimConfig, build_response_sets, simulate
    rs = build_response_sets(n_total=1000, seed=0)["test"]
    data = simulate(SimConfig(n=1000, split="test", seed=21, noise="poisson", counts_range=(2e3, 1e5),
                              nH_range=(0.0, 0.2)), rs)
    obs = [Observation(S=data["S"][i].astype(float), sigma=data["sigma"][i].astype(float),
                       R=rs.matrices[data["response_index"][i]].astype(float),
                       noticed=np.ones(rs.grid.n_channels, bool), grid=rs.grid, exposure=1.0)
           for i in range(len(data["S"]))]
    mean, sd, _ = ParameterEstimator().raw(obs)
    truth = np.stack([np.log(data["kT"]), data["abundance"], data["redshift"]], 1)
    z = np.abs(truth - mean[:, :3]) / sd[:, :3]
    levels = np.linspace(0.02, 0.98, 49)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    for j, name in enumerate(("ln kT", "abundance", "redshift")):
        cover = [(z[:, j] < gauss.ppf(0.5 + q / 2)).mean() for q in levels]
        ax[0].plot(levels, cover, label=name)
    ax[0].plot([0, 1], [0, 1], "k:", lw=1)
    ax[0].fill_between([0, 1], [-0.05, 0.95], [0.05, 1.05], color="0.9", label="+-5 points")
    ax[0].set_xlabel("nominal interval probability")
    ax[0].set_ylabel("fraction of held-out spectra covered")
    ax[0].set_title("Parameter network: interval calibration (1000 test spectra)")
    ax[0].legend(fontsize=8)
    gf = GapFiller()
    c = 0.5 * (rs.grid.channel_lo + rs.grid.channel_hi)
    gap = (c >= 0.3) & (c < 0.7)
    i = int(np.argmin(np.abs(data["kT"] - 1.5) + 10 * (data["S"].sum(1) < 2e4)))
    o = obs[i]
    fill = gf.fill(np.where(gap, 0.0, o.S), (~gap).astype(float), R=o.R, nH=float(data["nH"][i]))[0]
    expected = o.R @ data["F"][i]           # the simulator scales F so that R F is the mean
    ax[1].step(c, o.S, where="mid", color="0.6", lw=0.8, label="counts (gap hidden from the DAE)")
    ax[1].plot(c, expected, "k", lw=1.2, label="true expected counts")
    ax[1].plot(c[gap], fill[gap], "C3", lw=2, label="DAE fill (flagged)")
    ax[1].axvspan(0.3, 0.7, color="C3", alpha=0.08)
    ax[1].set_xscale("log")
    ax[1].set_xlim(0.3, 8)
    ax[1].set_xticks([0.3, 0.5, 0.7, 1, 2, 3, 5, 8])
    ax[1].set_xticklabels(["0.3", "0.5", "0.7", "1", "2", "3", "5", "8"])
    ax[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[1].set_xlabel("channel energy (keV)")
    ax[1].set_ylabel("counts per canonical channel")
    ax[1].set_title(f"DAE fill of 0.3-0.7 keV (test ObsID response, kT={data['kT'][i]:.2f} keV)")
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(IMG / "amortised.png", dpi=110)
    print("written", IMG / "amortised.png")



def architecture():
    """The layers of the package (docs/architecture.md) and the path of one spectrum
    through ``deconvolve``, drawn from the source tree (every module of sherpa_rim/)."""
    import sherpa_rim
    pkg = pathlib.Path(sherpa_rim.__file__).parent
    layers = [
        ("command line, demo", ["cli/", "demo.py"]),
        ("Sherpa face, workflows", ["models/", "stats.py", "session.py", "crosscal/", "batch/"]),
        ("engines", ["rim/", "amortised/", "spi/", "baselines.py"]),
        ("run time, simulation, data", ["runtime.py", "sim/", "observation.py", "poisson.py"]),
        ("instrument, plasma, metrics", ["response/", "emission/", "metrics.py", "plotting.py"]),
        ("errors", ["errors.py"]),
    ]

    def members(entry):
        if entry.endswith("/"):
            return [f"{entry}{p.stem}" for p in sorted((pkg / entry).glob("*.py"))
                    if p.stem not in ("__init__", "__main__")]
        return [entry]

    fig, ax = plt.subplots(figsize=(12, 8.4))
    pos = {}
    n = len(layers)
    H = 1.15                                   # height of one layer band
    for i, (title, entries) in enumerate(layers):
        y = (n - 1 - i) * H
        ax.add_patch(plt.Rectangle((0, y + 0.04), 12, H - 0.08, color=f"C{i}", alpha=0.10, lw=0))
        ax.text(0.08, y + H - 0.1, f"{i + 1}. {title}", fontsize=9, weight="bold", va="top")
        width = 11.8 / len(entries)
        for j, entry in enumerate(entries):
            x0 = 0.1 + j * width
            ax.add_patch(plt.Rectangle((x0 + 0.05, y + 0.1), width - 0.1, H - 0.4, fill=False,
                                       lw=0.8, ec=f"C{i}"))
            ax.text(x0 + 0.12, y + H - 0.36, entry, fontsize=8.5, weight="bold", va="top")
            if not entry.endswith("/"):
                pos[entry] = (x0 + 0.2, y + H - 0.62)
                continue
            per_row = max(1, int((width - 0.2) / 0.95))
            for k, m in enumerate(members(entry)):
                r, c = divmod(k, per_row)
                xm, ym = x0 + 0.35 + c * 0.95, y + H - 0.56 - 0.125 * r
                ax.text(xm, ym, m.split("/")[1], fontsize=7, va="center", family="monospace")
                pos[m] = (xm - 0.1, ym)
    path = [("cli/commands", "sherpa-rim deconvolve / sherpa_rim.deconvolve(id)"),
            ("rim/deconvolver", "open the model once (runtime.shared)"),
            ("observation.py", "counts, background, filter onto the canonical grid"),
            ("response/ogip", "RMF x ARF of the data set"),
            ("response/grid", "regrid to RIM_GRID"),
            ("amortised/dae", "fill ignored channels (DAE)"),
            ("runtime.py", "ONNX Runtime: the unrolled RIM"),
            ("rim/consistency", "data-consistency step"),
            ("rim/band", "calibrated band, goodness of fit"),
            ("rim/checks", "out-of-prior checks (baselines.parametric_fit)"),
            ("rim/result", "DeconvolutionResult: write(), plot()")]
    pts = [pos[m] for m, _ in path]
    for k, ((m, what), (x, y)) in enumerate(zip(path, pts)):
        if k:
            ax.annotate("", xy=(x, y), xytext=pts[k - 1],
                        arrowprops=dict(arrowstyle="->", color="crimson", lw=1.1, alpha=0.8,
                                        connectionstyle="arc3,rad=0.15"))
        ax.scatter([x], [y], s=90, color="crimson", zorder=5)
        ax.text(x, y, str(k + 1), color="white", fontsize=7, ha="center", va="center", zorder=6,
                weight="bold")
    ax.text(0.1, -0.25, "   ".join(f"{k + 1} {what}" for k, (_, what) in enumerate(path[:5])),
            fontsize=7.5, color="crimson")
    ax.text(0.1, -0.5, "   ".join(f"{k + 6} {what}" for k, (_, what) in enumerate(path[5:])),
            fontsize=7.5, color="crimson")
    ax.set_xlim(0, 12)
    ax.set_ylim(-0.65, n * H)
    ax.axis("off")
    ax.set_title("sherpa_rim: layers (each imports only its own or lower layers) and one "
                 "spectrum through deconvolve", fontsize=10)
    fig.tight_layout()
    fig.savefig(IMG / "architecture.png", dpi=110)
    plt.close(fig)

if __name__ == "__main__":
    which = sys.argv[1:] or ["emission", "demo", "spi", "amortised", "architecture"]
    for w in which:
        globals()[w]()
