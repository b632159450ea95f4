"""Analysis configuration: one frozen object with documented, validated defaults.

Every parameter is declared in a table (``_RULES``) and checked at construction,
with messages in the form
``The 'max_lag' parameter of GrangerConfig must be an int in [1, 50]. Got 0 instead.``

``RCAConfig.from_dict`` accepts the nested dictionary form used by the HTTP API
and the CLI (``{"granger": {"max_lag": 3}, "rank": {"top_k": 5}}``).
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from rca.engine.errors import InvalidConfigError, did_you_mean

__all__ = ["AlignConfig", "DetectConfig", "GrangerConfig", "RCAConfig", "RankConfig"]


def _fail(cls: str, name: str, rule: str, value: Any, path: str) -> InvalidConfigError:
    return InvalidConfigError(
        f"The {name!r} parameter of {cls} must be {rule}. Got {value!r} instead.",
        field=path,
    )


class _Validated:
    """Mixin: validate fields against the class's ``_RULES`` table."""

    _RULES: ClassVar[dict[str, tuple]] = {}
    _PATH: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self).__name__
        for name, rule in self._RULES.items():
            value = getattr(self, name)
            path = f"{self._PATH}.{name}" if self._PATH else name
            kind = rule[0]
            if kind == "optional" and value is None:
                continue
            if kind == "optional":
                rule = rule[1:]
                kind = rule[0]
            if kind in ("int", "float"):
                lo, hi = rule[1], rule[2]
                ok_type = (
                    isinstance(value, int) and not isinstance(value, bool)
                    if kind == "int"
                    else isinstance(value, (int, float)) and not isinstance(value, bool)
                )
                if not ok_type or not (lo <= value <= hi):
                    raise _fail(cls, name, f"{'an' if kind == 'int' else 'a'} {kind} in [{lo}, {hi}]", value, path)
            elif kind == "choice":
                if value not in rule[1]:
                    raise _fail(cls, name, f"one of {sorted(rule[1])}", value, path)
            elif kind == "bool":
                if not isinstance(value, bool):
                    raise _fail(cls, name, "a bool", value, path)
            elif kind == "timezone":
                if not isinstance(value, str) or value not in zoneinfo.available_timezones():
                    raise _fail(cls, name, f"an IANA time zone name{did_you_mean(str(value), zoneinfo.available_timezones())}", value, path)
            elif kind == "calibration":
                if not isinstance(value, str) or not value:
                    raise _fail(cls, name, "'default', 'none' or the path of a calibration file", value, path)
                if value not in ("default", "none") and not Path(value).is_file():
                    raise _fail(cls, name, "'default', 'none' or the path of an existing calibration file", value, path)
            elif kind == "duration":
                try:
                    td = pd.Timedelta(value)
                except (ValueError, TypeError):
                    raise _fail(cls, name, "a duration such as '5min' or '30s'", value, path) from None
                if td <= pd.Timedelta(0):
                    raise _fail(cls, name, "a positive duration", value, path)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, _Validated):
                out[f.name] = v.to_dict()
            elif isinstance(v, Mapping):
                out[f.name] = dict(v)
            else:
                out[f.name] = v
        return out

    @classmethod
    def _from_mapping(cls, data: Mapping[str, Any], path: str) -> Any:
        if not isinstance(data, Mapping):
            raise InvalidConfigError(f"{path or 'config'} must be an object, got {type(data).__name__}", field=path or "config")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise InvalidConfigError(
                f"unknown parameter {unknown[0]!r} for {cls.__name__}; known: {sorted(names)}",
                field=where,
            )
        return cls(**data)


@dataclass(frozen=True)
class AlignConfig(_Validated):
    """How series are put on one time grid.

    Attributes
    ----------
    step : str or None
        Grid step as a pandas duration (``"1min"``); None infers it as the
        median spacing of the timestamps.
    aggregation : {"mean", "median", "max", "min", "sum", "last"}
        How points falling in one grid cell are combined.
    fill_limit : int
        At most this many consecutive missing grid points are filled
        (linear interpolation); longer gaps stay missing and are reported.
    timezone : str or None
        IANA zone (``"Asia/Shanghai"``) in which timestamps without a zone are
        read; None reads them as UTC (reported as ``naive_timestamps_read_as_utc``).
    """

    step: str | None = None
    aggregation: str = "mean"
    fill_limit: int = 3
    timezone: str | None = None

    _RULES: ClassVar[dict[str, tuple]] = {
        "step": ("optional", "duration"),
        "aggregation": ("choice", {"mean", "median", "max", "min", "sum", "last"}),
        "fill_limit": ("int", 0, 10_000),
        "timezone": ("optional", "timezone"),
    }
    _PATH: ClassVar[str] = "align"


@dataclass(frozen=True)
class DetectConfig(_Validated):
    """Anomaly scoring of the incident window against a baseline.

    Attributes
    ----------
    baseline : str or None
        Length of the pre-incident baseline (``"60min"``) when no separate
        normal data is given; None uses everything before the incident.
    window : str or None
        Length of the incident window when the incident has no end; None runs
        to the end of the data, at most ``horizon`` grid points.
    horizon : int or None
        When the incident has neither an end nor a ``window``, the window is
        its first ``horizon`` grid points: an alert's cause shows at the alert
        or soon after it, and hours of later data only add chances for
        unrelated noise to look extreme.  None runs to the end of the data.
    threshold : float
        A series is anomalous when its score (deviation in units of the
        baseline's own extreme deviations) exceeds this.
    min_norm : float
        The least a baseline's extreme deviation counts as, in robust
        deviations: a short or calm baseline whose extreme is smaller does
        not make small moves look extreme.
    single_point : float
        On windows of four points or more an anomaly must last two
        consecutive points to count fully; a one-point spike counts this share.
    level_margin : float
        The window's rolling medians are judged against the baseline's own
        k-point medians with this margin, since their maximum is taken over
        many positions.
    false_alarm : float or None
        How likely a normal series may cross ``threshold`` somewhere in the
        window.  A window of N points has N chances to pass the baseline's
        extreme; when those chances make a crossing likelier than this, the
        extreme is extended along the baseline's own tail until it is not
        (long windows, short baselines).  None compares every window with
        the baseline's extreme as it is.
    min_baseline_points : int
        Fewer baseline points than this make a series unscorable (reported).
    short_baseline_points : int
        A symptom baseline with fewer points than this is *short*: the
        analysis ranks as usual and says how short (``short_baseline``); the
        candidates' confidence carries the baseline's length (see
        :mod:`rca.engine.rank`).  The same for a window of fewer than three
        points (``short_window``).  0 never reports it.
    symptom_threshold : float
        A symptom series scoring no more than this counts as "quiet" (0
        disables the check).  Lower than ``threshold``: an alert often fires
        on an aggregate that moves less than the series behind it.
    quiet_symptom_factor : float
        With a quiet symptom, a candidate must score above
        ``threshold * quiet_symptom_factor`` to be named at all; otherwise the
        answer is "no anomaly".
    baseline_incident_z : float or None
        Baseline points where the symptom series itself stays beyond this
        many robust deviations (in its bad direction) for two or more
        consecutive points are earlier incidents, not normal operation:
        those rows leave every series' baseline (reported as
        ``baseline_incident``; never more than a quarter of the baseline).
        None keeps every row.
    seasonal_period : int or None
        Remove a seasonal component with STL when the baseline covers at
        least two periods (in grid steps); None disables.
    directions : mapping
        Overrides of the bad direction per metric name pattern
        (``{"queue_depth": "up"}``); values ``"up"``, ``"down"``, ``"both"``.
    """

    baseline: str | None = None
    window: str | None = None
    horizon: int | None = 30
    threshold: float = 1.0
    min_norm: float = 3.0
    single_point: float = 0.25
    level_margin: float = 3.0
    false_alarm: float | None = 0.05
    min_baseline_points: int = 1
    short_baseline_points: int = 30
    symptom_threshold: float = 0.5
    quiet_symptom_factor: float = 6.0
    baseline_incident_z: float | None = 5.0
    seasonal_period: int | None = None
    directions: Mapping[str, str] = field(default_factory=dict)

    _RULES: ClassVar[dict[str, tuple]] = {
        "baseline": ("optional", "duration"),
        "window": ("optional", "duration"),
        "horizon": ("optional", "int", 1, 1_000_000),
        "threshold": ("float", 0.0, 1e6),
        "min_norm": ("float", 0.1, 1e6),
        "single_point": ("float", 0.0, 1.0),
        "level_margin": ("float", 1.0, 100.0),
        "false_alarm": ("optional", "float", 1e-6, 1.0),
        "min_baseline_points": ("int", 1, 1_000_000),
        "short_baseline_points": ("int", 0, 1_000_000),
        "symptom_threshold": ("float", 0.0, 1e6),
        "quiet_symptom_factor": ("float", 1.0, 1e6),
        "baseline_incident_z": ("optional", "float", 0.5, 1e6),
        "seasonal_period": ("optional", "int", 2, 100_000),
    }
    _PATH: ClassVar[str] = "detect"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.directions, Mapping):
            raise _fail("DetectConfig", "directions", "a mapping of metric pattern to 'up'/'down'/'both'", self.directions, "detect.directions")
        for k, v in self.directions.items():
            if v not in ("up", "down", "both"):
                raise _fail("DetectConfig", "directions", "a mapping of metric pattern to 'up'/'down'/'both'", {k: v}, f"detect.directions.{k}")


@dataclass(frozen=True)
class GrangerConfig(_Validated):
    """Granger-causality tests along call edges (callee metric -> caller metric).

    Attributes
    ----------
    enabled : bool
        Run the tests at all (the ``no-granger`` ablation turns this off).
    max_lag : int
        Largest lag tried; the lag is selected per pair by BIC.
    alpha : float
        False-discovery rate for the Benjamini–Hochberg correction.
    difference : {"auto", "always", "never"}
        Difference series that look non-stationary (``auto``: an ADF test).
    context : int
        Baseline points before the incident included in the test window.
    ranks : bool
        Test the series' ranks instead of their values: a few coincident
        spikes (common in per-minute latency percentiles) then cannot fake a
        significant lag relation.
    """

    enabled: bool = True
    max_lag: int = 2
    alpha: float = 0.05
    difference: str = "auto"
    context: int = 30
    ranks: bool = True

    _RULES: ClassVar[dict[str, tuple]] = {
        "enabled": ("bool",),
        "max_lag": ("int", 1, 50),
        "alpha": ("float", 1e-12, 0.5),
        "difference": ("choice", {"auto", "always", "never"}),
        "context": ("int", 0, 100_000),
        "ranks": ("bool",),
    }
    _PATH: ClassVar[str] = "granger"


@dataclass(frozen=True)
class RankConfig(_Validated):
    """Graph ranking and fusion into one score per candidate.

    Attributes
    ----------
    top_k : int
        Number of causes returned.
    use_topology : bool
        Restrict candidates to the symptom's dependencies and use the graph
        (the ``no-topology`` ablation ranks every anomalous service instead).
    use_pagerank : bool
        Include the random-walk score (the ``no-ranking`` ablation turns it off).
    restart : float
        Restart probability of the random walk (back to the symptom).
    max_depth : int or None
        Follow dependencies at most this many call hops from the symptom.
    null_log_score : float
        Log-score of the null hypothesis "the anomalies are noise, there is no
        root cause" when the symptom sits exactly at the detection threshold;
        the null loses the symptom's anomaly log-odds (an anomalous symptom
        makes it less likely).  A candidate must beat it to be named, and it
        takes its share of the confidence.
    quiet_null_log_score : float
        The most a quiet symptom (one inside its normal range) can add to the
        null's log-score.
    sharpness : float
        Log-odds that a series is anomalous per unit of ``log(score /
        threshold)``: 0 at the threshold, 0.8 probability at twice it.
    baseline_cap : float
        A baseline of n points cannot back odds much beyond n : 1 that a value
        is abnormal: a series' log-odds are capped at ``baseline_cap *
        log(1 + n)``, and grow past the cap at ``beyond_cap`` of their slope.
    beyond_cap : float
        See ``baseline_cap``: past the cap the order of scores is kept, their strength damped.
    corroboration : float
        Weight of a service's other kinds of anomalous signal (a fault inside
        a service usually moves more than one: CPU and latency, errors and traffic).
    other_kind : float
        A dependency anomalous only in the other upward kind than the symptom's
        (errors under a latency symptom, or the reverse) counts this share.
    noise : float
        Probability that a service unrelated to the root cause looks anomalous.
    propagate : float
        Probability that a caller of the root cause looks anomalous (faults
        pass up the calls to some callers, not all).
    walk_back : float
        Weight of the random walk's step back to a caller, against a step to a dependency.
    walk_weight : float
        Weight of the random walk's log-probability in a candidate's log-score.
    granger_weight : float
        Log-score added per significant Granger test from a candidate to a
        caller (and removed per test from a dependency to it).
    calibration : str
        What turns the ranking's posterior into a confidence that means a
        probability: ``"default"`` (the map shipped with the engine, fitted
        on every benchmark system), ``"none"`` (the raw posterior) or the
        path of a file written by ``rca calibrate`` (a team's own incidents).
        See :mod:`rca.engine.confidence`.
    """

    top_k: int = 5
    use_topology: bool = True
    use_pagerank: bool = True
    restart: float = 0.15
    max_depth: int | None = None
    null_log_score: float = 0.5
    quiet_null_log_score: float = 1.5
    sharpness: float = 2.0
    baseline_cap: float = 1.5
    beyond_cap: float = 0.3
    corroboration: float = 1.0
    other_kind: float = 0.6
    noise: float = 0.05
    propagate: float = 0.12
    walk_back: float = 0.2
    walk_weight: float = 0.5
    granger_weight: float = 1.0
    calibration: str = "default"

    _RULES: ClassVar[dict[str, tuple]] = {
        "top_k": ("int", 1, 10_000),
        "use_topology": ("bool",),
        "use_pagerank": ("bool",),
        "restart": ("float", 0.01, 0.99),
        "max_depth": ("optional", "int", 1, 1000),
        "null_log_score": ("float", -100.0, 100.0),
        "quiet_null_log_score": ("float", 0.0, 100.0),
        "sharpness": ("float", 0.01, 100.0),
        "baseline_cap": ("float", 0.01, 100.0),
        "beyond_cap": ("float", 0.0, 1.0),
        "corroboration": ("float", 0.0, 10.0),
        "other_kind": ("float", 0.0, 1.0),
        "noise": ("float", 1e-6, 0.5),
        "propagate": ("float", 1e-6, 0.999),
        "walk_back": ("float", 0.0, 10.0),
        "walk_weight": ("float", 0.0, 10.0),
        "granger_weight": ("float", 0.0, 100.0),
        "calibration": ("calibration",),
    }
    _PATH: ClassVar[str] = "rank"


@dataclass(frozen=True)
class RCAConfig(_Validated):
    """Everything that tunes an analysis; the defaults serve every dataset.

    Examples
    --------
    >>> cfg = RCAConfig.from_dict({"granger": {"max_lag": 3}})
    >>> cfg.granger.max_lag, cfg.rank.top_k
    (3, 5)
    """

    align: AlignConfig = field(default_factory=AlignConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    granger: GrangerConfig = field(default_factory=GrangerConfig)
    rank: RankConfig = field(default_factory=RankConfig)

    _SECTIONS: ClassVar[dict[str, type]] = {
        "align": AlignConfig,
        "detect": DetectConfig,
        "granger": GrangerConfig,
        "rank": RankConfig,
    }

    def __post_init__(self) -> None:
        for name, cls in self._SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise _fail("RCAConfig", name, f"a {cls.__name__}", getattr(self, name), name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RCAConfig:
        """Build from the nested dictionary form; unknown keys are errors."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidConfigError(f"config must be an object, got {type(data).__name__}", field="config")
        unknown = sorted(set(data) - set(cls._SECTIONS))
        if unknown:
            raise InvalidConfigError(
                f"unknown config section {unknown[0]!r}; known: {sorted(cls._SECTIONS)}",
                field=unknown[0],
            )
        parts = {
            name: sec._from_mapping(data[name], name)  # type: ignore[attr-defined]
            for name, sec in cls._SECTIONS.items()
            if name in data
        }
        return cls(**parts)

    def replace(self, **sections: Mapping[str, Any]) -> RCAConfig:
        """A copy with some parameters changed: ``cfg.replace(rank={"top_k": 3})``."""
        merged = self.to_dict()
        for name, changes in sections.items():
            if name not in self._SECTIONS:
                raise InvalidConfigError(f"unknown config section {name!r}", field=name)
            merged[name] = {**merged[name], **dict(changes)}
        return RCAConfig.from_dict(merged)
