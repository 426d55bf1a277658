"""Running spectral SPI with emcee: several independent ensembles, an HDF5
backend that resumes without losing samples, and convergence diagnostics.

    res = run_spi(id=1, n_particles=300, n_steps=1000, out="run.h5")
    print(res.report())
"""
from __future__ import annotations

import logging
import pathlib
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..errors import DataError
from ..observation import find_component
from .likelihood import SpectralData, SpectralLikelihood
from .moves import ParticleSweepMove

log = logging.getLogger(__name__)

__all__ = ["run_spi", "SPIResult", "rhat", "isothermal_start"]


def isothermal_start(lik: SpectralLikelihood):
    """Best isothermal (kT node, Z) and emission measure for the data: a starting point."""
    tpl = lik.folded(lik.fixed["redshift"], lik.fixed["nH"])
    d = lik.data.counts
    best = (np.inf, 1.0, 0.5, 1.0)
    for k, lk in enumerate(tpl.log_kT):
        for Z in (0.2, 0.4, 0.7, 1.0):
            m = tpl.light[k] + Z * tpl.metal[k]
            em = d.sum() / max(m.sum(), 1e-300)
            s = float(lik.data.statistic(em * m))
            if s < best[0]:
                best = (s, float(np.exp(lk)), Z, em)
    return best[1], best[2], best[3]


def rhat(chains: List[np.ndarray]) -> float:
    """Gelman-Rubin potential scale reduction of a scalar over independent chains."""
    chains = [np.asarray(c, float).ravel() for c in chains]
    n = min(c.size for c in chains)
    if n < 4 or len(chains) < 2:
        return np.nan
    c = np.stack([x[-n:] for x in chains])
    means = c.mean(axis=1)
    W = c.var(axis=1, ddof=1).mean()
    B = n * means.var(ddof=1)
    var = (n - 1) / n * W + B / n
    return float(np.sqrt(var / W)) if W > 0 else np.nan


@dataclass
class SPIResult:
    blob_names: List[str]
    blobs: List[np.ndarray]            # per ensemble: (steps after burn, walkers, n_blobs)
    chains: List[np.ndarray]           # per ensemble: (steps after burn, walkers, ndim)
    tau: Dict[str, float]
    rhat: Dict[str, float]
    n_particles: int
    n_steps: int
    burn: int
    seconds: float
    out: Optional[str] = None
    acceptance_local: float = np.nan
    global_names: List[str] = field(default_factory=list)

    def samples(self, name):
        j = self.blob_names.index(name)
        return np.concatenate([b[..., j].ravel() for b in self.blobs])

    def kT_ew(self):
        s = self.samples("kT_ew")
        return float(np.median(s)), float(np.percentile(s, 15.87)), float(np.percentile(s, 84.13))

    def em_fractions(self):
        out = {}
        for n in self.blob_names:
            if n.startswith("frac_"):
                s = self.samples(n)
                out[n[5:]] = (float(np.median(s)), float(np.percentile(s, 15.87)),
                              float(np.percentile(s, 84.13)))
        return out

    def particle_distribution(self, bins=None):
        """Posterior emission-measure distribution over ln kT from the particle samples."""
        bins = np.linspace(np.log(0.08), np.log(16.0), 41) if bins is None else bins
        h = np.zeros(bins.size - 1)
        P = self.n_particles
        ng = len(self.global_names)
        for ch in self.chains:
            p = ch[..., ng:].reshape(-1, P, 3)
            h += np.histogram(p[..., 0].ravel(), bins=bins, weights=(10.0 ** p[..., 2]).ravel())[0]
        return bins, h / max(h.sum(), 1e-300)

    def converged(self, rhat_max=1.1, min_tau_ratio=20.0) -> Optional[bool]:
        """True / False, or None when convergence cannot be assessed: R-hat needs at least two
        independent ensembles, and every R-hat and autocorrelation time must be finite."""
        if len(self.blobs) < 2 or not self.rhat or not all(
                np.isfinite(v) for v in list(self.rhat.values()) + list(self.tau.values())):
            return None
        n = self.n_steps - self.burn
        return all(v < rhat_max for v in self.rhat.values()) and all(
            n / max(t, 1e-9) > min_tau_ratio for t in self.tau.values())

    def report(self) -> str:
        kt, lo, hi = self.kT_ew()
        lines = [f"SPI: {self.n_particles} particles, {len(self.blobs)} ensembles x "
                 f"{self.blobs[0].shape[1]} walkers, {self.n_steps} sweeps ({self.burn} burn-in), "
                 f"{self.seconds:.1f} s",
                 f"emission-weighted kT = {kt:.3f} keV  (68 %: {lo:.3f} - {hi:.3f})",
                 "emission measure per temperature bin (keV): median [16, 84 %]"]
        for k, (m, a, b) in self.em_fractions().items():
            lines.append(f"  {k:>9s}: {m:6.3f} [{a:6.3f}, {b:6.3f}]")
        lines.append("convergence: " + ", ".join(
            f"{k}: tau={self.tau[k]:.1f} R-hat={self.rhat[k]:.3f}" for k in self.tau))
        verdict = self.converged()
        if verdict is None:
            lines.append("convergence NOT ASSESSED: R-hat needs at least 2 ensembles and chains "
                         "long enough for finite R-hat and tau; run more ensembles or sweeps")
        else:
            lines.append("converged" if verdict else "NOT converged (R-hat >= 1.1 or run < 20 "
                         "tau): run longer (resume with the same --out)")
        return "\n".join(lines)


def _initial(lik: SpectralLikelihood, nwalkers, rng, start=None):
    kT0, Z0, em0 = isothermal_start(lik) if start is None else start
    P = lik.P
    X = np.empty((nwalkers, lik.ndim))
    for j, name in enumerate(lik.global_names):
        X[:, j] = lik.fixed[name] + rng.normal(0, 1e-3, nwalkers)
        X[:, j] = np.abs(X[:, j])
    lkT = np.log(kT0) + rng.normal(0, 0.3, (nwalkers, P))
    lkT = np.clip(lkT, np.log(lik.kT_range[0]) + 1e-3, np.log(lik.kT_range[1]) - 1e-3)
    Z = np.clip(Z0 + rng.normal(0, 0.05, (nwalkers, P)), lik.Z_range[0] + 1e-3, lik.Z_range[1] - 1e-3)
    lL = np.log10(em0 / P) + rng.normal(0, 0.1, (nwalkers, P))
    p = np.stack([lkT, Z, lL], axis=-1).reshape(nwalkers, 3 * P)
    X[:, lik.n_global:] = p
    # the luminosity prior range follows the data's emission measure
    lik.logL_range = (np.log10(em0 / P) - 4.0, np.log10(em0) + 1.0)
    return X, (kT0, Z0, em0)


def run_spi(id=1, n_particles: int = 100, n_steps: int = 500, n_walkers: int = 16,
            n_ensembles: int = 4, burn: Optional[int] = None, out=None, seed: int = 0,
            progress: bool = False, data: Optional[SpectralData] = None,
            free_globals=(), redshift: Optional[float] = None, nH: Optional[float] = None,
            block: int = 10, beta: float = 1.0, likelihood=None) -> SPIResult:
    """Sample the SPI posterior for a data set (or ``data``).

    ``redshift`` and ``nH`` default to the session's ``spi`` component values when
    it has one (else 0); ``free_globals`` names the ones to sample. With ``out``
    an HDF5 file keeps every ensemble's chain; running again with the same file
    continues from where it stopped (no sample is lost or repeated).
    ``beta`` tempers the likelihood (thermodynamic integration). ``likelihood`` replaces
    the default CPU likelihood (e.g. :class:`sherpa_rim.spi.gpu.TorchLikelihood`).
    """
    import emcee

    for what, v, lo in (("n_particles", n_particles, 1), ("n_steps", n_steps, 1),
                        ("n_walkers", n_walkers, 2), ("n_ensembles", n_ensembles, 1)):
        if int(v) < lo:
            raise ValueError(f"{what} = {v}: it must be at least {lo}")
    data = SpectralData.from_session(id) if data is None else data
    z0, nh0 = _session_globals(id) if data.id is not None else (0.0, 0.0)
    z0 = z0 if redshift is None else redshift
    nh0 = nh0 if nH is None else nH
    lik = (SpectralLikelihood(data, n_particles, z0, nh0, free_globals=free_globals)
           if likelihood is None else likelihood)
    burn = n_steps // 4 if burn is None else burn
    rng = np.random.default_rng(seed)
    X0, start = _initial(lik, n_walkers, rng)

    def logp(X):
        lp, bl = lik(X)
        if beta != 1.0:
            lp = np.where(np.isfinite(lp), beta * (lp - lik.log_prior(X)) + lik.log_prior(X), lp)
        # emcee's vectorised interface: one (log_prob, blob) pair per walker
        return list(zip(lp, bl))

    if out is not None:
        _claim(out, _fingerprint(lik, n_walkers))
    t0 = time.perf_counter()
    blobs, chains, accs = [], [], []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=n_ensembles * n_steps, desc="SPI", unit="sweep")
    with _StopOnInterrupt() as stop:
        for e in range(n_ensembles):
            move = ParticleSweepMove(lik.n_global, lik.P, block=block)
            backend = None
            done = 0
            if out is not None:
                backend = emcee.backends.HDFBackend(str(out), name=f"ensemble{e}")
                try:
                    done = backend.iteration
                except (OSError, KeyError, AttributeError):
                    done = 0
                if done == 0:
                    backend.reset(n_walkers, lik.ndim)
            sampler = emcee.EnsembleSampler(n_walkers, lik.ndim, logp, moves=move, vectorize=True,
                                            backend=backend)
            # a reproducible stream per ensemble (and per resume point)
            sampler.random_state = np.random.RandomState(seed * 1000 + e + 7919 * done).get_state()
            if done == 0:
                Xe, _ = _initial(lik, n_walkers, rng, start)
                init = Xe
            else:
                init = None
                _restore_scales(out, e, move)
                lik.logL_range = (np.log10(start[2] / lik.P) - 4.0, np.log10(start[2]) + 1.0)
            if bar is not None:
                bar.update(min(done, n_steps))
            # sweeps in blocks: adaptation only inside the burn-in, the adapted step sizes
            # saved as soon as the burn-in ends (a run resumed later moves as well as this one),
            # and an interrupt honoured between blocks (the file stays consistent)
            while done < n_steps:
                if stop.requested:
                    if out is not None:
                        _save_scales(out, e, move)
                    raise KeyboardInterrupt(
                        f"SPI interrupted after {done} of {n_steps} sweeps of ensemble {e}"
                        + (f"; run the same command again to resume from {out}" if out else ""))
                move.adapt = done < burn
                end = min(n_steps, burn if done < burn else n_steps, done + BLOCK_SWEEPS)
                sampler.run_mcmc(init, end - done, progress=False, skip_initial_state_check=True)
                init = None
                if bar is not None:
                    bar.update(end - done)
                done = end
                if out is not None and (done == burn or done == n_steps):
                    _save_scales(out, e, move)
            ch = sampler.get_chain()
            bl = sampler.get_blobs()
            chains.append(ch[burn:])
            blobs.append(np.asarray(bl)[burn:])
            accs.append(np.mean(move.acc_local) if move.acc_local else np.nan)
    if bar is not None:
        bar.close()
    secs = time.perf_counter() - t0
    names = SpectralLikelihood.blob_names()
    tau, rh = {}, {}
    from emcee.autocorr import integrated_time
    quiet = logging.getLogger("emcee.autocorr")          # we report tau with our own verdict
    level, quiet.level = quiet.level, logging.ERROR
    try:
        for k in ("kT_ew", "log10_EM"):
            j = names.index(k)
            series = [b[..., j] for b in blobs]
            try:
                tau[k] = float(np.mean([integrated_time(s, quiet=True)[0] for s in series]))
            except Exception:     # noqa: BLE001 - too short a chain
                tau[k] = np.nan
            rh[k] = rhat([s for s in series])
    finally:
        quiet.level = level
    res = SPIResult(names, blobs, chains, tau, rh, lik.P, n_steps, burn, secs,
                    None if out is None else str(out), float(np.nanmean(accs)), lik.global_names)
    log.info("\n%s", res.report())
    return res


def _session_globals(id):
    """(redshift, nH) of the data set's ``spi`` component, or (0, 0) without one."""
    from sherpa.astro import ui
    from sherpa.utils.err import IdentifierErr, ModelErr

    try:
        src = ui.get_source(id)
    except (IdentifierErr, ModelErr):
        return 0.0, 0.0
    m = find_component(src, lambda c: type(c).__name__.lower() == "spi")
    return (0.0, 0.0) if m is None else (float(m.redshift.val), float(m.nH.val))


BLOCK_SWEEPS = 10          # sweeps between interrupt checks


class _StopOnInterrupt:
    """Ctrl-C (SIGINT) asks the sampler to stop at the end of the current block of sweeps,
    so that no HDF5 write is cut in half (a second Ctrl-C stops at once)."""

    def __enter__(self):
        import signal
        self.requested = False
        try:
            self._old = signal.signal(signal.SIGINT, self._handler)
        except ValueError:          # not the main thread: no handler, the default applies
            self._old = None
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt("SPI interrupted")
        self.requested = True
        log.warning("interrupt: the SPI run stops after the current block of sweeps "
                    "(Ctrl-C again to stop at once)")

    def __exit__(self, *exc):
        import signal
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def _fingerprint(lik, n_walkers) -> dict:
    """What an SPI run file belongs to: the data (counts, filter and grouping as folded into
    the response matrix, background), the statistic and the sampler's sizes and fixed values."""
    import hashlib
    import json
    d = lik.data
    h = hashlib.sha256()
    for a in (d.counts, d.matrix, d.energy_lo, d.bkg_counts, d.exp_src, d.exp_bkg, d.backscale_ratio):
        h.update(b"-" if a is None else np.ascontiguousarray(np.asarray(a, float)).tobytes())
    settings = {"stat": d.stat, "particles": int(lik.P), "walkers": int(n_walkers),
                "fixed": {k: round(float(v), 10) for k, v in lik.fixed.items()},
                "free_globals": list(lik.global_names), "kT_range": list(lik.kT_range),
                "Z_range": list(lik.Z_range)}
    h.update(json.dumps(settings, sort_keys=True).encode())
    return {"digest": h.hexdigest(), "settings": json.dumps(settings, sort_keys=True),
            "n_groups": int(d.counts.size), "counts": float(d.counts.sum())}


def _claim(path, fp):
    """Refuse to resume an SPI file that holds chains of other data or settings."""
    import h5py
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise DataError(f"--out {path}: the folder {path.parent} does not exist; create it first")
    if path.exists():
        try:
            with h5py.File(path, "r") as f:
                have = dict(f.attrs)
                groups = [k for k in f.keys() if k.startswith("ensemble")]
        except OSError as exc:
            raise DataError(f"{path} exists and is not an SPI run file ({exc}); give another --out "
                            "or delete it") from exc
        if groups:
            old = have.get("sherpa_rim_fingerprint")
            if old is None or str(old) != fp["digest"]:
                raise DataError(
                    f"{path} holds SPI chains of other data or settings (run on "
                    f"{have.get('sherpa_rim_counts', '?')} counts in {have.get('sherpa_rim_groups', '?')} "
                    f"groups with {have.get('sherpa_rim_settings', '?')}; this run: {fp['counts']:.0f} "
                    f"counts in {fp['n_groups']} groups with {fp['settings']}): resuming would "
                    "report their answer; give another --out, or delete the file to start afresh")
            return
    with h5py.File(path, "a") as f:
        f.attrs["sherpa_rim_fingerprint"] = fp["digest"]
        f.attrs["sherpa_rim_settings"] = fp["settings"]
        f.attrs["sherpa_rim_groups"] = fp["n_groups"]
        f.attrs["sherpa_rim_counts"] = fp["counts"]


def _save_scales(path, e, move):
    import h5py
    with h5py.File(path, "a") as f:
        g = f[f"ensemble{e}"]
        g.attrs["spi_scales"] = move.scales
        g.attrs["spi_global_scale"] = move.global_scale
        g.attrs["spi_lum_scale"] = move.lum_scale


def _restore_scales(path, e, move):
    import h5py
    with h5py.File(path, "r") as f:
        g = f[f"ensemble{e}"]
        if "spi_scales" in g.attrs:
            move.scales = np.asarray(g.attrs["spi_scales"], float)
            move.global_scale = np.asarray(g.attrs["spi_global_scale"], float)
            move.lum_scale = float(g.attrs["spi_lum_scale"])
