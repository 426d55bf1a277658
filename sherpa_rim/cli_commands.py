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
