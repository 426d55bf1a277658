"""Fold 10,000 spectra through one real response: sherpa_rim's batched path (band by band
of channels, over the energies that reach each band) against a loop over Sherpa's own
``rmf_fold`` (the C routine behind every Sherpa fit) and the dense matrix product.

    ./dev.sh bench response            (or: python benchmarks/response.py [--n N])

Prints each path's time, its ratio to the loop, and its largest difference from the loop's
counts, all measured in this run.
"""
import argparse
import logging
import time

import numpy as np


from sherpa.astro import io  # noqa: E402
from sherpa.astro.utils import rmf_fold  # noqa: E402

from sherpa_rim.response.library import sherpa_data_dir  # noqa: E402
from sherpa_rim.response import load_response  # noqa: E402


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    d = sherpa_data_dir()
    pha = d / "acisf07867_000N001_r0002_pha3.fits"
    rsp = load_response(pha=pha)
    rmf = io.read_rmf(str(d / "acisf07867_000N001_r0002_rmf3.fits"))
    arf = io.read_arf(str(d / "acisf07867_000N001_r0002_arf3.fits"))
    rng = np.random.default_rng(0)
    e = rsp.energy_mid()
    # smooth random spectra: power laws with random slope and norm
    gam = rng.uniform(1.0, 3.0, args.n)[:, None]
    flux = rng.uniform(1e-4, 1e-3, args.n)[:, None] * e[None, :] ** (-gam) * (rsp.energy_hi - rsp.energy_lo)
    expo = rsp.exposure
    specresp = np.asarray(arf.specresp)
    grp, fch, nch, mat = rmf.n_grp, rmf.f_chan, rmf.n_chan, rmf.matrix
    nchan, off = int(rmf.detchans), int(rmf.offset)

    def sherpa_loop():
        out = np.empty((args.n, nchan))
        for i in range(args.n):
            out[i] = rmf_fold(flux[i] * specresp * expo, grp, fch, nch, mat, nchan, off)
        return out

    def ours64():
        return rsp.fold(flux)

    def ours32():
        return rsp.fold(flux, dtype=np.float32)

    m = rsp.matrix * expo

    def dense64():
        return flux @ m.T

    res = {}
    for name, fn in (("sherpa rmf_fold loop", sherpa_loop), ("dense product float64", dense64),
                     ("sherpa_rim batched float64", ours64),
                     ("sherpa_rim batched float32", ours32)):
        fn()  # warm up
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            out = fn()
            ts.append(time.perf_counter() - t0)
        res[name] = (min(ts), out)
    ref = res["sherpa rmf_fold loop"][1]
    print(f"response: {pha.name}  ({rsp.n_channels} channels x {rsp.n_energy} energy bins)")
    print(f"spectra folded: {args.n}   (best of 3 runs)")
    print(f"{'method':30s} {'time [s]':>10s} {'per spectrum [us]':>18s} {'speed-up':>9s} {'max rel diff':>13s}")
    t_ref = res["sherpa rmf_fold loop"][0]
    for name, (t, out) in res.items():
        diff = np.max(np.abs(out - ref)) / np.max(np.abs(ref))
        print(f"{name:30s} {t:10.3f} {1e6 * t / args.n:18.1f} {t_ref / t:9.1f}x {diff:13.1e}")


if __name__ == "__main__":
    main()
