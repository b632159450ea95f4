"""The metric physics of the synthetic generator (private).

Everything is an array of shape ``(n_services, steps)``; the only Python loops
are over nodes (inside :mod:`._propagate`), never over time.

Model, per service ``v`` and step ``t``:

* traffic enters at the entry points (with slow AR(1) drift and optional
  daily seasonality) and flows down the calls: ``req[v] = sum_u w[u,v] req[u]``;
* CPU utilisation grows with load, ``rho = idle + load * req / mean_req``, and
  a service's own work slows like an M/M/1 queue, ``1 / (1 - rho)``;
* own work has log-normal noise and rare heavy-tailed (Pareto) spikes;
* latency (ms) propagates up: ``lat[v] = own[v] + sum_u w[v,u] lat[u]``,
  optionally several steps late on lagged edges;
* errors propagate up in ``log(1 - e)`` space with a pass-through share per
  edge (the rest is retried or handled);
* what is *observed* is a mean over the step's requests: latency and error
  rate carry sampling noise that shrinks with traffic (heteroscedastic),
  request rates carry Poisson noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from rca.evaluation.datasets.synthetic._propagate import PropagationPlan
from rca.evaluation.datasets.synthetic._topology import SynthTopology
from topology import NodeKind

METRICS = ("latency", "error_rate", "requests", "cpu", "memory")
_RHO_MAX = 0.98


@dataclass(frozen=True)
class NodeParams:
    """Per-service constants, arrays of shape ``(n,)``."""

    own_latency: np.ndarray  # ms of own work per request at baseline load
    base_error: np.ndarray  # own error rate
    entry_traffic: np.ndarray  # external req/s (0 except at entry points)
    cpu_idle: np.ndarray
    cpu_load: np.ndarray  # utilisation added by the mean load
    memory: np.ndarray  # MB
    lat_sigma: np.ndarray  # log-sd of own-work noise


@dataclass(frozen=True)
class Plans:
    """Propagation plans for one graph."""

    latency: PropagationPlan  # up, weight
    errors: PropagationPlan  # up, err
    traffic: PropagationPlan  # down, weight (also latency influence)
    error_influence: PropagationPlan  # down, err


@dataclass(frozen=True)
class Noise:
    """Pre-drawn random parts, so two runs (with and without the fault) share them."""

    own: np.ndarray
    spikes: np.ndarray
    traffic: np.ndarray
    local: np.ndarray
    err_own: np.ndarray
    obs_lat: np.ndarray
    obs_cpu: np.ndarray
    counts: np.random.SeedSequence  # for binomial / Poisson counting noise
    scale: float
    mem: np.ndarray


@dataclass
class Effects:
    """What the injected faults change; all ``(n, T)``, neutral by default."""

    n: int
    steps: int
    lat_add: np.ndarray = field(init=False)  # ms added to own work
    lat_mult: np.ndarray = field(init=False)  # factor on own work
    cpu_add: np.ndarray = field(init=False)  # utilisation added
    err_log: np.ndarray = field(init=False)  # added to log(1 - own error rate), <= 0
    mem_add: np.ndarray = field(init=False)  # MB added

    def __post_init__(self) -> None:
        shape = (self.n, self.steps)
        self.lat_add = np.zeros(shape)
        self.lat_mult = np.ones(shape)
        self.cpu_add = np.zeros(shape)
        self.err_log = np.zeros(shape)
        self.mem_add = np.zeros(shape)


def draw_params(topo: SynthTopology, rng: np.random.Generator, noise: float) -> NodeParams:
    """Draw per-service constants."""
    n = topo.n
    is_db = np.array([k is NodeKind.DATABASE for k in topo.kinds])
    is_entry = np.zeros(n, dtype=bool)
    is_entry[list(topo.entries)] = True
    median = np.where(is_db, 3.0, np.where(is_entry, 12.0, 8.0))
    own = median * rng.lognormal(0.0, 0.6, size=n)
    base_error = np.exp(rng.uniform(np.log(1e-4), np.log(3e-3), size=n)) * np.where(is_db, 0.3, 1.0)
    total = float(np.exp(rng.uniform(np.log(50.0), np.log(500.0))))
    share = rng.dirichlet(np.full(int(is_entry.sum()), 2.0))
    entry_traffic = np.zeros(n)
    entry_traffic[is_entry] = total * share
    return NodeParams(
        own_latency=own,
        base_error=base_error,
        entry_traffic=entry_traffic,
        cpu_idle=rng.uniform(0.02, 0.10, size=n),
        cpu_load=rng.uniform(0.10, 0.40, size=n),
        memory=np.exp(rng.uniform(np.log(128.0), np.log(4096.0), size=n)),
        lat_sigma=rng.uniform(0.03, 0.10, size=n) * noise,
    )


def _ar1(z: np.ndarray, phi: float) -> np.ndarray:
    """Stationary unit-variance AR(1) along the time axis (vectorized filter)."""
    return lfilter([np.sqrt(1.0 - phi**2)], [1.0, -phi], z, axis=1)


def draw_noise(n: int, steps: int, rng: np.random.Generator, noise: float) -> Noise:
    """Draw all the noise of one case; ``noise`` scales every amplitude (0 = none)."""
    shape = (n, steps)
    spike_mask = rng.random(shape) < 0.002 * noise
    spikes = np.where(spike_mask, 0.5 + rng.pareto(1.8, size=shape), 0.0)
    return Noise(
        own=rng.standard_normal(shape),
        spikes=spikes,
        traffic=_ar1(rng.standard_normal(shape), 0.9) * 0.05 * noise,
        local=rng.standard_normal(shape) * 0.02 * noise,
        err_own=rng.standard_normal(shape) * 0.3 * noise,
        obs_lat=rng.standard_normal(shape) * noise,
        obs_cpu=rng.standard_normal(shape) * 0.01 * noise,
        counts=np.random.SeedSequence(int(rng.integers(2**63))),
        scale=noise,
        mem=_ar1(rng.standard_normal(shape), 0.95) * 0.01 * noise,
    )


def seasonal_factor(
    start_seconds_of_day: float, steps: int, step_seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """Daily traffic cycle, peaking in the afternoon, amplitude 20-40 %."""
    amp = rng.uniform(0.2, 0.4)
    t = start_seconds_of_day + np.arange(steps) * step_seconds
    return 1.0 + amp * np.sin(2.0 * np.pi * (t / 86400.0 - 14.0 / 24.0 + 0.25))


def baseline_traffic(plans: Plans, params: NodeParams) -> np.ndarray:
    """Mean request rate of every service without noise, shape ``(n,)``."""
    return plans.traffic.run(params.entry_traffic[:, None])[:, 0]


def simulate(
    plans: Plans,
    params: NodeParams,
    noise: Noise,
    effects: Effects,
    *,
    season: np.ndarray,
    step_seconds: float,
) -> dict[str, np.ndarray]:
    """Observed metrics, ``{metric: (n, T)}``."""
    mean_req = np.maximum(baseline_traffic(plans, params), 1e-6)
    ext = params.entry_traffic[:, None] * season[None, :] * np.exp(noise.traffic)
    req = plans.traffic.run(ext) * (1.0 + noise.local)
    req = np.maximum(req, 0.0)

    rho0 = params.cpu_idle + params.cpu_load
    rho = params.cpu_idle[:, None] + params.cpu_load[:, None] * req / mean_req[:, None]
    rho = rho + effects.cpu_add
    queue = (1.0 - rho0)[:, None] / (1.0 - np.clip(rho, 0.0, _RHO_MAX))

    sig = params.lat_sigma[:, None]
    own = params.own_latency[:, None] * queue * effects.lat_mult
    own = own * np.exp(sig * noise.own - 0.5 * sig**2) * (1.0 + noise.spikes)
    own = own + effects.lat_add
    lat = plans.latency.run(own)

    own_err = np.clip(params.base_error[:, None] * np.exp(noise.err_own), 0.0, 0.5)
    log_ok = plans.errors.run(np.log1p(-own_err) + effects.err_log)
    err = -np.expm1(log_ok)

    # Counting noise: requests are Poisson, failed requests binomial.  A
    # fresh generator from the same seed in every run keeps the draws aligned
    # between the fault-free and the faulty run.
    rng = np.random.default_rng(noise.counts)
    n_req = rng.poisson(req * step_seconds)
    count = np.maximum(n_req, 1)
    n_err = rng.binomial(count, np.clip(err, 0.0, 1.0))
    lat_obs = lat * np.maximum(1.0 + noise.obs_lat / np.sqrt(count), 0.1)
    err_obs = np.clip(err + noise.scale * (n_err / count - err), 0.0, 1.0)
    req_obs = np.maximum(req + noise.scale * (n_req / step_seconds - req), 0.0)
    cpu_obs = np.clip(rho + noise.obs_cpu, 0.0, 1.0)
    mem = params.memory[:, None] * (1.0 + noise.mem + 0.05 * (req / mean_req[:, None] - 1.0))
    mem = mem + effects.mem_add
    return {"latency": lat_obs, "error_rate": err_obs, "requests": req_obs, "cpu": cpu_obs, "memory": mem}
