"""Sub-commands of ``sherpa-rim`` beyond ``info`` (each imports its module lazily)."""
from __future__ import annotations


def add_commands(sub) -> None:
    s = sub.add_parser("demo", help="the main job on built-in data: simulate a group spectrum "
                                    "through a real Chandra response and analyse it")
    s.add_argument("--out", default="sherpa_rim_demo", help="output folder (created; files in "
                                                            "it are never overwritten without --force)")
    s.add_argument("--force", action="store_true", help="overwrite existing output files")
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(func=_run("demo", "run_cli"))

    s = sub.add_parser("responses", help="list the real response library (ARF/RMF pairs)")
    s.set_defaults(func=_responses)

    s = sub.add_parser("simulate", help="simulate a training/validation/test set S = R F + noise")
    s.add_argument("--n", type=int, default=10_000, help="number of spectra")
    s.add_argument("--out", required=True, help="output folder (npz shards + config)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--split", choices=("train", "val", "test"), default="train")
    s.add_argument("--noise", choices=("gaussian", "poisson"), default="gaussian")
    s.add_argument("--two-temperature", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of two-phase spectra")
    s.add_argument("--nh-max", type=float, default=0.0, help="Galactic nH up to this (1e22 cm^-2)")
    s.add_argument("--force", action="store_true", help="overwrite an existing set")
    s.set_defaults(func=_run("simulate_cli", "run_cli"))


def _run(module: str, func: str):
    def call(args):
        import importlib
        mod = importlib.import_module(f"sherpa_rim.{module}")
        return getattr(mod, func)(args)
    return call


def _responses(args) -> int:
    from .library import ResponseLibrary
    print(ResponseLibrary.default().describe())
    return 0
