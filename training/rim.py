"""The Recurrent Inference Machine for X-ray spectra (PyTorch).

F_{t+1} = F_t + g(F_t, grad log p(S | F_t), h_t) in log space: F = scale x exp(x),
with ``scale`` the flat-spectrum level that reproduces the total counts. The
network g is a small U-net of convolutional GRUs along the energy axis (one hidden
state per energy bin and level), after Putzky & Welling (2017) and Morningstar
et al. (2019). The Gaussian log-likelihood gradient

    d/dx log p = F * R^T ((S - R F) / sigma^2)

is computed inside the module (and so inside the exported ONNX graph) from the
inputs S (B, C), R (B, C, E) and sigma (B, C); the T steps are unrolled.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as Fn

LOG_FLOOR = math.log(1e-4)     # targets below 1e-4 of the flat level carry no counts


@dataclass
class RIMConfig:
    n_energy: int = 200
    n_channels: int = 332
    c1: int = 32
    c2: int = 64
    kernel: int = 5
    steps: int = 8

    def to_dict(self):
        return asdict(self)


class ConvGRU(nn.Module):
    """A GRU whose gates are 1-D convolutions: a hidden state per energy bin."""

    def __init__(self, cin: int, ch: int, k: int):
        super().__init__()
        self.gates = nn.Conv1d(cin + ch, 2 * ch, k, padding=k // 2)
        self.cand = nn.Conv1d(cin + ch, ch, k, padding=k // 2)

    def forward(self, x, h):
        zr = torch.sigmoid(self.gates(torch.cat([x, h], 1)))
        z, r = zr.chunk(2, 1)
        n = torch.tanh(self.cand(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * n


class RIMCell(nn.Module):
    """g: inputs (x, preprocessed gradient, log area, log energy) -> dx."""

    n_in = 4

    def __init__(self, cfg: RIMConfig):
        super().__init__()
        c1, c2, k = cfg.c1, cfg.c2, cfg.kernel
        self.enc = nn.Conv1d(self.n_in, c1, k, padding=k // 2)
        self.gru1 = ConvGRU(c1, c1, k)
        self.down = nn.Conv1d(c1, c2, 4, stride=2, padding=1)
        self.gru2 = ConvGRU(c2, c2, k)
        self.up = nn.ConvTranspose1d(c2, c1, 4, stride=2, padding=1)
        self.dec = nn.Conv1d(2 * c1, c1, k, padding=k // 2)
        self.out = nn.Conv1d(c1, 1, k, padding=k // 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, inp, h1, h2):
        a = Fn.gelu(self.enc(inp))
        h1 = self.gru1(a, h1)
        b = Fn.gelu(self.down(h1))
        h2 = self.gru2(b, h2)
        u = Fn.gelu(self.up(h2))
        d = Fn.gelu(self.dec(torch.cat([h1, u], 1)))
        return self.out(d)[:, 0], h1, h2


class RIM(nn.Module):
    def __init__(self, cfg: RIMConfig):
        super().__init__()
        self.cfg = cfg
        self.cell = RIMCell(cfg)
        e = torch.linspace(-1.0, 1.0, cfg.n_energy)
        self.register_buffer("ecoord", e)

    @staticmethod
    def prepare(S, R, sigma):
        """Scale, initial estimate and fixed inputs shared by all steps."""
        eff = R.sum(1)                                             # (B, E) cm^2
        tot = S.clamp(min=0).sum(1, keepdim=True)
        scale = (tot / eff.sum(1, keepdim=True)).clamp(min=1e-30)  # flat level (B, 1)
        back = torch.einsum("bce,bc->be", R, S.clamp(min=0))
        # clamp rather than add an epsilon: ONNX Runtime's fused einsum returns exact zeros in
        # energy bins without effective area, where "+ 1e-30" was lost (0/0 = NaN)
        norm = torch.einsum("bce,bc->be", R, R.sum(2)).clamp(min=1e-20)
        f0 = back / norm                                           # one RL step from flat
        x0 = torch.log((f0 / scale).clamp(min=1e-4))
        larea = torch.log((eff / eff.mean(1, keepdim=True)).clamp(min=1e-6))
        return scale, x0, larea

    def grad(self, x, scale, S, R, sigma):
        F = scale * torch.exp(x)
        m = torch.einsum("bce,be->bc", R, F)
        r = (S - m) / (sigma * sigma)
        g = torch.einsum("bce,bc->be", R, r) * F                   # d log p / d x
        s = g.abs().mean(1, keepdim=True) + 1e-12
        return torch.asinh(g / s)

    def forward(self, S, R, sigma):
        """Returns the list of log estimates x_1..x_T and the scale (F = scale exp(x))."""
        B = S.shape[0]
        scale, x, larea = self.prepare(S, R, sigma)
        h1 = S.new_zeros(B, self.cfg.c1, self.cfg.n_energy)
        h2 = S.new_zeros(B, self.cfg.c2, self.cfg.n_energy // 2)
        ecoord = self.ecoord.expand(B, -1)
        xs = []
        for _ in range(self.cfg.steps):
            g = self.grad(x, scale, S, R, sigma)
            inp = torch.stack([x, g, larea, ecoord], 1)
            dx, h1, h2 = self.cell(inp, h1, h2)
            x = x + dx
            xs.append(x)
        return xs, scale


class RIMExport(nn.Module):
    """What the ONNX graph computes: F (B, E) = scale exp(x_T), and x_T."""

    def __init__(self, rim: RIM):
        super().__init__()
        self.rim = rim

    def forward(self, S, R, sigma):
        xs, scale = self.rim(S, R, sigma)
        return scale * torch.exp(xs[-1]), xs[-1]


def rim_loss(xs, scale, F_true, weights=None, band=None, lin_weight=1.0):
    """Mean over the T steps of: the MSE in log space (targets floored at 1e-4 of the flat
    level, bins weighted by sqrt of their flux so that the bright bins that carry the counts
    dominate), plus ``lin_weight`` x the squared relative L2 error of F in ``band``."""
    ratio = (F_true / scale).clamp(min=1e-4)
    target = torch.log(ratio)
    w = ratio.sqrt()
    w = w / w.mean(1, keepdim=True)
    if weights is not None:
        w = w * weights
    loss = 0.0
    for x in xs:
        xc = LOG_FLOOR + Fn.softplus(x - LOG_FLOOR)                # no penalty below the floor
        loss = loss + ((xc - target) ** 2 * w).mean()
        if lin_weight and band is not None:
            F = scale * torch.exp(x.clamp(max=30.0))
            num = ((F - F_true)[:, band] ** 2).sum(1)
            den = (F_true[:, band] ** 2).sum(1).clamp(min=1e-30)
            loss = loss + lin_weight * (num / den).clamp(max=10.0).mean()
    return loss / len(xs)
