"""Held out means held out: validation and test responses were in no shipped model's
training set, whatever library is present."""
import pytest

from sherpa_rim.response.library import ResponseLibrary
from sherpa_rim.runtime import read_manifest
from sherpa_rim.sim import SimConfig, build_response_sets, simulate
from sherpa_rim.sim.responses import SPLIT, base_components, recorded_split

MODELS = ("rim_default", "param_default", "dae_default", "crossnet_default")


def _trained():
    rec = recorded_split(SPLIT)
    groups = set(rec["train"])
    digests = {(p["arf_sha256"], p["rmf_sha256"]) for p in rec["pairs"] if p["split"] == "train"}
    return groups, digests


def test_every_shipped_model_records_the_split_it_was_trained_with():
    man = read_manifest()
    for m in MODELS:
        assert man["models"][m].get("split") == SPLIT, m
    rec = recorded_split(SPLIT)
    assert rec is not None and rec["test"] and rec["val"] and rec["train"]
    assert not (set(rec["train"]) & set(rec["test"])) and not (set(rec["train"]) & set(rec["val"]))
    assert all(len(p["arf_sha256"]) == 64 and len(p["rmf_sha256"]) == 64 for p in rec["pairs"])


@pytest.mark.requires_data
def test_held_out_responses_were_in_no_training_set():
    base = base_components()
    key_digest = dict(zip(base.keys, base.digests))
    groups, digests = _trained()
    sets = build_response_sets(n_total=200, seed=0, base=base)
    assert len(sets["test"]) > 0 and len(sets["val"]) > 0
    for split in ("val", "test"):
        for name, group in zip(sets[split].names, sets[split].groups):
            assert not set(group.split("+")) & groups, (split, name)
            for key in name.split("#")[0].replace("|arf+", "|").replace("|rmf", "").split("|"):
                assert tuple(key_digest[key].split(":")) not in digests, (split, name)


def test_without_the_shared_library_nothing_is_held_out():
    """Sherpa's three ACIS sets (ObsIDs 459, 4938, 7867) are training responses of the
    shipped models: without ../shared the test and validation sets are empty, and simulating
    from them says why (a fresh split would call ObsID 7867 held out)."""
    base = base_components(ResponseLibrary.from_sherpa())
    assert set(base.groups) <= _trained()[0]
    sets = build_response_sets(n_total=30, seed=0, base=base)
    assert len(sets["test"]) == 0 and len(sets["val"]) == 0 and len(sets["train"]) >= 3
    with pytest.raises(Exception, match="SHERPA_RIM_DATA"):
        simulate(SimConfig(n=4, split="test"), sets["test"])
