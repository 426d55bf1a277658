"""ONNX Runtime sessions for the shipped models.

* provider choice: CUDA when ``onnxruntime-gpu`` is installed and a device
  answers, CPU otherwise; the provider that actually runs is logged;
* every model file is checked against the sha256 and the grids in
  ``onnx_models/manifest.json`` before a session opens;
* a smoke call on a seeded input verifies output shapes and finiteness.

Only ``onnxruntime`` is needed here, never torch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import pathlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from .errors import DataError, MissingDependencyError, ModelFileError

log = logging.getLogger(__name__)

__all__ = ["models_dir", "read_manifest", "available_providers", "ModelSession",
           "open_model", "shared", "sha256_file", "onnxruntime_distributions", "check_applicable",
           "get_threads", "set_threads"]


def models_dir() -> pathlib.Path:
    """Folder of the shipped ONNX models (``onnx_models/`` in the source tree and wheel)."""
    env = os.environ.get("SHERPA_RIM_MODELS")
    if env:
        return pathlib.Path(env)
    from . import onnx_models  # the package that maps to the top-level onnx_models/
    return pathlib.Path(onnx_models.__file__).parent


def read_manifest(folder: Optional[pathlib.Path] = None) -> Dict:
    folder = models_dir() if folder is None else pathlib.Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        return {"models": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path} is not valid JSON ({exc}); restore it from the "
                             "package (pip install --force-reinstall sherpa_rim)") from exc


def sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ort():
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError(
            "ONNX Runtime is not installed: pip install 'sherpa_rim[cpu]' (CPU) or "
            "'sherpa_rim[gpu]' (CUDA) - never both") from exc
    return ort


def onnxruntime_distributions() -> List[str]:
    """Installed ONNX Runtime wheels (more than one means the CPU one shadows the GPU one)."""
    from importlib import metadata
    found = []
    for name in ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return found


def available_providers() -> List[str]:
    return list(_ort().get_available_providers())


def _choose_providers(prefer: Optional[Sequence[str]]) -> List[str]:
    avail = available_providers()
    if prefer:
        chosen = [p for p in prefer if p in avail]
        if not chosen:
            raise ModelFileError(f"none of the requested providers {list(prefer)} is available "
                                 f"(available: {avail}); for CUDA install 'sherpa_rim[gpu]'")
        return chosen
    order = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return [p for p in order if p in avail] or avail


@dataclass
class ModelSession:
    """An open ONNX Runtime session with the manifest entry of its model."""

    name: str
    path: pathlib.Path
    entry: Dict
    session: object
    provider: str

    @property
    def input_names(self) -> List[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> List[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        missing = set(self.input_names) - set(feeds)
        if missing:
            raise ValueError(f"model {self.name!r} needs inputs {sorted(missing)}")
        feeds = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in feeds.items()
                 if k in self.input_names}
        out = self.session.run(None, feeds)
        return dict(zip(self.output_names, out))


def open_model(name: str, folder: Optional[pathlib.Path] = None,
               providers: Optional[Sequence[str]] = None, smoke: bool = True,
               verify: bool = True) -> ModelSession:
    """Open a shipped model by manifest name, after checking its sha256.

    Raises
    ------
    ModelFileError
        Unknown name, missing file, checksum mismatch (corrupted or replaced
        file), unreadable ONNX, or inputs/outputs that differ from the manifest.
    """
    folder = models_dir() if folder is None else pathlib.Path(folder)
    man = read_manifest(folder)
    models = man.get("models", {})
    if name not in models:
        raise ModelFileError(f"no model {name!r} in {folder / 'manifest.json'}; "
                             f"shipped models: {sorted(models) or 'none'}")
    entry = models[name]
    path = folder / entry["file"]
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; reinstall sherpa_rim or re-export "
                             f"it ({entry.get('reproduce', 'see docs/rim.md')})")
    if verify:
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            raise ModelFileError(
                f"{path.name} does not match its manifest (sha256 {digest[:12]}... != "
                f"{str(entry.get('sha256'))[:12]}...): the file is corrupted or was replaced; "
                "reinstall sherpa_rim; a re-exported model updates the manifest itself "
                "('python -m training.export rim|param|dae <checkpoint>')")
    ort = _ort()
    prov = _choose_providers(providers)
    if "CUDAExecutionProvider" in prov and hasattr(ort, "preload_dlls"):
        try:                           # CUDA / cuDNN from torch's wheels, where installed
            ort.preload_dlls()
        except Exception as exc:       # noqa: BLE001 - the session below reports what loads
            log.debug("onnxruntime.preload_dlls: %s", exc)
    so = ort.SessionOptions()
    so.log_severity_level = 3          # errors only: no warning spam on CPU-only machines
    if _THREADS:                       # a process given a share of the cores (a Dask worker)
        so.intra_op_num_threads = _THREADS
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=prov)
    except Exception as exc:           # noqa: BLE001 - re-raised with the fix
        raise ModelFileError(f"ONNX Runtime cannot load {path} ({exc}); the file is corrupted or "
                             "was written by an incompatible exporter: reinstall or re-export") from exc
    used = sess.get_providers()[0]
    log.info("model %s: ONNX Runtime %s on %s", name, ort.__version__, used)
    if prov[0] == "CUDAExecutionProvider" and used != "CUDAExecutionProvider":
        log.warning("model %s: the CUDA execution provider is installed but did not load (no "
                    "GPU, or its CUDA / cuDNN libraries are missing: docs/batch.md); running on "
                    "%s", name, used)
    ms = ModelSession(name=name, path=path, entry=entry, session=sess, provider=used)
    want_in = entry.get("inputs")
    if want_in and sorted(want_in) != sorted(ms.input_names):
        raise ModelFileError(f"{path.name} has inputs {ms.input_names}, the manifest says "
                             f"{want_in}: the file and manifest are mismatched; reinstall")
    if smoke:
        _smoke(ms)
    return ms


def _smoke(ms: ModelSession):
    """Run the model once on a seeded input of the manifest's shapes."""
    shapes = ms.entry.get("smoke_shapes")
    if not shapes:
        return
    rng = np.random.default_rng(0)
    feeds = {k: np.abs(rng.normal(size=v)).astype(np.float32) + 0.1 for k, v in shapes.items()}
    out = ms.run(feeds)
    for k, v in out.items():
        if not np.all(np.isfinite(v)):
            raise ModelFileError(f"model {ms.name!r} returned non-finite {k} on its smoke input; "
                                 "the file is corrupted: reinstall")
    want = ms.entry.get("smoke_out_shapes", {})
    for k, shp in want.items():
        if list(out[k].shape) != list(shp):
            raise ModelFileError(f"model {ms.name!r}: output {k} has shape {list(out[k].shape)}, "
                                 f"expected {shp}; the file and manifest are mismatched")


_SHARED: Dict[tuple, object] = {}


def _threads_from_env() -> int:
    v = os.environ.get("SHERPA_RIM_ORT_THREADS", "").strip()
    try:
        n = int(v or 0)
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"SHERPA_RIM_ORT_THREADS = {v!r}: give a whole number of threads, 0 for "
                         "ONNX Runtime's default (or unset it)")
    return n


#: ONNX Runtime's intra-op threads for sessions opened from now on (0: its default, one per
#: physical core); SHERPA_RIM_ORT_THREADS sets it for a whole process
_THREADS = _threads_from_env()


def get_threads() -> int:
    """ONNX Runtime's intra-op threads for new sessions (0: its default)."""
    return _THREADS


def set_threads(n: int) -> None:
    """Run the models on ``n`` threads (0: ONNX Runtime's default, one per physical core).

    A process that is one of several on the same cores (a Dask worker process with
    ``threads_per_worker=1``) sets 1: ONNX Runtime's default pool of one spinning thread per
    core, in every process, oversubscribes the cores (measured in ``docs/batch.md``).
    Sessions already open keep their setting: :func:`shared` reopens them."""
    global _THREADS
    n = int(n)
    if n < 0:
        raise ValueError(f"threads = {n}: give 0 (ONNX Runtime's default) or a positive number")
    if n != _THREADS:
        _THREADS = n
        _SHARED.clear()


def shared(factory, name: str, providers: Optional[Sequence[str]] = None):
    """One ``factory(name, providers=providers)`` per process (e.g. a
    :class:`~sherpa_rim.rim.deconvolver.RIMDeconvolver`): a model's ONNX Runtime session is
    opened once and reused by every call that asks for the same model and providers."""
    key = (factory, name, tuple(providers or ()))
    if key not in _SHARED:
        _SHARED[key] = factory(name, providers=providers)
    return _SHARED[key]


def check_applicable(entry: Dict, name: str, meta: Dict, counts: Optional[float] = None,
                     allow_instrument: bool = False) -> List[str]:
    """Is a spectrum what model ``name`` was trained on? Its instrument (``meta``'s TELESCOP /
    INSTRUME, from the response) must be one of the manifest's ``instrument``: otherwise a
    DataError that names both, unless ``allow_instrument`` (then a warning). Its noticed
    ``counts`` outside the manifest's ``counts_range`` give a warning (the network's answer
    there is an extrapolation). Returns the warnings."""
    out = []
    want = entry.get("instrument")
    if want:
        tel, ins = meta.get("telescop", ""), meta.get("instrume", "")
        if tel not in want["telescop"] or ins not in want["instrume"]:
            seen = (f"TELESCOP = {tel!r}, INSTRUME = {ins!r}" if tel or ins else
                    "no TELESCOP / INSTRUME keyword in its RMF, ARF or PHA")
            trained = f"{'/'.join(want['telescop'])} {'/'.join(want['instrume'])}"
            msg = f"the response is from {seen}, and {name} was trained on {trained} responses only"
            if not allow_instrument:
                raise DataError(msg + "; its answer for another instrument would be an "
                                "extrapolation. Pass allow_instrument=True (--any-instrument) to "
                                "run it anyway, with a warning in every output")
            out.append(msg + " (run with allow_instrument): the result is an extrapolation")
    lo, hi = entry.get("counts_range", (None, None))
    if counts is not None and lo is not None and not lo <= counts <= hi:
        out.append(f"{counts:.0f} counts in the noticed band, outside the {lo:.0f}-{hi:.0f} "
                   f"{name} was trained on: its answer there is an extrapolation")
    return out
