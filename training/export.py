"""Export a trained network to ONNX, check torch/ONNX Runtime parity, update the manifest.

    python -m training.export rim runs/rim_gpu/best.pt --name rim_default
    python -m training.export param runs/param_gpu/best.pt
    python -m training.export dae runs/dae_gpu/best.pt
    python -m training.export crossnet runs/crossnet_cpu/best.pt

One graph with inputs S (B, C), R (B, C, E), sigma (B, C), the T steps unrolled,
weights inside the file (``external_data=False``), exported on the CPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import warnings

import numpy as np
import torch
from torch import nn

from sherpa_rim.response.grid import RIM_GRID
from sherpa_rim.runtime import read_manifest, sha256_file
from sherpa_rim.sim.responses import SPLIT

from .crossnet import PARAMS as CROSS_PARAMS
from .crossnet import TARGET_SCALE, CrossNet
from .dae import DAE
from .params import PARAMS, ParamNet
from .rim import RIM, RIMConfig, RIMExport

MODELS = pathlib.Path(__file__).resolve().parent.parent / "onnx_models"


def export_module(module, example, path, input_names, output_names, dynamic_batch=True,
                  opset=17):
    """torch -> ONNX (dynamo exporter when it works, the TorchScript one otherwise)."""
    module = module.cpu().eval()
    example = tuple(e.cpu() for e in example)
    path = pathlib.Path(path)
    try:
        from torch.export import Dim
        b = Dim("batch", min=1, max=65536)
        shapes = {n: {0: b} for n in input_names} if dynamic_batch else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(module, example, dynamo=True, external_data=False,
                                     input_names=input_names, output_names=output_names,
                                     dynamic_shapes=tuple(shapes[n] for n in input_names) if shapes else None,
                                     opset_version=max(opset, 18))
        prog.save(str(path), external_data=False)
        how = "dynamo"
    except Exception as exc:  # noqa: BLE001 - fall back to the TorchScript exporter
        warnings.warn(f"dynamo export failed ({exc!r}); using the TorchScript exporter")
        axes = {n: {0: "batch"} for n in input_names + output_names} if dynamic_batch else None
        torch.onnx.export(module, example, str(path), input_names=input_names,
                          output_names=output_names, dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
        how = "torchscript"
    side = list(path.parent.glob(path.name + ".data")) + list(path.parent.glob(path.stem + "*.data"))
    if side:
        raise RuntimeError(f"exporter wrote external weights {side}; the model must be one file")
    return how


def parity(module, example, path, input_names, rtol=1e-4):
    """Max relative difference torch vs ONNX Runtime on seeded inputs (must be < rtol)."""
    import onnxruntime as ort

    module = module.cpu().eval()
    with torch.no_grad():
        ref = module(*example)
    ref = ref if isinstance(ref, (tuple, list)) else (ref,)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: e.cpu().numpy() for n, e in zip(input_names, example)})
    worst = 0.0
    for r, g in zip(ref, got):
        r = r.numpy()
        worst = max(worst, float(np.max(np.abs(g - r)) / (np.max(np.abs(r)) + 1e-30)))
    return worst


def update_manifest(name, entry, folder=MODELS):
    man_path = folder / "manifest.json"
    man = json.loads(man_path.read_text()) if man_path.exists() else {"format": 1, "models": {}}
    man.setdefault("models", {})[name] = entry
    man_path.write_text(json.dumps(man, indent=1, sort_keys=False) + "\n")


def example_inputs_rim(cfg, batch=3, seed=0):
    """Seeded, physically shaped inputs (a blurred response, positive spectra)."""
    g = torch.Generator().manual_seed(seed)
    C, E = cfg.n_channels, cfg.n_energy
    c = torch.tensor(0.5 * (RIM_GRID.channel_lo + RIM_GRID.channel_hi), dtype=torch.float32)
    e = torch.tensor(np.sqrt(RIM_GRID.energy_lo * RIM_GRID.energy_hi), dtype=torch.float32)
    R = torch.exp(-0.5 * ((c[:, None] - e[None, :]) / (0.05 * e[None, :] ** 0.5)) ** 2)
    R = R / R.sum(0, keepdim=True) * 300.0
    R = R.expand(batch, C, E).contiguous() * (1 + 0.1 * torch.rand(batch, 1, E, generator=g))
    R[:, :, :4] = 0.0          # energy bins without effective area, as in real responses
    F = torch.exp(-e / 2.0)[None] * (1 + torch.rand(batch, E, generator=g)) * 50
    lam = torch.einsum("bce,be->bc", R, F)
    S = torch.poisson(lam, generator=g)
    sigma = torch.sqrt(S.clamp(min=1.0))
    return S, R, sigma


def export_rim(ckpt, name="rim_default", folder=MODELS, held_out=None, notes=""):
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    cfg = RIMConfig(**ck["model_config"])
    rim = RIM(cfg)
    rim.load_state_dict(ck["model"])
    mod = RIMExport(rim)
    ex = example_inputs_rim(cfg)
    path = pathlib.Path(folder) / f"{name}.onnx"
    how = export_module(mod, ex, path, ["S", "R", "sigma"], ["F", "x"])
    worst = parity(mod, example_inputs_rim(cfg, batch=5, seed=1), path, ["S", "R", "sigma"])
    if worst > 1e-4:
        raise RuntimeError(f"torch and ONNX Runtime differ by {worst:.2e} (> 1e-4)")
    hist = ck.get("history", [])
    entry = {
        "file": path.name,
        "sha256": sha256_file(path),
        "kind": "rim",
        "description": f"Recurrent Inference Machine, {cfg.steps} unrolled steps, "
                       f"conv-GRU U-net ({cfg.c1}/{cfg.c2} channels)",
        "inputs": ["S", "R", "sigma"],
        "outputs": ["F", "x"],
        "grid": RIM_GRID.to_dict(),
        "model_config": cfg.to_dict(),
        "n_parameters": int(sum(p.numel() for p in rim.parameters())),
        "training": {"config": ck.get("config"), "steps": ck.get("step"),
                     "best_val": ck.get("best"), "history_tail": hist[-3:]},
        "held_out_metrics": held_out or {},
        "exporter": how,
        "parity_max_rel_diff": worst,
        "torch_version": torch.__version__,
        "exported_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "smoke_shapes": {"S": [2, cfg.n_channels], "R": [2, cfg.n_channels, cfg.n_energy],
                         "sigma": [2, cfg.n_channels]},
        "smoke_out_shapes": {"F": [2, cfg.n_energy]},
        "notes": notes,
    }
    entry["weights"] = save_weights(ck, pathlib.Path(folder) / f"{name}.pt")
    entry.update(provenance(name, "rim", ck, ckpt, entry["weights"]["sha256"], pathlib.Path(folder)))
    update_manifest(name, entry, pathlib.Path(folder))
    return entry


def provenance(name, kind, ck, ckpt, weights_sha256, folder=MODELS) -> dict:
    """The new model's ``chain`` (the manifest's earlier chain of that name up to the stage
    whose weights this run started from, plus this run), its ``reproduce`` command and the
    response ``split`` it was trained with."""
    cfg = ck.get("config") or {}
    cfg_file = cfg.get("config_file")
    if kind == "rim":
        command = f"python -m training.train_rim --config {cfg_file}"
    elif kind == "crossnet":
        command = f"python -m training.crossnet --config {cfg_file} --base runs/base.npz"
    else:
        command = f"python -m training.amortised {kind} --config {cfg_file} --base runs/base.npz"
    init = None
    if cfg.get("init"):
        init_sha = cfg.get("init_sha256") or (sha256_file(cfg["init"]) if pathlib.Path(cfg["init"]).is_file()
                                               else None)
        init = {"file": cfg["init"], "sha256": init_sha}
    old = read_manifest(folder).get("models", {}).get(name, {}).get("chain", [])
    upto = [k for k, st in enumerate(old) if init and st["weights"]["sha256"] == init["sha256"]]
    chain = old[:upto[-1] + 1] if upto else []
    if upto and "git" in chain[-1]["weights"]:
        init["git"] = chain[-1]["weights"]["git"]
    stage = {"stage": len(chain) + 1, "config": cfg_file, "command": command, "init": init,
             "steps": ck.get("step"), "minutes": (cfg.get("optim") or {}).get("max_minutes"),
             "output": str(ckpt), "weights": {"sha256": weights_sha256}}
    steps = ["python -m training.data --base runs/base.npz"]
    if init and "git" in init:
        steps.append(f"python -m training.starts {name} --stage {stage['stage']}")
    steps += [command, f"python -m training.export {kind} {ckpt} --name {name}"]
    if kind == "rim":
        steps.append("python -m training.calibrate_rim")
    if kind == "crossnet":
        steps.append("python -m training.calibrate_crosscal --crossnet --n 150 --n-null 500 "
                     f"--seed 45 --crossnet-name {name}")
    return {"chain": chain + [stage], "reproduce": " && ".join(steps), "split": SPLIT,
            # the response library (../shared/data/chandra, Sherpa's test data) is Chandra ACIS
            "instrument": {"telescop": ["CHANDRA", "CXC"], "instrume": ["ACIS"]},
            "counts_range": _counts_range(kind, cfg)}


def _counts_range(kind, cfg):
    """The total counts of the Poisson spectra a network was trained on (its data mixture,
    or the defaults of training.data / training.params)."""
    from sherpa_rim.sim.spectra import SimConfig
    from .data import MIXTURE
    from .params import PARAM_MIXTURE
    if kind == "crossnet":
        return [float(x) for x in ((cfg.get("data") or {}).get("counts") or (3e3, 1e6))]
    mix = (cfg.get("data") or {}).get("mixture") or (PARAM_MIXTURE if kind == "param" else MIXTURE)
    ranges = [m.get("counts_range", SimConfig.counts_range) for m in mix if m["noise"] == "poisson"]
    return [float(min(r[0] for r in ranges)), float(max(r[1] for r in ranges))]


def save_weights(ck, path):
    """The weights (no optimiser state) beside the ONNX file, for the torch parity test."""
    keep = {k: ck[k] for k in ("model", "model_config", "calibration", "step") if k in ck}
    torch.save(keep, path)
    return {"file": pathlib.Path(path).name, "sha256": sha256_file(path)}


class _DAEExport(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, y, mask, log_area=None):
        return self.net(y, mask, log_area)


def export_amortised(kind, ckpt, name=None, folder=None):
    """Export a parameter network (``kind='param'``), DAE (``'dae'``) or cross-calibration
    network (``'crossnet'``) checkpoint."""
    folder = pathlib.Path(folder or MODELS)
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    g = torch.Generator().manual_seed(0)
    C, E = RIM_GRID.n_channels, RIM_GRID.n_energy
    if kind == "param":
        net = ParamNet(**ck["model_config"])
        net.load_state_dict(ck["model"])
        ex = example_inputs_rim(RIMConfig(n_energy=E, n_channels=C))
        names_in, names_out = ["S", "R", "sigma"], ["param_mean", "param_logsd"]
        name = name or "param_default"
        extra = {"calibration": ck["calibration"], "params": list(PARAMS),
                 "held_out_metrics": {"validation": ck["val"]},
                 "smoke_shapes": {"S": [2, C], "R": [2, C, E], "sigma": [2, C]},
                 "smoke_out_shapes": {"param_mean": [2, len(PARAMS)]},
                 "description": "parameter network: Gaussian mean/log-sd of log kT, abundance, "
                                "redshift, log flux"}
    elif kind == "crossnet":
        net = CrossNet(**ck["model_config"])
        net.load_state_dict(ck["model"])
        S1, R1, s1 = example_inputs_rim(RIMConfig(n_energy=E, n_channels=C), seed=0)
        S2, R2, s2 = example_inputs_rim(RIMConfig(n_energy=E, n_channels=C), seed=1)
        ex = (S1, R1, s1, S2, R2, s2)
        names_in = ["S1", "R1", "sigma1", "S2", "R2", "sigma2"]
        names_out = ["cross_mean", "cross_logsd"]       # not "mean": a node of the graph has it
        name = name or "crossnet_default"
        extra = {"calibration": ck["calibration"], "params": list(CROSS_PARAMS),
                 "target_scale": [float(x) for x in TARGET_SCALE],
                 "held_out_metrics": {"validation": ck["val"]},
                 "smoke_shapes": {n: ([2, C, E] if n.startswith("R") else [2, C]) for n in names_in},
                 "smoke_out_shapes": {"cross_mean": [2, len(CROSS_PARAMS)]},
                 "description": "cross-calibration network: two observations of one thermal source "
                                "-> Gaussian mean/log-sd of the source's log kT, abundance, redshift "
                                "and the second's ln gain slope and ln area ratio in the eight log "
                                "bands of 0.5-7 keV (outputs x target_scale)"}
    else:
        net = DAE(**ck["model_config"])
        net.load_state_dict(ck["model"])
        net = _DAEExport(net)
        y = torch.rand(3, C, generator=g) * 3
        m = (torch.rand(3, C, generator=g) > 0.2).float()
        if net.net.area_input:
            la = torch.randn(3, C, generator=g)
            ex = (y, m, la)
            names_in = ["y_obs", "obs_mask", "log_area"]
        else:
            ex = (y, m)
            names_in = ["y_obs", "obs_mask"]
        names_out = ["y_full"]
        name = name or "dae_default"
        extra = {"smoke_shapes": {k: [2, C] for k in names_in},
                 "smoke_out_shapes": {"y_full": [2, C]},
                 "held_out_metrics": {"validation": ck.get("val")},
                 "description": "denoising autoencoder: log(1+S/s) with gaps, mask and the log relative "
                                "channel response" + (" through the Galactic column (area_nH: the "
                                "runtime needs nH)" if net.net.area_nH else "") + " -> log(1+RF/s)"}
    path = folder / f"{name}.onnx"
    how = export_module(net, ex, path, names_in, names_out)
    worst = parity(net, ex, path, names_in)
    if worst > 1e-4:
        raise RuntimeError(f"torch and ONNX Runtime differ by {worst:.2e}")
    entry = {"file": path.name, "sha256": sha256_file(path), "kind": kind, "inputs": names_in,
             "outputs": names_out, "grid": RIM_GRID.to_dict(), "model_config": ck["model_config"],
             "training": {"config": ck["config"], "steps": ck["step"]}, "exporter": how,
             "parity_max_rel_diff": worst, "torch_version": torch.__version__,
             "n_parameters": int(sum(p.numel() for p in net.parameters())),
             "exported_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             **extra}
    entry["weights"] = save_weights(ck, folder / f"{name}.pt")
    entry.update(provenance(name, kind, ck, ckpt, entry["weights"]["sha256"], folder))
    update_manifest(name, entry, folder)
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["rim", "param", "dae", "crossnet"])
    ap.add_argument("checkpoint")
    ap.add_argument("--name", default=None)
    ap.add_argument("--folder", default=str(MODELS))
    args = ap.parse_args(argv)
    if args.kind == "rim":
        e = export_rim(args.checkpoint, args.name or "rim_default", pathlib.Path(args.folder))
    else:
        e = export_amortised(args.kind, args.checkpoint, args.name, pathlib.Path(args.folder))
    print(json.dumps({k: e[k] for k in ("file", "sha256", "exporter", "parity_max_rel_diff")}, indent=1))


if __name__ == "__main__":
    main()
