"""The cross-calibration network: two observations of one thermal source, each with its nominal
response, in; the second observation's gain slope and its effective-area ratio to the first in
the eight log bands of 0.5-7 keV out, with the source's kT, abundance and redshift, as Gaussian
means and widths. It is the parameter network trained with gain and area as free parameters of
the pair (what a cross-calibration asks for) and the source as a nuisance.

    python -m training.crossnet --config training/configs/crossnet_cpu.json --base runs/base.npz
    python -m training.export crossnet runs/crossnet_cpu/best.pt

Training pairs (:func:`simulate_pairs`, numpy): one source (mmabs * cie, one temperature, kT
0.5-8 keV log-uniform, abundance 0.2-1.2, z 0-0.25, column 0-2e21 cm^-2, not given) folded
through two responses of the split (different ones, or one twice in a fifth of the pairs),
Poisson counts of 3e3-1e6 each. The second observation's true response differs from the one
it carries by

* a gain slope s (XSPEC's ``gain``: a photon of energy E is detected as if it had energy s E;
  on the canonical channels, whose width is well below the resolution, that is the folded
  counts moved from channel energy c to s c, density conserved); ln s uniform in +-3 % for
  half of the pairs;
* an effective-area factor a(E) on the photon's energy: a constant (ln a0 ~ N(0, 0.07)), a
  step in one of the eight log bands (ln step uniform in +-0.15) and a smooth curve through
  knots at 0.5, 1, 2, 4, 8 keV (N(0, 0.04)), each present in some pairs (each part is drawn
  on its own, so about 29 % of the pairs have no change at all).

The targets are ln kT, abundance, z, ln s and the mean of ln a over each band's canonical
energy bins; the exposures are known (the responses carry them), so the area ratio is seen
in the counts.
"""
from __future__ import annotations

import json
import logging
import pathlib
import time

import numpy as np
import torch
from torch import nn

from sherpa_rim.rim.band import BAND_EDGES
from sherpa_rim.sim.spectra import intrinsic_spectra

from .loop import TimeCosine, merge_config, optimiser_step, pick_device
from .params import conv_trunk, gaussian_head, param_features

log = logging.getLogger("training.crossnet")

__all__ = ["PARAMS", "TARGET_SCALE", "N_SOURCE", "CrossNet", "pair_features", "simulate_pairs",
           "shift_counts", "train_crossnet", "DEFAULTS"]

PARAMS = ("log_kT", "abundance", "redshift", "ln_gain") + tuple(
    f"ln_area_{a:g}-{b:g}" for a, b in zip(BAND_EDGES[:-1], BAND_EDGES[1:]))
N_SOURCE = 3                          # the first three outputs describe the source
#: the network predicts target x TARGET_SCALE (widths of order 0.01-1 in its units)
TARGET_SCALE = np.array([1.0, 1.0, 10.0, 100.0] + [10.0] * (len(BAND_EDGES) - 1), np.float32)
KNOTS = (0.5, 1.0, 2.0, 4.0, 8.0)

DEFAULTS = {"model": {"width": 48},
            "data": {"n_train": 120000, "n_val": 6000, "seed": 31, "counts": [3e3, 1e6]},
            "optim": {"lr": 1e-3, "batch": 256, "max_steps": 40000, "max_minutes": 35.0},
            "out": "runs/crossnet_cpu"}


def shift_counts(y, s, channel_energy):
    """Folded counts ``y`` (B, C) seen with gain slope ``s`` (B,): the counts at channel energy
    c come from c / s, density conserved (1 / s); channels are uniformly spaced."""
    c = np.asarray(channel_energy, float)
    dc = c[1] - c[0]
    pos = (c[None, :] / s[:, None] - c[0]) / dc
    pos = np.clip(pos, 0.0, c.size - 1.0)
    lo = np.minimum(np.floor(pos).astype(int), c.size - 2)
    f = pos - lo
    a = np.take_along_axis(y, lo, 1)
    b = np.take_along_axis(y, lo + 1, 1)
    return (a * (1 - f) + b * f) / s[:, None]


def _area_curves(rng, n, e, p_change):
    """ln a(E) on energy centres ``e`` for n pairs, and whether each pair has any change."""
    le = np.log(e)
    changed = rng.random(n) < p_change
    ln_a = np.zeros((n, e.size))
    on = changed & (rng.random(n) < 0.5)
    ln_a[on] += rng.normal(0.0, 0.07, on.sum())[:, None]
    on = changed & (rng.random(n) < 0.4)
    k = rng.integers(len(BAND_EDGES) - 1, size=n)
    step = rng.uniform(-0.15, 0.15, n)
    inside = (e[None, :] >= np.asarray(BAND_EDGES)[k][:, None]) & \
             (e[None, :] < np.asarray(BAND_EDGES)[k + 1][:, None])
    ln_a += np.where(on[:, None] & inside, step[:, None], 0.0)
    on = changed & (rng.random(n) < 0.25)
    knots = rng.normal(0.0, 0.04, (n, len(KNOTS)))
    lk = np.log(KNOTS)
    smooth = np.array([np.interp(le, lk, v) for v in knots])
    ln_a += np.where(on[:, None], smooth, 0.0)
    return ln_a, changed


def simulate_pairs(rs, n, seed, counts=(3e3, 1e6), p_identical=0.2, p_change=0.8,
                   chunk=1024):
    """``n`` simulated pairs through the responses ``rs`` (a ResponseSet): a dict of S1, S2
    (counts), t1, t2 (exposures: the responses the network gets are t R), i, j (response
    indices), y (targets, unscaled) and ``null`` (no gain, no area change)."""
    rng = np.random.default_rng(seed)
    grid = rs.grid
    e = 0.5 * (grid.energy_lo + grid.energy_hi)
    ce = 0.5 * (grid.channel_lo + grid.channel_hi)
    kT = np.exp(rng.uniform(np.log(0.5), np.log(8.0), n))
    p = {"kT": kT, "abundance": rng.uniform(0.2, 1.2, n), "redshift": rng.uniform(0.0, 0.25, n),
         "nH": rng.uniform(0.0, 0.2, n), "norm": np.ones(n), "kT2": np.zeros(n),
         "frac2": np.zeros(n)}
    i = rng.integers(len(rs), size=n)
    j = np.where(rng.random(n) < p_identical, i,
                 (i + 1 + rng.integers(len(rs) - 1, size=n)) % len(rs))
    ln_a, changed = _area_curves(rng, n, e, p_change)
    ln_s = np.where(changed & (rng.random(n) < 0.5), rng.uniform(-0.03, 0.03, n), 0.0)
    lc = np.log(counts)
    c1 = np.exp(rng.uniform(*lc, n))
    c2 = np.where(rng.random(n) < 0.5, c1 * np.exp(rng.uniform(-0.7, 0.7, n)),
                  np.exp(rng.uniform(*lc, n)))
    out = {k: np.empty((n, grid.n_channels), np.float32) for k in ("S1", "S2")}
    t1, t2 = np.empty(n), np.empty(n)
    for s0 in range(0, n, chunk):
        sl = slice(s0, min(n, s0 + chunk))
        f = intrinsic_spectra({k: v[sl] for k, v in p.items()}, grid)
        f /= f.sum(1, keepdims=True)
        R1 = rs.matrices[i[sl]].astype(np.float64)
        R2 = rs.matrices[j[sl]].astype(np.float64)
        y1 = np.einsum("nce,ne->nc", R1, f)
        y2n = np.einsum("nce,ne->nc", R2, f)                     # nominal: sets the exposure
        y2 = shift_counts(np.einsum("nce,ne->nc", R2, f * np.exp(ln_a[sl])), np.exp(ln_s[sl]), ce)
        t1[sl] = c1[sl] / y1.sum(1)
        t2[sl] = c2[sl] / y2n.sum(1)
        out["S1"][sl] = rng.poisson(t1[sl, None] * y1)
        out["S2"][sl] = rng.poisson(t2[sl, None] * np.clip(y2, 0, None))
    bands = np.stack([ln_a[:, (e >= a) & (e < b)].mean(1)
                      for a, b in zip(BAND_EDGES[:-1], BAND_EDGES[1:])], 1)
    y = np.column_stack([np.log(kT), p["abundance"], p["redshift"], ln_s, bands]).astype(np.float32)
    null = (ln_s == 0) & np.all(ln_a == 0, axis=1)       # no part of the change was drawn
    return {**out, "t1": t1, "t2": t2, "i": i, "j": j, "y": y, "null": null, "nH": p["nH"]}


def pair_features(S1, R1, sig1, S2, R2, sig2):
    """(B, 8, E) features (each observation's back-projected spectrum, noise and area as in
    the parameter network, their difference and the energy coordinate) and (B, 3) scalars
    (log counts of each / 10 and the log ratio of their flux scales)."""
    f1, lt1, sc1 = param_features(S1, R1, sig1)
    f2, lt2, sc2 = param_features(S2, R2, sig2)
    x = torch.cat([f1[:, :3], f2[:, :3], (f2[:, 0] - f1[:, 0])[:, None], f1[:, 3:4]], 1)
    return x, torch.cat([lt1 / 10.0, lt2 / 10.0, torch.log(sc2 / sc1)], 1)


class CrossNet(nn.Module):
    def __init__(self, width=48, n_out=len(PARAMS)):
        super().__init__()
        w = width
        self.conv = conv_trunk(8, w)
        self.head = gaussian_head(2 * w * 25 + 3, n_out)
        self.n_out = n_out

    def from_features(self, x, scal):
        h = self.conv(x).flatten(1)
        out = self.head(torch.cat([h, scal], 1))
        return out[:, :self.n_out], out[:, self.n_out:].clamp(-7, 3)

    def forward(self, S1, R1, sig1, S2, R2, sig2):
        return self.from_features(*pair_features(S1, R1, sig1, S2, R2, sig2))


@torch.no_grad()
def features_of(data, rs, chunk=512):
    """Precomputed network inputs of simulated pairs (the responses times the exposures)."""
    n = data["S1"].shape[0]
    xs, ss = [], []
    for s0 in range(0, n, chunk):
        sl = slice(s0, min(n, s0 + chunk))
        t = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in (
            ("S1", data["S1"][sl]), ("S2", data["S2"][sl]),
            ("R1", rs.matrices[data["i"][sl]] * data["t1"][sl, None, None]),
            ("R2", rs.matrices[data["j"][sl]] * data["t2"][sl, None, None]))}
        sig1 = torch.sqrt(t["S1"].clamp(min=1.0))
        sig2 = torch.sqrt(t["S2"].clamp(min=1.0))
        x, sc = pair_features(t["S1"], t["R1"], sig1, t["S2"], t["R2"], sig2)
        xs.append(x)
        ss.append(sc)
    return torch.cat(xs), torch.cat(ss)


@torch.no_grad()
def calibrate(net, x, sc, y, null):
    """One width factor per output (the 68.3 % quantile of |z| on the first half of the
    validation pairs) and the metrics with those factors on the second half."""
    net.eval()
    ms, ls = [], []
    for s0 in range(0, x.shape[0], 1024):
        m, lsd = net.from_features(x[s0:s0 + 1024], sc[s0:s0 + 1024])
        ms.append(m)
        ls.append(lsd)
    m, sd = torch.cat(ms).numpy(), torch.cat(ls).exp().numpy()
    z = np.abs(y * TARGET_SCALE - m) / sd
    half = z.shape[0] // 2
    factors = np.quantile(z[:half], 0.6827, axis=0)
    m, sd, y, null = m[half:], sd[half:], y[half:], null[half:]
    zc = z[half:] / factors
    err = (m - y * TARGET_SCALE) / TARGET_SCALE
    val = {"params": list(PARAMS), "coverage68": (zc < 1.0).mean(0).tolist(),
           "coverage90": (zc < 1.6449).mean(0).tolist(),
           "median_abs_err": np.median(np.abs(err), 0).tolist(),
           "median_sd": np.median(sd * factors / TARGET_SCALE, 0).tolist(),
           "null_chi2_median": float(np.median(np.sum((m / (sd * factors))[null][:, N_SOURCE:] ** 2, 1))),
           "n_factors": int(half), "n": int(m.shape[0])}
    net.train()
    return factors.tolist(), val


def train_crossnet(cfg, base):
    from sherpa_rim.sim.responses import build_response_sets
    device = pick_device(cfg.get("device", "auto"))
    d, o = cfg["data"], cfg["optim"]
    torch.manual_seed(d["seed"])
    sets = build_response_sets(base=base)
    t0 = time.time()
    tr = simulate_pairs(sets["train"], d["n_train"], d["seed"], tuple(d["counts"]))
    va = simulate_pairs(sets["val"], d["n_val"], d["seed"] + 1, tuple(d["counts"]))
    xt, st = features_of(tr, sets["train"])
    xv, sv = features_of(va, sets["val"])
    yt = torch.as_tensor(tr["y"] * TARGET_SCALE)
    log.info("simulated %d + %d pairs and their features in %.0f s", len(yt), len(xv), time.time() - t0)
    net = CrossNet(**cfg["model"]).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=o["lr"], weight_decay=1e-5)
    sched = TimeCosine(opt, o["lr"], o["max_steps"], o["max_minutes"])
    rng = np.random.default_rng(d["seed"])
    t0 = time.time()
    step = 0
    for step in range(1, o["max_steps"] + 1):
        idx = torch.as_tensor(rng.integers(0, len(yt), o["batch"]))
        mean, logsd = net.from_features(xt[idx].to(device), st[idx].to(device))
        loss = (logsd + 0.5 * ((yt[idx].to(device) - mean) / logsd.exp()) ** 2).mean()
        if optimiser_step(net, opt, sched, loss, step, t0, o, "crossnet"):
            break
    net = net.cpu()
    calib, val = calibrate(net, xv, sv, va["y"], va["null"])
    out = pathlib.Path(cfg["out"])
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": net.state_dict(), "model_config": cfg["model"], "config": cfg,
                "step": step, "calibration": calib, "val": val}, out / "best.pt")
    return net, calib, val


def main(argv=None):
    import argparse

    from sherpa_rim.sim.responses import BaseComponents, base_components
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config")
    ap.add_argument("--base", help="base components npz (python -m training.data --base ...)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = merge_config(DEFAULTS, args.config)
    torch.set_num_threads(int(cfg.get("threads", 2)))
    base = BaseComponents.load(args.base) if args.base else base_components()
    _, calib, val = train_crossnet(cfg, base)
    print(json.dumps({"calibration": calib, "validation": val}, indent=1))


if __name__ == "__main__":
    main()
