"""Helpers shared by the training loops: device choice, tensors on the device, batches,
the optimiser with its time-limited cosine schedule, one clipped optimiser step."""
from __future__ import annotations

import logging
import time

import numpy as np
import torch

from .data import make_split

log = logging.getLogger("training.loop")

__all__ = ["merge_config", "TimeCosine", "pick_device", "to_tensors", "sample_batch", "setup_data",
           "make_optimiser", "optimiser_step", "load_init"]


def merge_config(defaults, path=None):
    """A copy of ``defaults`` with the sections of the JSON config ``path`` merged in (a dict
    section updates the default's keys; anything else replaces it) and ``config_file`` set."""
    import json
    import pathlib
    cfg = json.loads(json.dumps(defaults))
    if path:
        for k, v in json.loads(pathlib.Path(path).read_text()).items():
            if isinstance(v, dict):
                cfg.setdefault(k, {}).update(v)
            else:
                cfg[k] = v
        cfg["config_file"] = str(path)
    return cfg


def load_init(cfg, device="cpu"):
    """The checkpoint a fine-tune starts from (``cfg["init"]``), checked against
    ``cfg["init_sha256"]`` when the config records it (``python -m training.starts MODEL``
    writes the recorded starts from the repository's history)."""
    import pathlib

    from sherpa_rim.runtime import sha256_file

    path = pathlib.Path(cfg["init"])
    if not path.is_file():
        raise FileNotFoundError(f"init {path} does not exist: run the stage that makes it, or "
                                "python -m training.starts <model> to write the recorded start")
    want = cfg.get("init_sha256")
    if want and sha256_file(path) != want:
        raise ValueError(f"init {path} has sha256 {sha256_file(path)[:12]}..., the config records "
                         f"{want[:12]}...: it is not the recorded start (python -m training.starts)")
    return torch.load(path, map_location=device, weights_only=False)


class TimeCosine:
    """Warm-up then cosine decay of the learning rate over whichever ends first:
    ``max_steps`` steps or ``max_minutes`` of wall time (so a time-limited run still anneals)."""

    def __init__(self, opt, lr, max_steps, max_minutes, warmup=0.04):
        self.opt, self.lr, self.max_steps, self.max_s = opt, lr, max_steps, max_minutes * 60.0
        self.warmup = warmup
        self.t0 = time.time()
        self.step_n = 0
        self.elapsed0 = 0.0

    def progress(self):
        return min(1.0, max(self.step_n / self.max_steps,
                            (self.elapsed0 + time.time() - self.t0) / self.max_s))

    def step(self):
        self.step_n += 1
        p = self.progress()
        f = p / self.warmup if p < self.warmup else 0.5 * (1 + np.cos(np.pi * (p - self.warmup) / (1 - self.warmup)))
        for g in self.opt.param_groups:
            g["lr"] = self.lr * max(f, 0.02)

    def state_dict(self):
        return {"step_n": self.step_n, "elapsed": self.elapsed0 + time.time() - self.t0}

    def load_state_dict(self, d):
        self.step_n = d["step_n"]
        self.elapsed0 = d["elapsed"]
        self.t0 = time.time()


def pick_device(name="auto"):
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else
                        ("cpu" if name == "auto" else name))


def to_tensors(data, device, keys):
    out = {k: torch.as_tensor(np.asarray(data[k], np.float32), device=device) for k in keys}
    out["ridx"] = torch.as_tensor(data["response_index"].astype(np.int64), device=device)
    out["R"] = torch.as_tensor(np.asarray(data["R"], np.float32), device=device)
    return out


def sample_batch(n, batch, rng, device):
    return torch.as_tensor(rng.integers(0, n, batch), device=device)


def setup_data(cfg, base, keys, mixture):
    """Device, config sections and the train / validation sets as tensors."""
    device = pick_device(cfg.get("device", "auto"))
    d, o = cfg["data"], cfg["optim"]
    torch.manual_seed(d["seed"])
    w = int(d.get("workers", 1))
    kw = {"mixture": mixture} if mixture is not None else {}
    tr = to_tensors(make_split(base, "train", d["n_train"], d["seed"], workers=w, **kw), device, keys)
    va = to_tensors(make_split(base, "val", d["n_val"], d["seed"] + 1, workers=w, **kw), device, keys)
    return device, d, o, tr, va


def make_optimiser(net, d, o, tr):
    opt = torch.optim.AdamW(net.parameters(), lr=o["lr"], weight_decay=1e-5)
    sched = TimeCosine(opt, o["lr"], o["max_steps"], o["max_minutes"])
    return opt, sched, np.random.default_rng(d["seed"]), tr["S"].shape[0], time.time()


def optimiser_step(net, opt, sched, loss, step, t0, o, name) -> bool:
    """One optimiser step (clipped); True when the time limit is reached."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 500 == 0:
        log.info("%s step %d loss %.5f", name, step, loss.item())
    return (time.time() - t0) / 60 > o["max_minutes"]
