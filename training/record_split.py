"""Record a train / validation / test split in the models' manifest.

    python -m training.record_split --name obsid_v1 --models rim_default param_default dae_default

The split is drawn by ObsID from the response library present (``split_groups``, seed 0,
70 / 15 / 15 %) and written under ``splits[<name>]`` with every real ARF/RMF pair's group,
split and file digests; each named model's entry gets ``"split": <name>``. Tests and
benchmarks take their held-out responses from it (``sherpa_rim.sim.responses.assign_split``),
so "held out" means held out from the models that were trained on it.
"""
from __future__ import annotations

import argparse
import json

from sherpa_rim.response.library import ResponseLibrary
from sherpa_rim.runtime import models_dir, read_manifest
from sherpa_rim.sim.responses import _unique_pairs, split_groups


def record(name="obsid_v1", models=(), seed=0, fractions=(0.7, 0.15, 0.15), folder=None):
    lib = ResponseLibrary.default()
    pairs, digests = _unique_pairs([p for p in lib.pairs if p.arf is not None])
    groups = [p.group for p in pairs]
    split = split_groups(groups, fractions, seed)
    where = {g: k for k, v in split.items() for g in v}
    entry = {"seed": seed, "fractions": list(fractions),
             "how": "sherpa_rim.sim.responses.split_groups over the distinct ARF/RMF pairs of "
                    "../shared/data/chandra and Sherpa's test data (python -m training.record_split)",
             **{k: [str(g) for g in split[k]] for k in ("train", "val", "test")},
             "pairs": [{"key": p.key, "group": str(p.group), "split": where[p.group],
                        "arf_sha256": d.split(":")[0], "rmf_sha256": d.split(":")[1]}
                       for p, d in zip(pairs, digests)]}
    folder = models_dir() if folder is None else folder
    path = folder / "manifest.json"
    man = read_manifest(folder)
    man.setdefault("splits", {})[name] = entry
    for m in models:
        man["models"][m]["split"] = name
    path.write_text(json.dumps(man, indent=1) + "\n")
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="obsid_v1")
    ap.add_argument("--models", nargs="*", default=[])
    args = ap.parse_args(argv)
    e = record(args.name, args.models)
    print(json.dumps({k: e[k] for k in ("train", "val", "test")}, indent=1))


if __name__ == "__main__":
    main()
