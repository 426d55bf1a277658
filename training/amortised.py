"""Train the amortised networks: ``python -m training.amortised param|dae --config ...``.

The networks and their training loops are in :mod:`training.params` and
:mod:`training.dae`; export with ``python -m training.export param|dae <out>/best.pt``.
"""
from __future__ import annotations

import argparse
import json
import logging

from sherpa_rim.sim.responses import BaseComponents, base_components

from . import dae, params
from .loop import merge_config

DEFAULTS = {"param": params.DEFAULTS, "dae": dae.DEFAULTS}


def main(argv=None):
    ap = argparse.ArgumentParser(description="train the amortised networks")
    ap.add_argument("kind", choices=["param", "dae"])
    ap.add_argument("--config")
    ap.add_argument("--base", help="base components npz (python -m training.data --base ...)")
    ap.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = merge_config(DEFAULTS[args.kind], args.config)
    for item in args.set:
        k, _, v = item.partition("=")
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        sec, _, key = k.partition(".")
        if key:
            cfg.setdefault(sec, {})[key] = v
        else:
            cfg[sec] = v
    base = BaseComponents.load(args.base) if args.base else base_components()
    if args.kind == "param":
        _, calib, val = params.train_param(cfg, base)
        print(json.dumps({"calibration": calib, "validation": val}, indent=1))
    else:
        dae.train_dae(cfg, base)
        print("dae trained ->", cfg["out"])


if __name__ == "__main__":
    main()
