"""Amortised networks: a parameter network with uncertainties, and a denoising
autoencoder that fills missing energy bands.

    python -m training.amortised param --config training/configs/param_gpu.json
    python -m training.amortised dae   --config training/configs/dae_gpu.json

Parameter network
    input: the back-projected spectrum f0 = R^T S / R^T R 1 (log, relative to the
    flat level), its relative noise, the log effective area and the energy
    coordinate, all on the canonical energy grid (200 bins), plus log total counts;
    output: mean and log standard deviation of (log kT, abundance, redshift,
    log total photon flux / flat level), trained with the Gaussian negative
    log-likelihood; the widths are then calibrated on the validation responses
    (one factor per parameter, stored in the manifest).

Denoising autoencoder
    input: log(1 + S / s) on the canonical channels with a gap (contiguous band
    and/or bad columns) set to zero, the mask, and the observation's log relative
    channel response (R applied to a flat spectrum, see :func:`dae_log_area`);
    output: log(1 + RF / s), the noise-free expected counts everywhere. Trained
    on both phases of the seed's refinement: the gap empty, and the gap filled
    with a first reconstruction.

    Why the response: the soft ACIS response changes several-fold between
    observations (contamination build-up), so counts in a missing soft band
    cannot be predicted from the other channels alone. The first DAE (session 1)
    saw counts and mask only; on a 0.3-0.7 keV gap its fill left the parameter
    network's kT error 2.8-3.3x the full-band one.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as Fn

from sherpa_rim.simulate import RIM_GRID, BaseComponents, base_components

from .data import make_split

log = logging.getLogger("training.amortised")

PARAMS = ("log_kT", "abundance", "redshift", "log_flux")


# ---------------------------------------------------------------------------
# Features shared with the runtime (sherpa_rim.amortised computes the same in numpy)
# ---------------------------------------------------------------------------
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


class ParamNet(nn.Module):
    def __init__(self, width=32, n_out=len(PARAMS)):
        super().__init__()
        w = width
        self.conv = nn.Sequential(
            nn.Conv1d(4, w, 5, padding=2), nn.GELU(),
            nn.Conv1d(w, w, 5, padding=2, stride=2), nn.GELU(),          # 100
            nn.Conv1d(w, 2 * w, 5, padding=2, stride=2), nn.GELU(),      # 50
            nn.Conv1d(2 * w, 2 * w, 5, padding=2, stride=2), nn.GELU(),  # 25
        )
        self.head = nn.Sequential(nn.Linear(2 * w * 25 + 1, 256), nn.GELU(),
                                  nn.Linear(256, 128), nn.GELU(), nn.Linear(128, 2 * n_out))
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


class DAE(nn.Module):
    """1-D convolutional encoder-decoder with skips, on the canonical channels."""

    def __init__(self, width=32, n_channels=332, area_input=True, area_nH=False):
        super().__init__()
        w = width
        self.n = n_channels
        self.pad = (-n_channels) % 8
        self.area_input = bool(area_input)
        # area_nH: the response input includes the Galactic absorption (known column), see
        # dae_log_area; the layers are the same, only what the third input means changes
        self.area_nH = bool(area_nH)
        self.e1 = nn.Sequential(nn.Conv1d(3 if area_input else 2, w, 5, padding=2), nn.GELU(), nn.Conv1d(w, w, 5, padding=2), nn.GELU())
        self.e2 = nn.Sequential(nn.Conv1d(w, 2 * w, 4, stride=2, padding=1), nn.GELU(),
                                nn.Conv1d(2 * w, 2 * w, 5, padding=2), nn.GELU())
        self.e3 = nn.Sequential(nn.Conv1d(2 * w, 4 * w, 4, stride=2, padding=1), nn.GELU(),
                                nn.Conv1d(4 * w, 4 * w, 5, padding=2), nn.GELU())
        self.e4 = nn.Sequential(nn.Conv1d(4 * w, 4 * w, 4, stride=2, padding=1), nn.GELU(),
                                nn.Conv1d(4 * w, 4 * w, 9, padding=4), nn.GELU())
        self.u3 = nn.ConvTranspose1d(4 * w, 4 * w, 4, stride=2, padding=1)
        self.d3 = nn.Sequential(nn.Conv1d(8 * w, 2 * w, 5, padding=2), nn.GELU())
        self.u2 = nn.ConvTranspose1d(2 * w, 2 * w, 4, stride=2, padding=1)
        self.d2 = nn.Sequential(nn.Conv1d(4 * w, w, 5, padding=2), nn.GELU())
        self.u1 = nn.ConvTranspose1d(w, w, 4, stride=2, padding=1)
        self.d1 = nn.Sequential(nn.Conv1d(2 * w, w, 5, padding=2), nn.GELU(), nn.Conv1d(w, 1, 5, padding=2))

    def forward(self, y, mask, log_area=None):
        """y: log(1 + S/s) with the gap zeroed; mask: 1 where observed; log_area: see
        :func:`dae_log_area`. Returns the full log(1 + RF/s)."""
        x = torch.stack([y * mask, mask] + ([log_area] if self.area_input else []), 1)
        x = Fn.pad(x, (0, self.pad))
        a = self.e1(x)
        b = self.e2(a)
        c = self.e3(b)
        d = self.e4(c)
        c2 = self.d3(torch.cat([self.u3(d), c], 1))
        b2 = self.d2(torch.cat([self.u2(c2), b], 1))
        out = self.d1(torch.cat([self.u1(b2), a], 1))[:, 0, :self.n]
        return out


def dae_log_area(R, mask, energy_width, transmission=None):
    """log(A_c / <A>_observed + 1e-3): A = R @ (T dE), the counts per channel of a flat
    photon spectrum seen through the Galactic column (transmission T (B, E), 1 when not
    given), relative to its mean over the observed channels. (B, C)."""
    w = energy_width[None, :] if transmission is None else transmission * energy_width[None, :]
    A = torch.einsum("bce,be->bc", R, w.expand(R.shape[0], -1))
    mean = (A * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1)
    return torch.log(A / mean.clamp(min=1e-30) + 1e-3)


def dae_scale(S, mask):
    """Per-spectrum count scale s: mean positive counts per *observed* channel."""
    return ((S.clamp(min=0) * mask).sum(1, keepdim=True)
            / mask.sum(1, keepdim=True).clamp(min=1)).clamp(min=1e-3)


def random_masks(B, n, rng, device, soft_fraction=0.3, hard_fraction=0.0, hard_start=(0.48, 0.9)):
    """Contiguous gaps (5-35 % of the band, anywhere; ``soft_fraction`` of them at the soft
    end) and bad columns; in ``hard_fraction`` of the spectra also the hard end from a
    channel in ``hard_start`` (fractions of the band: 5-9 keV on the canonical grid), as
    a Sherpa ``notice(0.5, 7)`` leaves it."""
    m = np.ones((B, n), np.float32)
    for i in range(B):
        r = rng.random()
        if r < 0.85:
            width = int(rng.uniform(0.05, 0.35) * n)
            start = 0 if rng.random() < soft_fraction else int(rng.integers(0, n - width))
            m[i, start:start + width] = 0
        if hard_fraction and rng.random() < hard_fraction:
            m[i, int(rng.uniform(*hard_start) * n):] = 0
        if r > 0.6:
            cols = rng.integers(0, n, int(rng.integers(1, 12)))
            for c in cols:
                m[i, c:c + int(rng.integers(1, 4))] = 0
    return torch.as_tensor(m, device=device)


# ---------------------------------------------------------------------------
# Training loops
# ---------------------------------------------------------------------------
DEFAULTS = {
    "param": {"model": {"width": 32}, "data": {"n_train": 20000, "n_val": 2000, "seed": 10},
              "optim": {"lr": 1e-3, "batch": 64, "max_steps": 3000, "max_minutes": 15.0},
              "out": "runs/param_cpu"},
    "dae": {"model": {"width": 16}, "data": {"n_train": 20000, "n_val": 2000, "seed": 20},
            "optim": {"lr": 1e-3, "batch": 64, "max_steps": 3000, "max_minutes": 15.0},
            "out": "runs/dae_cpu"},
}

# parameter-network data: one temperature, Galactic absorption up to 2e21, realistic counts
PARAM_MIXTURE = (
    dict(noise="poisson", two_temperature_fraction=0.0, nH_range=(0.0, 0.2), weight=0.7),
    dict(noise="gaussian", two_temperature_fraction=0.0, nH_range=(0.0, 0.2), weight=0.3),
)


def _device(name="auto"):
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else
                        ("cpu" if name == "auto" else name))


def _to(data, device, keys):
    out = {k: torch.as_tensor(np.asarray(data[k], np.float32), device=device) for k in keys}
    out["ridx"] = torch.as_tensor(data["response_index"].astype(np.int64), device=device)
    out["R"] = torch.as_tensor(np.asarray(data["R"], np.float32), device=device)
    return out


def _batches(n, batch, rng, device):
    return torch.as_tensor(rng.integers(0, n, batch), device=device)


def _setup(cfg, base, keys, mixture):
    """Device, config sections and the train / validation sets as tensors."""
    device = _device(cfg.get("device", "auto"))
    d, o = cfg["data"], cfg["optim"]
    torch.manual_seed(d["seed"])
    w = int(d.get("workers", 1))
    kw = {"mixture": mixture} if mixture is not None else {}
    tr = _to(make_split(base, "train", d["n_train"], d["seed"], workers=w, **kw), device, keys)
    va = _to(make_split(base, "val", d["n_val"], d["seed"] + 1, workers=w, **kw), device, keys)
    return device, d, o, tr, va


def _optimiser(net, d, o, tr):
    from .train_rim import TimeCosine
    opt = torch.optim.AdamW(net.parameters(), lr=o["lr"], weight_decay=1e-5)
    sched = TimeCosine(opt, o["lr"], o["max_steps"], o["max_minutes"])
    return opt, sched, np.random.default_rng(d["seed"]), tr["S"].shape[0], time.time()


def _update(net, opt, sched, loss, step, t0, o, name) -> bool:
    """One optimiser step (clipped); True when the time limit is reached."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 500 == 0:
        log.info("%s step %d loss %.5f", name, step, loss.item())
    return (time.time() - t0) / 60 > o["max_minutes"]


def train_param(cfg, base):
    keys = ("S", "sigma", "F", "kT", "abundance", "redshift")
    device, d, o, tr, va = _setup(cfg, base, keys, PARAM_MIXTURE)
    net = ParamNet(**cfg["model"]).to(device)
    opt, sched, rng, n, t0 = _optimiser(net, d, o, tr)
    step = 0
    for step in range(1, o["max_steps"] + 1):
        idx = _batches(n, o["batch"], rng, device)
        sub = {k: tr[k][idx] for k in keys}
        R = tr["R"][tr["ridx"][idx]]
        mean, logsd = net(sub["S"], R, sub["sigma"])
        _, _, scale = param_features(sub["S"], R, sub["sigma"])
        y = param_targets(sub, scale)
        loss = (logsd + 0.5 * ((y - mean) / logsd.exp()) ** 2).mean()
        if _update(net, opt, sched, loss, step, t0, o, "param"):
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


def _warm_start_dae(net, path):
    """Initialise from an earlier DAE checkpoint; a 2-input first layer (no response
    channel) is copied into the first two input channels, the third starts at zero."""
    ck = torch.load(path, map_location="cpu", weights_only=False)
    state = dict(ck["model"])
    w = state["e1.0.weight"]
    own = net.state_dict()["e1.0.weight"]
    if w.shape[1] < own.shape[1]:
        pad = torch.zeros(own.shape[0], own.shape[1] - w.shape[1], own.shape[2], dtype=w.dtype)
        state["e1.0.weight"] = torch.cat([w, pad], 1)
    net.load_state_dict(state)
    log.info("dae warm start from %s (step %s)", path, ck.get("step"))


def galactic_transmission(nH, device=None):
    """exp(-nH sigma(E)) on the canonical energy grid, nH in 1e22 cm^-2 (B,) -> (B, E)."""
    from sherpa_rim.emission.absorption import grid_transmission
    # -ln T for 1e22 cm^-2 = sigma * 1e22, the simulator's per-bin rule
    tau1 = torch.as_tensor(-np.log(grid_transmission(1.0, RIM_GRID.energy_lo, RIM_GRID.energy_hi)[0]),
                           dtype=torch.float32, device=device)
    return torch.exp(-nH[:, None] * tau1[None, :])


def _dae_batch(net, S, F, R, mask, de, nH=None):
    """Both refinement phases on one batch: (loss, first-pass output, target). ``nH``: the
    Galactic column given to a DAE whose response input includes it (``area_nH``)."""
    clean = torch.einsum("bce,be->bc", R, F)
    s = dae_scale(S, mask)
    y = torch.log1p(S.clamp(min=0) / s)
    target = torch.log1p(clean / s)
    T = None
    if getattr(net, "area_nH", False):
        if nH is None:
            raise ValueError("this DAE needs the Galactic column (area_nH)")
        T = galactic_transmission(nH, S.device)
    la = dae_log_area(R, mask, de, T)
    out1 = net(y, mask, la)
    # phase 2: the gap filled with the (detached) first reconstruction, everything marked known
    y2 = torch.where(mask > 0, y, out1.detach())
    out2 = net(y2, torch.ones_like(mask), la)
    w = 1.0 + 2.0 * (1 - mask)          # the gap matters most
    loss = ((out1 - target) ** 2 * w).mean() + ((out2 - target) ** 2 * w).mean()
    return loss, out2, target


def _given_nH(nH, jitter, gen=None):
    """The column a user would give: the true one with a log-normal error of ``jitter``
    (fractional; a Galactic HI column differs from the X-ray one by ~10 %)."""
    if not jitter:
        return nH
    e = torch.randn(nH.shape, generator=gen, device="cpu").to(nH.device)
    return nH * torch.exp(jitter * e)


@torch.no_grad()
def validate_dae(net, va, device, gap_kev=(0.3, 0.7), jitter=0.0, hard_kev=None):
    """Validation (held-apart ObsIDs): relative error of the expected counts summed over a
    soft gap (median and 90th percentile of |filled / true - 1|)."""
    net.eval()
    de = torch.as_tensor(RIM_GRID.energy_hi - RIM_GRID.energy_lo, dtype=torch.float32, device=device)
    c = 0.5 * (RIM_GRID.channel_lo + RIM_GRID.channel_hi)
    gap = torch.as_tensor((c >= gap_kev[0]) & (c < gap_kev[1]), device=device)
    errs = []
    n = va["S"].shape[0]
    for a in range(0, n, 512):
        sl = slice(a, min(n, a + 512))
        S, F = va["S"][sl], va["F"][sl]
        R = va["R"][va["ridx"][sl]]
        keep = ~gap if hard_kev is None else ~gap & torch.as_tensor(c < hard_kev, device=device)
        mask = keep.float().expand_as(S).contiguous()
        nH = _given_nH(va["nH"][sl], jitter, torch.Generator().manual_seed(a)) if "nH" in va else None
        _, out, target = _dae_batch(net, S, F, R, mask, de, nH)
        s = dae_scale(S, mask)
        fill = torch.expm1(out.clamp(max=50)) * s
        true = torch.expm1(target) * s
        errs.append((fill[:, gap].sum(1) / true[:, gap].sum(1).clamp(min=1e-30) - 1).abs())
    e = torch.cat(errs).cpu().numpy()
    net.train()
    return {"gap_keV": list(gap_kev), "ignored_above_keV": hard_kev, "median_abs_rel_err": float(np.median(e)),
            "p90_abs_rel_err": float(np.quantile(e, 0.9))}


def _dae_mixture(d):
    """The RIM's training mixture, with the Galactic column range of ``data.nH_range`` when
    given (the parameter network's prior is 0-0.2e22)."""
    from .data import MIXTURE
    if "nH_range" not in d:
        return None
    return tuple(dict(m, nH_range=tuple(d["nH_range"])) for m in MIXTURE)


def train_dae(cfg, base):
    device, d, o, tr, va = _setup(cfg, base, ("S", "sigma", "F", "nH"), _dae_mixture(cfg["data"]))
    net = DAE(n_channels=tr["S"].shape[1], **cfg["model"]).to(device)
    jitter = float(d.get("nH_jitter", 0.0))
    if cfg.get("init"):
        _warm_start_dae(net, cfg["init"])
    opt, sched, rng, n, t0 = _optimiser(net, d, o, tr)
    de = torch.as_tensor(RIM_GRID.energy_hi - RIM_GRID.energy_lo, dtype=torch.float32, device=device)
    log.info("dae validation before training: %s; also ignored above 7 keV: %s",
             validate_dae(net, va, device, jitter=jitter),
             validate_dae(net, va, device, jitter=jitter, hard_kev=7.0))
    step = 0
    for step in range(1, o["max_steps"] + 1):
        idx = _batches(n, o["batch"], rng, device)
        S, F = tr["S"][idx], tr["F"][idx]
        R = tr["R"][tr["ridx"][idx]]
        mask = random_masks(S.shape[0], S.shape[1], rng, device, d.get("soft_fraction", 0.3),
                            d.get("hard_fraction", 0.0))
        nH = _given_nH(tr["nH"][idx], jitter)
        loss, _, _ = _dae_batch(net, S, F, R, mask, de, nH)
        if _update(net, opt, sched, loss, step, t0, o, "dae"):
            break
    val = validate_dae(net, va, device, jitter=jitter)
    if jitter:
        val["exact_nH"] = validate_dae(net, va, device)
    val["also_ignored_above_7keV"] = validate_dae(net, va, device, jitter=jitter, hard_kev=7.0)
    log.info("dae validation after %d steps: %s", step, val)
    out = pathlib.Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "model_config": {**cfg["model"], "n_channels": int(tr["S"].shape[1])},
                "config": cfg, "step": step, "val": val}, out / "best.pt")
    return net


# ---------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------
class _DAEExport(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, y, mask, log_area=None):
        return self.net(y, mask, log_area)


def export(kind, ckpt, name=None, folder=None):
    from .export import MODELS, _sha256, export_module, parity, update_manifest
    import datetime

    folder = pathlib.Path(folder or MODELS)
    ck = torch.load(ckpt, map_location="cpu", weights_only=False)
    g = torch.Generator().manual_seed(0)
    C, E = RIM_GRID.n_channels, RIM_GRID.n_energy
    if kind == "param":
        net = ParamNet(**ck["model_config"])
        net.load_state_dict(ck["model"])
        from .export import example_inputs_rim
        from .rim import RIMConfig
        ex = example_inputs_rim(RIMConfig(n_energy=E, n_channels=C))
        names_in, names_out = ["S", "R", "sigma"], ["param_mean", "param_logsd"]
        name = name or "param_default"
        extra = {"calibration": ck["calibration"], "params": list(PARAMS),
                 "held_out_metrics": {"validation": ck["val"]},
                 "smoke_shapes": {"S": [2, C], "R": [2, C, E], "sigma": [2, C]},
                 "smoke_out_shapes": {"param_mean": [2, len(PARAMS)]},
                 "description": "parameter network: Gaussian mean/log-sd of log kT, abundance, "
                                "redshift, log flux"}
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
    entry = {"file": path.name, "sha256": _sha256(path), "kind": kind, "inputs": names_in,
             "outputs": names_out, "grid": RIM_GRID.to_dict(), "model_config": ck["model_config"],
             "training": {"config": ck["config"], "steps": ck["step"]}, "exporter": how,
             "parity_max_rel_diff": worst, "torch_version": torch.__version__,
             "n_parameters": int(sum(p.numel() for p in net.parameters())),
             "exported_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
             "reproduce": f"python -m training.amortised {kind} --config "
                          f"{ck['config'].get('config_file', f'training/configs/{kind}_gpu.json')} "
                          f"--base runs/base.npz && python -m training.export {kind} <out>/best.pt",
             **extra}
    from .export import save_weights
    entry["weights"] = save_weights(ck, folder / f"{name}.pt")
    update_manifest(name, entry, folder)
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(description="train the amortised networks")
    ap.add_argument("kind", choices=["param", "dae"])
    ap.add_argument("--config")
    ap.add_argument("--base", help="base components npz (python -m training.data --base ...)")
    ap.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = json.loads(json.dumps(DEFAULTS[args.kind]))
    if args.config:
        for k, v in json.loads(pathlib.Path(args.config).read_text()).items():
            if isinstance(v, dict):
                cfg.setdefault(k, {}).update(v)
            else:
                cfg[k] = v
    for item in args.set:
        k, _, v = item.partition("=")
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        sec, _, key = k.partition(".")
        if key:
            cfg.setdefault(sec, {})[key] = v
        else:
            cfg[sec] = v
    if args.config:
        cfg["config_file"] = args.config
    base = BaseComponents.load(args.base) if args.base else base_components()
    if args.kind == "param":
        _, calib, val = train_param(cfg, base)
        print(json.dumps({"calibration": calib, "validation": val}, indent=1))
    else:
        train_dae(cfg, base)
        print("dae trained ->", cfg["out"])


if __name__ == "__main__":
    main()
