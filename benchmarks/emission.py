"""Time the CIE emission model against a Sherpa built-in model, in one run.

    ./dev.sh bench emission

Prints: one ``cie`` evaluation on a 1,000-bin grid (the pure function, and the Sherpa
``cie``, ``vcie`` and ``bcie`` models at a new temperature on every call, so never a cache hit;
``bcie`` also with its line-edge pairs rebuilt on every call, its cost at the first call in a new
temperature or velocity bucket), a
batch of 10,000 spectra (``spectrum_batch``), and Sherpa's own ``powlaw1d`` and ``gauss1d``
on the same grid, with ratios. Targets: the Sherpa ``cie`` model <= 0.5 ms, ``bcie`` within
3x of it.
"""
import logging
import time

import numpy as np


from sherpa.models.basic import Gauss1D, PowLaw1D  # noqa: E402

import sherpa_rim  # noqa: E402,F401
from sherpa_rim.emission import spectrum, spectrum_batch  # noqa: E402
from sherpa_rim.models.thermal import BCIE, CIE, VCIE  # noqa: E402


# after the imports: importing Sherpa sets its logger to INFO (fit and conf() chatter)
logging.getLogger("sherpa").setLevel(logging.ERROR)

def best(fn, n=20):
    fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


def main():
    e = np.geomspace(0.3, 10.0, 1001)
    lo, hi = e[:-1], e[1:]
    pl = PowLaw1D()
    ga = Gauss1D()
    m = CIE()
    m.kT = 1.3
    m.Abundanc = 0.4
    m.redshift = 0.0123
    m.norm = 2e-3
    m.cache = 0
    v = VCIE()
    v.kT, v.O, v.Fe, v.redshift = 1.3, 2.0, 0.5, 0.0123
    v.cache = 0
    b = BCIE()
    b.kT, b.Abundanc, b.redshift, b.Velocity = 1.3, 0.4, 0.0123, 150.0
    b.cache = 0
    temps = iter(np.exp(np.random.default_rng(1).uniform(np.log(0.5), np.log(8.0), 100_000)))

    def new_kT(model):
        def call():
            model.kT = next(temps)
            return model(lo, hi)
        return call
    def rebuilt(model):                       # the worst case: a new kT / velocity bucket
        call = new_kT(model)

        def fn():
            for ev in model.__dict__.get("_sr_evaluators", {}).values():
                ev.__dict__.pop("_plans", None)
            return call()
        return fn
    rng = np.random.default_rng(0)
    kT = np.exp(rng.uniform(np.log(0.5), np.log(8.0), 10_000))
    ab = rng.uniform(0.2, 1.2, 10_000)
    z = rng.uniform(0, 0.25, 10_000)
    rows = [
        ("sherpa powlaw1d (1000 bins)", best(lambda: pl(lo, hi))),
        ("sherpa gauss1d (1000 bins)", best(lambda: ga(lo, hi))),
        ("cie spectrum() (1000 bins)", best(lambda: spectrum(1.3, 0.4, 0.0123, 2e-3, lo, hi))),
        ("cie Sherpa model, new kT", best(new_kT(m), 200)),
        ("vcie Sherpa model, new kT", best(new_kT(v), 200)),
        ("bcie (150 km/s), new kT", best(new_kT(b), 200)),
        ("bcie, plan rebuilt every call", best(rebuilt(b), 50)),
        ("cie spectrum() + broadening", best(lambda: spectrum(1.3, 0.4, 0.0123, 2e-3, lo, hi, broaden=True), 5)),
    ]
    tb = best(lambda: spectrum_batch(kT, ab, z, 1.0, lo, hi), 2)
    ref = rows[0][1][0]
    print("one evaluation on a 1,000-bin grid (best and median of 20-200)")
    print(f"{'model':32s} {'best [ms]':>10s} {'median [ms]':>12s} {'x powlaw1d':>11s}")
    for name, (b, med) in rows:
        print(f"{name:32s} {1e3 * b:10.3f} {1e3 * med:12.3f} {b / ref:11.1f}")
    print()
    print(f"batch of 10,000 cie spectra (spectrum_batch): {tb[0]:.2f} s = {1e6 * tb[0] / 1e4:.0f} us "
          f"per spectrum = {tb[0] / 1e4 / rows[2][1][0]:.3f} x one spectrum() call, "
          f"{tb[0] / 1e4 / ref:.1f} x one powlaw1d evaluation")
    cie_med = rows[3][1][1]
    bcie_med = rows[5][1][1]
    plan_med = rows[6][1][1]
    print(f"Sherpa cie model, new parameters: median {1e3 * cie_med:.3f} ms "
          f"({'meets' if cie_med <= 5e-4 else 'misses'} the 0.5 ms target), "
          f"{rows[2][1][1] / cie_med:.1f}x faster than the pure function; bcie at 150 km/s "
          f"{bcie_med / cie_med:.1f}x cie (target <= 3x); {plan_med / cie_med:.1f}x at the first "
          "call in a new kT (x1.5) or velocity (x1.25) bucket, where its line-edge pairs are built")


if __name__ == "__main__":
    main()
