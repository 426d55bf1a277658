"""The sherpa-rim command line."""
import json
import subprocess
import sys

from sherpa_rim.cli import main


def test_info_lists_versions_providers_models(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "sherpa_rim 0.1.0" in out
    assert "sherpa " in out and "numpy" in out
    assert "CPUExecutionProvider" in out
    assert "shipped models" in out


def test_info_json_is_machine_readable(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["sherpa"]
    assert "CPUExecutionProvider" in info["onnxruntime_providers"]
    assert isinstance(info["models"], dict)


def test_console_script_exits_zero():
    r = subprocess.run([sys.executable, "-m", "sherpa_rim.cli", "info"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ONNX Runtime providers" in r.stdout


def test_responses_command(capsys):
    assert main(["responses"]) == 0
    out = capsys.readouterr().out
    assert "ARF/RMF pairs" in out and "sherpa:acisf07867" in out
