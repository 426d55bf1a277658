"""The denoising autoencoder that fills missing energy bands.

    python -m training.amortised dae --config training/configs/dae_gpu.json

Input: log(1 + S / s) on the canonical channels with a gap (contiguous band and/or bad
columns) set to zero, the mask, and the observation's log relative channel response (R
applied to a flat spectrum, seen through the Galactic column when ``area_nH``; see
:func:`dae_log_area`); output: log(1 + RF / s), the noise-free expected counts
everywhere. Trained on both phases of the refinement: the gap empty, and the gap filled
with a first reconstruction.

Why the response: the soft ACIS response changes several-fold between observations
(contamination build-up), so counts in a missing soft band cannot be predicted from the
other channels alone; a DAE that saw counts and mask only left the parameter network's
kT error 2.8-3.3x the full-band one on a 0.3-0.7 keV gap.

Run time: :mod:`sherpa_rim.amortised.dae` (``dae_log_area_np`` is the numpy twin of
:func:`dae_log_area`, tested equal).
"""
from __future__ import annotations

import logging
import pathlib

import numpy as np
import torch
import torch.nn.functional as Fn
from torch import nn

from sherpa_rim.emission.absorption import transmission
from sherpa_rim.response.grid import RIM_GRID

from .data import MIXTURE
from .loop import load_init, make_optimiser, optimiser_step, sample_batch, setup_data

log = logging.getLogger("training.dae")

__all__ = ["DAE", "dae_log_area", "dae_scale", "random_masks", "galactic_transmission",
           "train_dae", "validate_dae", "DEFAULTS"]

DEFAULTS = {"model": {"width": 16}, "data": {"n_train": 20000, "n_val": 2000, "seed": 20},
            "optim": {"lr": 1e-3, "batch": 64, "max_steps": 3000, "max_minutes": 15.0},
            "out": "runs/dae_cpu"}


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


def _warm_start_dae(net, cfg):
    """Initialise from an earlier DAE checkpoint (``cfg["init"]``); a 2-input first layer (no
    response channel) is copied into the first two input channels, the third starts at zero."""
    path = cfg["init"]
    ck = load_init(cfg)
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
    # -ln T for 1e22 cm^-2 = sigma * 1e22, the simulator's per-bin rule
    tau1 = torch.as_tensor(-np.log(transmission(1.0, RIM_GRID.energy_lo, RIM_GRID.energy_hi, rule="centre")),
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
    if "nH_range" not in d:
        return None
    return tuple(dict(m, nH_range=tuple(d["nH_range"])) for m in MIXTURE)


def train_dae(cfg, base):
    device, d, o, tr, va = setup_data(cfg, base, ("S", "sigma", "F", "nH"), _dae_mixture(cfg["data"]))
    net = DAE(n_channels=tr["S"].shape[1], **cfg["model"]).to(device)
    jitter = float(d.get("nH_jitter", 0.0))
    if cfg.get("init"):
        _warm_start_dae(net, cfg)
    opt, sched, rng, n, t0 = make_optimiser(net, d, o, tr)
    de = torch.as_tensor(RIM_GRID.energy_hi - RIM_GRID.energy_lo, dtype=torch.float32, device=device)
    log.info("dae validation before training: %s; also ignored above 7 keV: %s",
             validate_dae(net, va, device, jitter=jitter),
             validate_dae(net, va, device, jitter=jitter, hard_kev=7.0))
    step = 0
    for step in range(1, o["max_steps"] + 1):
        idx = sample_batch(n, o["batch"], rng, device)
        S, F = tr["S"][idx], tr["F"][idx]
        R = tr["R"][tr["ridx"][idx]]
        mask = random_masks(S.shape[0], S.shape[1], rng, device, d.get("soft_fraction", 0.3),
                            d.get("hard_fraction", 0.0))
        nH = _given_nH(tr["nH"][idx], jitter)
        loss, _, _ = _dae_batch(net, S, F, R, mask, de, nH)
        if optimiser_step(net, opt, sched, loss, step, t0, o, "dae"):
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
