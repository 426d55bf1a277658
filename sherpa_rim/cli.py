"""The ``sherpa-rim`` command line."""
from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from typing import List, Optional

log = logging.getLogger(__name__)


def _versions() -> dict:
    from importlib import metadata
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("sherpa_rim", "sherpa", "numpy", "scipy", "astropy", "emcee", "h5py",
                 "matplotlib", "onnxruntime", "onnxruntime-gpu", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        import sherpa.astro.xspec  # noqa: F401
        out["xspec"] = "available"
    except ImportError:
        out["xspec"] = "not available (sherpa_rim's own cie model is used)"
    return out


def cmd_info(args) -> int:
    from . import runtime
    info = {"versions": _versions()}
    try:
        info["onnxruntime_providers"] = runtime.available_providers()
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        info["onnxruntime_providers"] = f"unavailable: {exc}"
    dists = runtime.onnxruntime_distributions()
    info["onnxruntime_wheels"] = dists
    man = runtime.read_manifest()
    info["models_dir"] = str(runtime.models_dir())
    info["models"] = {k: {kk: v.get(kk) for kk in ("file", "sha256", "kind", "description")}
                      for k, v in man.get("models", {}).items()}
    try:
        from .emission import table_info
        info["emission_table"] = table_info()
    except Exception as exc:  # noqa: BLE001
        info["emission_table"] = f"unavailable: {exc}"
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    v = info["versions"]
    print(f"sherpa_rim {v['sherpa_rim']}  (Python {v['python']}, {v['platform']})")
    print("versions:")
    for k, val in v.items():
        if k not in ("python", "platform", "sherpa_rim"):
            print(f"  {k:16s} {val if val is not None else '-'}")
    print(f"ONNX Runtime providers: {info['onnxruntime_providers']}")
    if len(dists) > 1:
        print(f"WARNING: several ONNX Runtime wheels are installed ({', '.join(dists)}); the CPU "
              "one shadows the GPU one: pip uninstall -y onnxruntime onnxruntime-gpu and "
              "reinstall one of them")
    print(f"shipped models ({info['models_dir']}):")
    if not info["models"]:
        print("  none")
    for k, m in info["models"].items():
        print(f"  {k:20s} {m.get('file')}  sha256 {str(m.get('sha256'))[:16]}...  {m.get('description') or ''}")
    et = info["emission_table"]
    if isinstance(et, dict):
        print(f"emission table: {et.get('file')}  CHIANTI {et.get('chianti_version')}, "
              f"fiasco {et.get('fiasco_version')}, {et.get('n_lines')} lines, "
              f"kT {et.get('kT_range_keV')} keV")
    else:
        print(f"emission table: {et}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sherpa-rim",
                                description="RIM deconvolution, amortised networks and SPI for "
                                            "X-ray spectra, alongside Sherpa")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("info", help="versions, ONNX Runtime providers, shipped models")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_info)
    from . import cli_commands
    cli_commands.add_commands(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("sherpa").setLevel(max(level, logging.WARNING))
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # noqa: BLE001 - one clear line for the user
        from .errors import SherpaRimError
        if isinstance(exc, SherpaRimError):
            print(f"sherpa-rim: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
