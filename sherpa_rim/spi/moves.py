"""emcee moves for SPI's kilo-parametric, label-switching posterior.

:class:`ParticleSweepMove` is one SPI iteration in emcee's ``Move`` API: a
local pass (Metropolis updates of blocks of particles, each block a vectorised
proposal for all walkers) followed by a global pass (the thawed global
parameters, and a common rescaling of all luminosities). Step sizes adapt
towards a 30 % acceptance while ``adapt`` is on (burn-in only: adaptation
would otherwise break detailed balance).

Label switching (particles exchanging identities) is harmless: every quantity
reported is invariant under relabelling (emission measure per temperature bin,
emission-weighted kT, fractions per band).
"""
from __future__ import annotations

import numpy as np
from emcee.moves.move import Move
from emcee.state import State

__all__ = ["ParticleSweepMove"]


class ParticleSweepMove(Move):
    def __init__(self, n_global: int, n_particles: int, block: int = 10,
                 scales=(0.15, 0.15, 0.15), global_scale=0.01, adapt: bool = True,
                 target: float = 0.3):
        self.n_global = n_global
        self.P = n_particles
        self.block = max(1, min(block, n_particles))
        self.scales = np.asarray(scales, float)        # ln kT, Z, log10 L
        self.global_scale = np.full(max(n_global, 1), float(global_scale))
        self.lum_scale = 0.02
        self.adapt = adapt
        self.target = target
        self.acc_local = []
        self.acc_global = []

    def _mh(self, model, state, q, factors=0.0):
        lp, blobs = model.compute_log_prob_fn(q)
        diff = lp - state.log_prob + factors
        acc = np.log(model.random.rand(q.shape[0])) < diff
        new = State(q, log_prob=lp, blobs=blobs)
        return self.update(state, new, acc), acc

    def propose(self, model, state):
        nw, ndim = state.coords.shape
        rnd = model.random
        order = rnd.permutation(self.P)
        acc_all = np.zeros(nw, bool)
        accs = []
        # local pass: blocks of particles
        for s in range(0, self.P, self.block):
            idx = order[s:s + self.block]
            q = state.coords.copy()
            cols = self.n_global + 3 * idx[:, None] + np.arange(3)[None, :]
            q[:, cols] += rnd.randn(nw, idx.size, 3) * self.scales[None, None, :]
            state, acc = self._mh(model, state, q)
            acc_all |= acc
            accs.append(acc.mean())
        loc = float(np.mean(accs))
        self.acc_local.append(loc)
        # global pass
        gacc = []
        if self.n_global:
            q = state.coords.copy()
            q[:, :self.n_global] += rnd.randn(nw, self.n_global) * self.global_scale[None, :self.n_global]
            state, acc = self._mh(model, state, q)
            gacc.append(acc.mean())
            acc_all |= acc
        # common luminosity rescaling (log10 L of every particle shifted together)
        q = state.coords.copy()
        shift = rnd.randn(nw) * self.lum_scale
        q[:, self.n_global + 2::3] += shift[:, None]
        state, acc = self._mh(model, state, q)
        gacc.append(acc.mean())
        acc_all |= acc
        self.acc_global.append(float(np.mean(gacc)))
        if self.adapt:
            f = np.exp(0.5 * (loc - self.target))
            self.scales *= f
            g = np.exp(0.5 * (self.acc_global[-1] - self.target))
            self.global_scale *= g
            self.lum_scale *= g
        return state, acc_all
