"""``SyntheticSpec`` and ``generate_cases`` (private module).

The compact spec string is what ``rca bench --dataset synthetic:SPEC`` takes:
comma-separated ``key=value`` pairs, every key optional.  ``family`` and
``fault`` accept ``mixed`` or several values joined by ``|``
(``family=chain|tree``); case ``i`` cycles through them.

``family=sem`` (alone; ``mixed`` does not include it) selects the linear-SEM
cases of :mod:`rca.evaluation.datasets.synthetic._sem` (PyRCA / CIRCA style): one
metric per node, fault ``shift``, and the extra key ``weights``
(``signed`` or ``positive``); ``seasonality`` must stay 0 and ``n`` at most 500.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rca.engine.errors import InvalidConfigError, InvalidInputError
from rca.evaluation.datasets.base import BenchCase
from rca.evaluation.datasets.synthetic._faults import FAULTS
from rca.evaluation.datasets.synthetic._generate import (
    MAX_SERVICES,
    MIN_SERVICES,
    generate_case,
    parse_step,
)
from rca.evaluation.datasets.synthetic._sem import (
    SEM_FAMILY,
    SEM_FAULTS,
    SEM_MAX_NODES,
    SEM_WEIGHTS,
    generate_sem_case,
)
from rca.evaluation.datasets.synthetic._topology import FAMILIES

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _spec_error(key: str, rule: str, value: Any) -> InvalidConfigError:
    return InvalidConfigError(
        f"synthetic spec: {key!r} must be {rule}; got {value!r}", field=f"synthetic.{key}"
    )


def _choices(key: str, value: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if value == "mixed":
        return allowed
    parts = tuple(p.strip() for p in value.split("|"))
    for p in parts:
        if p not in allowed:
            raise _spec_error(key, f"'mixed' or one or more of {list(allowed)} joined by '|'", value)
    return parts


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic benchmark: which cases :func:`generate_cases` yields.

    Attributes
    ----------
    family : str
        ``"mixed"`` (cycle through the call-graph families), one family, or
        several joined by ``|``; or ``"sem"`` alone for linear-SEM cases in
        the style of PyRCA and CIRCA (:func:`generate_sem_case`).
    n : int
        Services per case, 10 to 2,000 (500 for ``sem``).
    cases : int
        Number of cases, 1 to 100,000.
    seed : int
        Base seed; case ``i`` uses a seed derived from ``(seed, i)``.
    fault : str
        ``"mixed"`` (cycle through all fault kinds), one kind, or several
        joined by ``|``; ``sem`` has the one kind ``"shift"``.
    roots : int
        Simultaneous root causes per case.
    steps : int
        Time steps per case.
    step : str
        Sampling step, ``"1s"`` to ``"5min"``.
    missing : float
        Share of lost points, 0 to 0.5.
    seasonality : bool
        Daily traffic cycle (not for ``sem``).
    noise : float
        Noise scale (1 = default).
    magnitude : float or None
        Fixed severity (symptom shift in noise units; for ``sem`` the root's
        noise-mean shift in noise units); None draws it per case.
    baseline : int or None
        Steps before the fault; None is two thirds of ``steps``.
    lags : float
        Share of calls whose effect arrives 1 to 3 steps late (for ``sem``:
        share of edges that also act one step late, CIRCA's lag-1 term).
    weights : str or None
        ``sem`` only: ``"signed"`` (the default) or ``"positive"`` edge weights.

    Examples
    --------
    >>> spec = SyntheticSpec.parse("family=layered,n=50,cases=100,fault=mixed")
    >>> spec.n, spec.cases, spec.families()
    (50, 100, ('layered',))
    >>> spec.to_string()
    'family=layered,n=50,cases=100,seed=0,fault=mixed,roots=1,steps=120,step=1min,missing=0.0,seasonality=0,noise=1.0,lags=0.0'
    """

    family: str = "mixed"
    n: int = 50
    cases: int = 50
    seed: int = 0
    fault: str = "mixed"
    roots: int = 1
    steps: int = 120
    step: str = "1min"
    missing: float = 0.0
    seasonality: bool = False
    noise: float = 1.0
    magnitude: float | None = None
    baseline: int | None = None
    lags: float = 0.0
    weights: str | None = None

    _INTS: ClassVar[dict[str, tuple[int, int]]] = {
        "n": (MIN_SERVICES, MAX_SERVICES),
        "cases": (1, 100_000),
        "seed": (0, 2**63 - 1),
        "roots": (1, 10),
        "steps": (20, 100_000),
        "baseline": (10, 100_000),
    }
    _FLOATS: ClassVar[dict[str, tuple[float, float]]] = {
        "missing": (0.0, 0.5),
        "noise": (0.0, 10.0),
        "magnitude": (0.0, 1000.0),
        "lags": (0.0, 1.0),
    }

    def __post_init__(self) -> None:
        self.families()
        self.faults()
        self._check_sem()
        for key, (lo, hi) in self._INTS.items():
            v = getattr(self, key)
            if v is None and key == "baseline":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise _spec_error(key, f"an int in [{lo}, {hi}]", v)
        for key, (flo, fhi) in self._FLOATS.items():
            v = getattr(self, key)
            if v is None and key == "magnitude":
                continue
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            if not ok or not flo <= float(v) <= fhi:
                raise _spec_error(key, f"a number in [{flo}, {fhi}]", v)
        if not isinstance(self.seasonality, bool):
            raise _spec_error("seasonality", "0 or 1", self.seasonality)
        if self.baseline is not None and self.baseline > self.steps - 5:
            raise _spec_error("baseline", f"at most steps - 5 = {self.steps - 5}", self.baseline)
        try:
            parse_step(self.step)
        except InvalidInputError:
            raise _spec_error("step", "a duration between '1s' and '5min' in whole seconds", self.step) from None

    def _check_sem(self) -> None:
        """The rules that differ for ``family=sem``."""
        if not self.is_sem():
            if self.weights is not None:
                raise _spec_error("weights", "unset unless family=sem", self.weights)
            return
        if self.weights is not None and self.weights not in SEM_WEIGHTS:
            raise _spec_error("weights", f"one of {list(SEM_WEIGHTS)}", self.weights)
        if isinstance(self.n, (int, np.integer)) and not isinstance(self.n, bool) and self.n > SEM_MAX_NODES:
            raise _spec_error("n", f"an int in [{MIN_SERVICES}, {SEM_MAX_NODES}] with family=sem", self.n)
        if self.seasonality is True:
            raise _spec_error("seasonality", "0 with family=sem (a linear SEM has no traffic cycle)", 1)

    def is_sem(self) -> bool:
        """Whether the cases are linear-SEM ones (``family=sem``)."""
        return self.families() == (SEM_FAMILY,)

    @classmethod
    def keys(cls) -> list[str]:
        """The keys a spec string may use."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def parse(cls, text: str) -> SyntheticSpec:
        """Read ``"key=value,key=value"`` (every key optional; ``""`` = defaults).

        A leading ``"synthetic:"`` is ignored.  Raises
        :class:`rca.engine.errors.InvalidConfigError` naming the key
        (``field="synthetic.<key>"``) for an unknown key or a bad value.
        """
        if not isinstance(text, str):
            raise InvalidConfigError(
                f"synthetic spec must be a string, got {type(text).__name__}", field="synthetic"
            )
        body = text.strip()
        if body.startswith("synthetic:"):
            body = body[len("synthetic:") :]
        known = cls.keys()
        values: dict[str, Any] = {}
        for item in filter(None, (p.strip() for p in body.split(","))):
            key, sep, raw = item.partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or not key:
                raise InvalidConfigError(
                    f"synthetic spec: expected key=value, got {item!r} "
                    "(example: 'family=layered,n=50,cases=100')",
                    field="synthetic",
                )
            if key not in known:
                raise InvalidConfigError(
                    f"synthetic spec: unknown key {key!r}; known: {', '.join(known)}",
                    field=f"synthetic.{key}",
                )
            if key in values:
                raise InvalidConfigError(
                    f"synthetic spec: key {key!r} given twice", field=f"synthetic.{key}"
                )
            values[key] = cls._convert(key, raw)
        return cls(**values)

    @classmethod
    def _convert(cls, key: str, raw: str) -> Any:
        if key in ("family", "fault", "step", "weights"):
            return raw
        if key == "seasonality":
            low = raw.lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise _spec_error(key, "0 or 1", raw)
        if key in ("magnitude", "baseline") and raw.lower() in ("", "none", "random"):
            return None
        if key in cls._INTS:
            try:
                return int(raw)
            except ValueError:
                lo, hi = cls._INTS[key]
                raise _spec_error(key, f"an int in [{lo}, {hi}]", raw) from None
        try:
            return float(raw)
        except ValueError:
            lo_f, hi_f = cls._FLOATS[key]
            raise _spec_error(key, f"a number in [{lo_f}, {hi_f}]", raw) from None

    def families(self) -> tuple[str, ...]:
        """The families case ``i`` cycles through."""
        if not isinstance(self.family, str):
            raise _spec_error("family", "a string", self.family)
        if self.family == "mixed":
            return FAMILIES
        fams = _choices("family", self.family, (*FAMILIES, SEM_FAMILY))
        if SEM_FAMILY in fams and len(fams) > 1:
            raise _spec_error("family", "'sem' alone (it does not mix with the call-graph families)", self.family)
        return fams

    def faults(self) -> tuple[str, ...]:
        """The fault kinds case ``i`` cycles through."""
        if not isinstance(self.fault, str):
            raise _spec_error("fault", "a string", self.fault)
        return _choices("fault", self.fault, SEM_FAULTS if self.is_sem() else FAULTS)

    def to_string(self) -> str:
        """The spec string that parses back to this spec."""
        parts = []
        for key in self.keys():
            v = getattr(self, key)
            if v is None:
                continue
            parts.append(f"{key}={int(v) if isinstance(v, bool) else v}")
        return ",".join(parts)

    def case_params(self, i: int) -> dict[str, Any]:
        """The :func:`generate_case` (for ``sem``: :func:`generate_sem_case`) arguments of case ``i``."""
        fams, faults = self.families(), self.faults()
        seed = int(np.random.SeedSequence([self.seed, i]).generate_state(1, dtype=np.uint64)[0] >> 1)
        if self.is_sem():
            return {
                "n_services": self.n,
                "fault": faults[i % len(faults)],
                "n_roots": self.roots,
                "steps": self.steps,
                "step": self.step,
                "baseline_steps": self.baseline,
                "missing": self.missing,
                "noise": self.noise,
                "magnitude": self.magnitude,
                "lags": self.lags,
                "weights": self.weights or "signed",
                "seed": seed,
            }
        return {
            "family": fams[i % len(fams)],
            "n_services": self.n,
            "fault": faults[(i // len(fams)) % len(faults)],
            "n_roots": self.roots,
            "steps": self.steps,
            "step": self.step,
            "baseline_steps": self.baseline,
            "seasonality": self.seasonality,
            "missing": self.missing,
            "noise": self.noise,
            "magnitude": self.magnitude,
            "lags": self.lags,
            "seed": seed,
        }


def generate_cases(spec: str | SyntheticSpec = "", **overrides: Any) -> Iterator[BenchCase]:
    """Yield the cases of a synthetic benchmark, lazily, one per index.

    Parameters
    ----------
    spec : str or SyntheticSpec
        ``"family=layered,n=50,cases=100,seed=0,fault=mixed,roots=1,step=1min"``;
        every key optional (see :class:`SyntheticSpec` for keys and defaults).
    **overrides
        Spec keys given as Python values, applied on top of ``spec``
        (``generate_cases("family=chain", cases=3)``).

    Yields
    ------
    BenchCase
        Case ``i`` has ``case_id`` ``"<family>-<n>/<fault>/<i>"`` and is
        generated from a seed derived from ``(seed, i)`` with
        :class:`numpy.random.SeedSequence`, so any case can be rebuilt alone.
        Families cycle fastest, then fault kinds: the first
        ``len(families) * len(faults)`` cases cover every combination.

    Raises
    ------
    rca.engine.errors.InvalidConfigError
        Unknown key or bad value, naming it (``field="synthetic.<key>"``).

    Examples
    --------
    >>> cases = list(generate_cases("family=chain|tree,n=10,cases=4,fault=latency_step"))
    >>> [c.case_id for c in cases]
    ['chain-10/latency_step/0', 'tree-10/latency_step/1', 'chain-10/latency_step/2', 'tree-10/latency_step/3']
    """
    base = spec if isinstance(spec, SyntheticSpec) else SyntheticSpec.parse(spec)
    known = SyntheticSpec.keys()
    for key in overrides:
        if key not in known:
            raise InvalidConfigError(
                f"synthetic spec: unknown key {key!r}; known: {', '.join(known)}",
                field=f"synthetic.{key}",
            )
    full = dataclasses.replace(base, **overrides) if overrides else base
    return _iterate(full)


def _iterate(spec: SyntheticSpec) -> Iterator[BenchCase]:
    generate = generate_sem_case if spec.is_sem() else generate_case
    for i in range(spec.cases):
        params = spec.case_params(i)
        case = generate(**params)
        yield dataclasses.replace(
            case,
            case_id=f"{case.group}/{params['fault']}/{i}",
            meta={**case.meta, "spec": spec.to_string(), "index": i},
        )
