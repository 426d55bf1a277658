"""Train the RIM: ``python -m training.train_rim --config training/configs/rim_cpu.json``.

Checkpoints (model, optimiser, step, RNG state) go to ``<out>/last.pt`` every
``checkpoint_every`` steps and at the end; a run restarts from ``last.pt`` when it
exists (``--fresh`` to ignore it). The best model on the validation responses
(median relative L2 error of F in 0.5-7 keV) is kept in ``<out>/best.pt``.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import time

import numpy as np
import torch

from sherpa_rim.response.grid import RIM_GRID
from sherpa_rim.sim.responses import BaseComponents, base_components

from .data import make_split
from .loop import TimeCosine, load_init
from .rim import RIM, RIMConfig, rim_loss

log = logging.getLogger("training.rim")

DEFAULTS = {
    "model": {},
    "data": {"n_train": 20000, "n_val": 1000, "seed": 0, "base": None, "n_responses": 1000},
    "optim": {"lr": 2e-3, "batch": 32, "max_steps": 2000, "max_minutes": 20.0,
              "checkpoint_every": 200, "val_every": 200, "weight_decay": 1e-5},
    "out": "runs/rim_cpu",
    "device": "auto",
    "threads": 0,
}


def load_config(path=None, overrides=None):
    cfg = json.loads(json.dumps(DEFAULTS))
    if path:
        user = json.loads(pathlib.Path(path).read_text())
        for k, v in user.items():
            if isinstance(v, dict):
                cfg.setdefault(k, {}).update(v)
            else:
                cfg[k] = v
    for k, v in (overrides or {}).items():
        sec, _, key = k.partition(".")
        if key:
            cfg[sec][key] = v
        else:
            cfg[sec] = v
    return cfg


def _tensors(data, device):
    t = {k: torch.as_tensor(np.asarray(data[k], dtype=np.float32), device=device)
         for k in ("S", "sigma", "F")}
    t["ridx"] = torch.as_tensor(data["response_index"].astype(np.int64), device=device)
    t["R"] = torch.as_tensor(np.asarray(data["R"], np.float32), device=device)
    return t


def band_weights(grid=RIM_GRID):
    e = np.sqrt(grid.energy_lo * grid.energy_hi)
    return torch.tensor(np.where((e >= 0.5) & (e < 7.0), 1.0, 0.5), dtype=torch.float32)


@torch.no_grad()
def evaluate(model, t, device, batch=256):
    """Median and 90th percentile relative L2 error of F (0.5-7 keV) on a set."""
    model.eval()
    e = np.sqrt(RIM_GRID.energy_lo * RIM_GRID.energy_hi)
    band = torch.tensor((e >= 0.5) & (e < 7.0), device=device)
    errs = []
    n = t["S"].shape[0]
    for s in range(0, n, batch):
        sl = slice(s, min(n, s + batch))
        R = t["R"][t["ridx"][sl]]
        xs, scale = model(t["S"][sl], R, t["sigma"][sl])
        F = scale * torch.exp(xs[-1])
        Ft = t["F"][sl]
        err = (F - Ft)[:, band].norm(dim=1) / Ft[:, band].norm(dim=1)
        errs.append(err.cpu().numpy())
    model.train()
    errs = np.concatenate(errs)
    return float(np.median(errs)), float(np.percentile(errs, 90))


def train(cfg):
    out = pathlib.Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    dev = cfg["device"]
    device = torch.device("cuda" if dev == "auto" and torch.cuda.is_available() else
                          ("cpu" if dev == "auto" else dev))
    d = cfg["data"]
    base = BaseComponents.load(d["base"]) if d.get("base") else base_components()
    seed = int(d["seed"])
    torch.manual_seed(seed)
    t0 = time.time()
    workers = int(d.get("workers", 1))
    # data.mixture: a list of make_split mixture entries (noise, weights, counts_range, ...);
    # the default is training.data.MIXTURE
    kw = {"mixture": tuple(d["mixture"])} if d.get("mixture") else {}
    train_data = make_split(base, "train", d["n_train"], seed, d["n_responses"], workers=workers, **kw)
    val_data = make_split(base, "val", d["n_val"], seed + 1, d["n_responses"], workers=workers, **kw)
    log.info("data: %d train / %d val spectra in %.1f s", d["n_train"], d["n_val"], time.time() - t0)
    tr, va = _tensors(train_data, device), _tensors(val_data, device)
    mcfg = RIMConfig(n_energy=RIM_GRID.n_energy, n_channels=RIM_GRID.n_channels, **cfg["model"])
    model = RIM(mcfg).to(device)
    o = cfg["optim"]
    opt = torch.optim.AdamW(model.parameters(), lr=o["lr"], weight_decay=o["weight_decay"])
    sched = TimeCosine(opt, o["lr"], o["max_steps"], o["max_minutes"])
    step, best = 0, (np.inf, np.inf)
    history = []
    last = out / "last.pt"
    if cfg.get("init") and not last.exists():
        # fine-tune: start from another run's weights (fresh optimiser and schedule)
        ck = load_init(cfg, device)
        if ck.get("model_config", mcfg.to_dict()) != mcfg.to_dict():
            raise ValueError(f"init {cfg['init']} has model config {ck.get('model_config')}, "
                             f"this run {mcfg.to_dict()}")
        model.load_state_dict(ck["model"])
        log.info("initialised from %s: val median relL2 %.4f p90 %.4f", cfg["init"],
                 *evaluate(model, va, device))
    if last.exists() and not cfg.get("fresh"):
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        if not o.get("restart_lr"):
            sched.load_state_dict(ck["sched"])
        step, best, history = ck["step"], tuple(ck["best"]), ck["history"]
        torch.set_rng_state(ck["rng"].cpu())
        log.info("resumed from %s at step %d", last, step)
    w = band_weights().to(device)
    e_mid = np.sqrt(RIM_GRID.energy_lo * RIM_GRID.energy_hi)
    band = torch.tensor((e_mid >= 0.5) & (e_mid < 7.0), device=device)
    rng = np.random.default_rng(seed + step)
    n = tr["S"].shape[0]
    try:
        from tqdm import tqdm
        import sys
        bar = tqdm(total=o["max_steps"], initial=step, desc="train rim", unit="step",
                   disable=not sys.stderr.isatty(), mininterval=2.0)
    except ImportError:   # pragma: no cover
        bar = None
    t_start = time.time()

    def save(path):
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "step": step, "best": best, "history": history, "rng": torch.get_rng_state(),
                    "config": cfg, "model_config": mcfg.to_dict()}, path)

    while step < o["max_steps"]:
        idx = torch.as_tensor(rng.integers(0, n, o["batch"]), device=device)
        S, sig, Ft = tr["S"][idx], tr["sigma"][idx], tr["F"][idx]
        R = tr["R"][tr["ridx"][idx]]
        xs, scale = model(S, R, sig)
        loss = rim_loss(xs, scale, Ft, w, band, o.get("lin_weight", 1.0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        if bar:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % o["val_every"] == 0 or step == o["max_steps"]:
            med, p90 = evaluate(model, va, device)
            history.append({"step": step, "loss": float(loss.item()), "val_median_relL2": med,
                            "val_p90_relL2": p90, "minutes": (time.time() - t_start) / 60})
            log.info("step %d loss %.4f val median relL2 %.4f p90 %.4f", step, loss.item(), med, p90)
            if med < best[0]:
                best = (med, p90)
                save(out / "best.pt")
        if step % o["checkpoint_every"] == 0:
            save(last)
        if (time.time() - t_start) / 60 > o["max_minutes"]:
            log.info("time limit reached at step %d", step)
            break
    save(last)
    if bar:
        bar.close()
    (out / "history.json").write_text(json.dumps({"config": cfg, "history": history,
                                                  "best_val": best}, indent=1))
    return model, best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="JSON config (training/configs/*.json)")
    ap.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                    help="override config values, e.g. optim.max_steps=100")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ov = {}
    for item in args.set:
        k, _, v = item.partition("=")
        try:
            ov[k] = json.loads(v)
        except json.JSONDecodeError:
            ov[k] = v
    cfg = load_config(args.config, ov)
    cfg["fresh"] = args.fresh
    cfg["config_file"] = args.config
    _, best = train(cfg)
    print(f"best validation median relative L2 (0.5-7 keV): {best[0]:.4f} (p90 {best[1]:.4f})")


if __name__ == "__main__":
    main()
