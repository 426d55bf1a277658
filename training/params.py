"""The parameter network: Gaussian mean and log-sd of (log kT, abundance, redshift, log
total photon flux) from a spectrum and its response; trained with the Gaussian negative
log-likelihood, then its widths calibrated on the validation responses.

    python -m training.amortised param --config training/configs/param_gpu.json

Input: the back-projected spectrum f0 = R^T S / R^T R 1 (log, relative to the flat
level), its relative noise, the log effective area and the energy coordinate, all on the
canonical energy grid (200 bins), plus log total counts. Run time:
:mod:`sherpa_rim.amortised.params` (whose ``flux_scale`` mirrors the scale here).
"""
from __future__ import annotations

import logging
import pathlib

import numpy as np
import torch
from torch import nn

from .loop import make_optimiser, optimiser_step, sample_batch, setup_data

log = logging.getLogger("training.params")

__all__ = ["PARAMS", "ParamNet", "conv_trunk", "gaussian_head", "param_features", "param_targets", "train_param",
           "calibrate_param", "DEFAULTS", "PARAM_MIXTURE"]

PARAMS = ("log_kT", "abundance", "redshift", "log_flux")

DEFAULTS = {"model": {"width": 32}, "data": {"n_train": 20000, "n_val": 2000, "seed": 10},
            "optim": {"lr": 1e-3, "batch": 64, "max_steps": 3000, "max_minutes": 15.0},
            "out": "runs/param_cpu"}

# parameter-network data: one temperature, Galactic absorption up to 2e21, realistic counts
PARAM_MIXTURE = (
    dict(noise="poisson", two_temperature_fraction=0.0, nH_range=(0.0, 0.2), weight=0.7),
    dict(noise="gaussian", two_temperature_fraction=0.0, nH_range=(0.0, 0.2), weight=0.3),
)


def param_features(S, R, sigma):
    """(B, 4, E) features and (B, 1) log total counts, as torch tensors."""
    eff = R.sum(1)
    tot = S.clamp(min=0).sum(1, keepdim=True)
    scale = (tot / eff.sum(1, keepdim=True)).clamp(min=1e-30)
    norm = torch.einsum("bce,bc->be", R, R.sum(2)).clamp(min=1e-12)
    f0 = torch.einsum("bce,bc->be", R, S.clamp(min=0)) / norm
    var0 = (torch.einsum("bce,bc->be", R * R, sigma * sigma).sqrt() / norm) ** 2
    x0 = torch.log((f0 / scale).clamp(min=1e-4))
    rel = torch.log((var0.sqrt() / (f0.abs() + 1e-3 * scale)).clamp(min=1e-4, max=1e4))
    larea = torch.log(eff / eff.mean(1, keepdim=True) + 1e-6)
    ec = torch.linspace(-1.0, 1.0, R.shape[-1], device=S.device).expand_as(x0)
    return torch.stack([x0, rel, larea, ec], 1), torch.log(tot.clamp(min=1.0)), scale


def conv_trunk(n_in, w):
    """Four 1-d convolutions, the canonical 200 energy bins down to 25 (2 w channels)."""
    return nn.Sequential(
        nn.Conv1d(n_in, w, 5, padding=2), nn.GELU(),
        nn.Conv1d(w, w, 5, padding=2, stride=2), nn.GELU(),          # 100
        nn.Conv1d(w, 2 * w, 5, padding=2, stride=2), nn.GELU(),      # 50
        nn.Conv1d(2 * w, 2 * w, 5, padding=2, stride=2), nn.GELU(),  # 25
    )


def gaussian_head(n_in, n_out):
    """Two hidden layers to the mean and log-sd of ``n_out`` parameters."""
    return nn.Sequential(nn.Linear(n_in, 256), nn.GELU(), nn.Linear(256, 128), nn.GELU(),
                         nn.Linear(128, 2 * n_out))


class ParamNet(nn.Module):
    def __init__(self, width=32, n_out=len(PARAMS)):
        super().__init__()
        w = width
        self.conv = conv_trunk(4, w)
        self.head = gaussian_head(2 * w * 25 + 1, n_out)
        self.n_out = n_out

    def forward(self, S, R, sigma):
        feats, ltot, _ = param_features(S, R, sigma)
        h = self.conv(feats).flatten(1)
        out = self.head(torch.cat([h, ltot / 10.0], 1))
        mean, logsd = out[:, :self.n_out], out[:, self.n_out:].clamp(-7, 3)
        return mean, logsd


def param_targets(data, scale):
    """(B, 4) targets: log kT, abundance, redshift, log(total photon flux / flat level)."""
    F = data["F"]
    return torch.stack([torch.log(data["kT"]), data["abundance"], data["redshift"],
                        torch.log(F.sum(1, keepdim=True) / scale)[:, 0]], 1)


def train_param(cfg, base):
    keys = ("S", "sigma", "F", "kT", "abundance", "redshift")
    device, d, o, tr, va = setup_data(cfg, base, keys, PARAM_MIXTURE)
    net = ParamNet(**cfg["model"]).to(device)
    opt, sched, rng, n, t0 = make_optimiser(net, d, o, tr)
    step = 0
    for step in range(1, o["max_steps"] + 1):
        idx = sample_batch(n, o["batch"], rng, device)
        sub = {k: tr[k][idx] for k in keys}
        R = tr["R"][tr["ridx"][idx]]
        mean, logsd = net(sub["S"], R, sub["sigma"])
        _, _, scale = param_features(sub["S"], R, sub["sigma"])
        y = param_targets(sub, scale)
        loss = (logsd + 0.5 * ((y - mean) / logsd.exp()) ** 2).mean()
        if optimiser_step(net, opt, sched, loss, step, t0, o, "param"):
            break
    calib, val = calibrate_param(net, va, device)
    out = pathlib.Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "model_config": cfg["model"], "config": cfg,
                "step": step, "calibration": calib, "val": val}, out / "best.pt")
    return net, calib, val


@torch.no_grad()
def calibrate_param(net, va, device):
    """One width factor per parameter so that the validation z-scores have unit spread
    (robust: from the 68.3 % quantile of |z|); returns factors and validation metrics."""
    net.eval()
    means, sds, ys = [], [], []
    n = va["S"].shape[0]
    for s in range(0, n, 512):
        sl = slice(s, min(n, s + 512))
        R = va["R"][va["ridx"][sl]]
        sub = {k: va[k][sl] for k in ("S", "sigma", "F", "kT", "abundance", "redshift")}
        m, ls = net(sub["S"], R, sub["sigma"])
        _, _, scale = param_features(sub["S"], R, sub["sigma"])
        means.append(m)
        sds.append(ls.exp())
        ys.append(param_targets(sub, scale))
    m, sd, y = (torch.cat(a).cpu().numpy() for a in (means, sds, ys))
    z = np.abs(y - m) / sd
    factors = np.quantile(z, 0.6827, axis=0)
    zc = z / factors
    val = {"coverage68": (zc < 1.0).mean(0).tolist(), "coverage90": (zc < 1.6449).mean(0).tolist(),
           "median_abs_err": np.median(np.abs(y - m), axis=0).tolist(), "params": list(PARAMS)}
    net.train()
    return factors.tolist(), val
