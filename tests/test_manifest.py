"""The shipped models can be rebuilt from the repository: each records the chain of
training stages that made it, and its reproduce command names what exists."""
import hashlib
import json
import pathlib
import shlex
import shutil
import subprocess

import pytest

from sherpa_rim.runtime import models_dir, read_manifest, sha256_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ("rim_default", "param_default", "dae_default", "crossnet_default")


def _entry(name):
    return read_manifest()["models"][name]


@pytest.mark.parametrize("name", MODELS)
def test_each_model_records_the_chain_that_made_it(name):
    e = _entry(name)
    chain = e["chain"]
    assert [s["stage"] for s in chain] == list(range(1, len(chain) + 1))
    assert chain[-1]["weights"]["sha256"] == e["weights"]["sha256"] == sha256_file(
        models_dir() / e["weights"]["file"])
    assert chain[0]["init"] is None                   # the first stage trained from scratch
    for st in chain:
        cfg = json.loads((ROOT / st["config"]).read_text())
        assert f"--config {st['config']}" in st["command"]
        if st["init"] is None:
            assert "init" not in cfg, st
            continue
        assert cfg["init"] == st["init"]["file"], st
        if "git" in st["init"]:
            assert cfg["init_sha256"] == st["init"]["sha256"]
        else:                                          # the previous stage's output
            assert st["init"]["file"] == chain[st["init"]["from_stage"] - 1]["output"]


@pytest.mark.parametrize("name", MODELS)
def test_reproduce_command_names_what_exists(name):
    e = _entry(name)
    last = e["chain"][-1]
    steps = [shlex.split(c) for c in e["reproduce"].split("&&")]
    for argv in steps:
        assert argv[:2] == ["python", "-m"] and argv[2].startswith("training.")
        assert (ROOT / (argv[2].replace(".", "/") + ".py")).is_file(), argv
        if "--config" in argv:
            assert (ROOT / argv[argv.index("--config") + 1]).is_file(), argv
    cmds = [" ".join(a) for a in steps]
    assert last["command"] in cmds
    export = next(a for a in steps if a[2] == "training.export")
    assert export[4] == last["output"] and export[export.index("--name") + 1] == name
    if last["init"]:
        starts = next(a for a in steps if a[2] == "training.starts")
        assert starts[3] == name and int(starts[starts.index("--stage") + 1]) == last["stage"]
    assert "--update-manifest" not in e["reproduce"]


def _has_history():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    r = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT,
                       capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip() == "false"


@pytest.mark.skipif(not _has_history(), reason="needs the repository's full history")
@pytest.mark.parametrize("name", MODELS)
def test_recorded_weights_are_in_the_repository_history(name):
    for st in _entry(name)["chain"]:
        for rec in (st["weights"], st["init"] or {}):
            if "git" not in rec:
                continue
            blob = subprocess.run(["git", "show", rec["git"]], cwd=ROOT, capture_output=True,
                                  check=True).stdout
            assert hashlib.sha256(blob).hexdigest() == rec["sha256"], rec["git"]


def test_a_fine_tune_refuses_a_start_that_is_not_the_recorded_one(tmp_path):
    torch = pytest.importorskip("torch")
    from training.loop import load_init
    f = tmp_path / "start.pt"
    torch.save({"model": {}}, f)
    with pytest.raises(ValueError, match="not the recorded start"):
        load_init({"init": str(f), "init_sha256": "0" * 64})
    with pytest.raises(FileNotFoundError, match="training.starts"):
        load_init({"init": str(tmp_path / "missing.pt")})


def test_a_corrupted_model_names_a_command_that_exists(tmp_path):
    from sherpa_rim.errors import ModelFileError
    from sherpa_rim.runtime import open_model
    for f in models_dir().iterdir():
        if f.suffix in (".onnx", ".json"):
            shutil.copy(f, tmp_path / f.name)
    (tmp_path / "rim_default.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelFileError) as err:
        open_model("rim_default", folder=tmp_path)
    msg = str(err.value)
    assert "--update-manifest" not in msg and "python -m training.export" in msg
