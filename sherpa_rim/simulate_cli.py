"""``sherpa-rim simulate``: write a simulated set and print the rate."""
from __future__ import annotations

import time


def run_cli(args) -> int:
    from .simulate import SimConfig, build_response_sets, simulate, write_set

    cfg = SimConfig(n=args.n, split=args.split, seed=args.seed, noise=args.noise,
                    two_temperature_fraction=args.two_temperature,
                    nH_range=(0.0, args.nh_max))
    t0 = time.perf_counter()
    sets = build_response_sets(n_total=cfg.n_responses, seed=cfg.response_seed)
    t1 = time.perf_counter()
    data = simulate(cfg, sets[args.split], progress=True)
    t2 = time.perf_counter()
    paths = write_set(args.out, cfg, data, sets[args.split], overwrite=args.force)
    t3 = time.perf_counter()
    rate = args.n / (t2 - t1)
    print(f"{args.n} {args.split} spectra ({args.noise} noise) on {len(sets[args.split])} "
          f"held-apart responses -> {args.out} ({len(paths)} shards)")
    print(f"responses {t1 - t0:.1f} s, simulation {t2 - t1:.1f} s ({rate:,.0f} spectra/s), "
          f"writing {t3 - t2:.1f} s")
    return 0
