"""The spectral SPI likelihood on a GPU (PyTorch), for the same sampler.

    lik = SpectralLikelihood(data, 700)
    glik = TorchLikelihood(lik, device="cuda")
    res = run_spi(data=data, n_particles=700, likelihood=glik, ...)

Only cstat is implemented on the GPU (wstat stays on the CPU). PyTorch is an
optional dependency (``sherpa_rim[training]`` or a CUDA build).
"""
from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError
from .likelihood import TRUNC, SpectralLikelihood, log_posterior

__all__ = ["TorchLikelihood"]


class TorchLikelihood:
    """Wraps a :class:`SpectralLikelihood`: templates on the device, cstat in torch."""

    def __init__(self, lik: SpectralLikelihood, device: str = "cuda", dtype="float64"):
        try:
            import torch
        except ImportError as exc:
            raise MissingDependencyError("the GPU likelihood needs PyTorch: pip install "
                                         "'sherpa_rim[training]' (or a CUDA build)") from exc
        if lik.data.stat != "cstat":
            raise ValueError("the GPU likelihood implements cstat only; use the CPU one for wstat")
        self.torch = torch
        self.lik = lik
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self._tpl = {}
        self.counts = torch.as_tensor(lik.data.counts, dtype=self.dtype, device=self.device)
        c = self.counts
        self._dlogd = torch.where(c > 0, c * torch.log(torch.clamp(c, min=1e-300)), torch.zeros_like(c))
        # the attributes the sampler reads
        self.P, self.ndim, self.n_global = lik.P, lik.ndim, lik.n_global
        self.global_names, self.fixed = lik.global_names, lik.fixed

    def __getattr__(self, name):          # kT_range, log_prior, blobs, split...
        return getattr(self.lik, name)

    @property
    def logL_range(self):
        return self.lik.logL_range

    @logL_range.setter
    def logL_range(self, value):          # the sampler sets the prior range on the wrapped one
        self.lik.logL_range = value

    def _templates(self, z, nh):
        key = (round(float(z), 6), round(float(nh), 6))
        if key not in self._tpl:
            t = self.lik.folded(*key)
            T = self.torch
            self._tpl[key] = (T.as_tensor(t.log_kT, dtype=self.dtype, device=self.device),
                              T.as_tensor(t.light, dtype=self.dtype, device=self.device),
                              T.as_tensor(t.metal, dtype=self.dtype, device=self.device))
        return self._tpl[key]

    def stat(self, X):
        T = self.torch
        X = np.atleast_2d(X)
        g, lkT, Z, lL = self.lik.split(X)
        if self.n_global:
            rows = {tuple(r) for r in np.round(g, 8)}
            if len(rows) > 1:                   # several global values: one group at a time
                out = np.empty(X.shape[0])
                for key in rows:
                    sel = np.all(np.round(g, 8) == np.asarray(key), axis=1)
                    out[sel] = self.stat(X[sel])
                return out
            gv = self.lik.globals_of(next(iter(rows)))
        else:
            gv = self.fixed
        nodes, light, metal = self._templates(gv["redshift"], gv["nH"])
        lk = T.as_tensor(lkT, dtype=self.dtype, device=self.device)
        z = T.as_tensor(Z, dtype=self.dtype, device=self.device)
        L = T.pow(10.0, T.as_tensor(lL, dtype=self.dtype, device=self.device))
        K = nodes.numel()
        step = nodes[1] - nodes[0]
        pos = (T.clamp(lk, nodes[0], nodes[-1]) - nodes[0]) / step
        i = T.clamp(T.floor(pos).long(), 0, K - 2)
        w = pos - i
        B = lk.shape[0]
        cl = T.zeros(B, K, dtype=self.dtype, device=self.device)
        cm = T.zeros_like(cl)
        cl.scatter_add_(1, i, L * (1 - w))
        cl.scatter_add_(1, i + 1, L * w)
        cm.scatter_add_(1, i, L * z * (1 - w))
        cm.scatter_add_(1, i + 1, L * z * w)
        mu = cl @ light + cm @ metal
        mu = T.where(mu > 0, mu, T.full_like(mu, TRUNC))
        c = self.counts
        st = 2.0 * (mu - c - c * T.log(mu) + self._dlogd).sum(1)
        return st.cpu().numpy()

    def __call__(self, X):
        return log_posterior(self, X)
