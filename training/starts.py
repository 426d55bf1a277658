"""Write the recorded starting weights of a shipped model's training chain.

    python -m training.starts rim_default            # the starts its reproduce command needs
    python -m training.starts dae_default --stage 4  # the weights stage 4 started from

Each model's manifest entry has a ``chain``: its training stages in order, each with the
config it ran, what it started from and the weights it ended with (sha256, and where the
repository's history holds them: ``<commit>:onnx_models/<name>.pt``). A stage that started
from an earlier model's weights names them in its config (``init``, ``init_sha256``); this
command writes those files from ``git show``, checking the digest, so that every
``reproduce`` command of the manifest runs from a clone with its history (not a shallow one).
Time-limited runs on other hardware give other weights: the chain reproduces the procedure.
"""
from __future__ import annotations

import argparse
import hashlib
import pathlib
import subprocess
import sys

from sherpa_rim.runtime import read_manifest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _git_blob(spec: str) -> bytes:
    r = subprocess.run(["git", "show", spec], cwd=ROOT, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"git show {spec} failed ({r.stderr.decode().strip()}); the recorded "
                           "weights need the repository's history: git fetch --unshallow")
    return r.stdout


def write_start(stage: dict, chain: list) -> pathlib.Path:
    """Write the file a stage starts from (its ``init``) from the repository's history."""
    init = stage["init"]
    src = init.get("git") or chain[init["from_stage"] - 1]["weights"]["git"]
    want = init.get("sha256") or chain[init["from_stage"] - 1]["weights"]["sha256"]
    data = _git_blob(src)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise RuntimeError(f"{src} has sha256 {got[:12]}..., the chain records {want[:12]}...")
    path = ROOT / init["file"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a manifest model name (rim_default, param_default, dae_default)")
    ap.add_argument("--stage", type=int, help="only this stage's start (1 = the first stage)")
    args = ap.parse_args(argv)
    models = read_manifest()["models"]
    if args.model not in models:
        sys.exit(f"training.starts: no model {args.model!r}; known: {sorted(models)}")
    chain = models[args.model].get("chain", [])
    stages = [s for s in chain if s.get("init") and (args.stage in (None, s["stage"]))]
    if args.stage is None:                   # what the reproduce command needs
        stages = [s for s in stages if "git" in s["init"]]
    for s in stages:
        print(f"stage {s['stage']}: {write_start(s, chain)}")


if __name__ == "__main__":
    main()
