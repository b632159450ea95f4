"""Metrics from Prometheus: a small ``query_range`` client and :func:`fetch_metrics`.

Errors::

    AnalysisError
    └── PrometheusError                 .query, .status
        ├── PrometheusUnavailableError  unreachable, 5xx, or 503 (timeout/abort)
        └── PrometheusQueryError        400 bad parameters / 422 cannot execute

Partial-data ``warnings`` (and ``infos``) in a successful answer are kept on
the client (:attr:`PrometheusClient.warnings`) and in the fetched frame's
``attrs["warnings"]``; they never raise.  A catalog entry whose query selects
no series of the requested services is never dropped in silence: it is a
``DataIssue(kind="catalog_no_series")`` in ``attrs["issues"]`` naming the
entry, the query and the closest names Prometheus has
(:mod:`rca.sources.prometheus_hints`).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from rca.engine.errors import AnalysisError, InvalidIncidentError
from rca.engine.types import DataIssue, TimeLike, to_utc
from rca.sources.catalog import MetricsCatalog
from topology import ServiceGraph

__all__ = [
    "PrometheusError",
    "PrometheusUnavailableError",
    "PrometheusQueryError",
    "Series",
    "PrometheusClient",
    "choose_step",
    "fetch_metrics",
    "MAX_POINTS_PER_SERIES",
]

logger = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000
COLUMNS = ["timestamp", "service", "metric", "value"]


class PrometheusError(AnalysisError):
    """Prometheus could not answer; ``query`` is the PromQL, ``status`` the HTTP status."""

    def __init__(self, message: str, *, query: str | None = None, status: int | None = None) -> None:
        super().__init__(message, field="prometheus")
        self.query = query
        self.status = status


class PrometheusUnavailableError(PrometheusError):
    """Prometheus is down, unreachable, overloaded or timed out (retry later)."""


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query (400) or could not execute it (422): fix the catalog."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and points (unix seconds, floats)."""

    labels: Mapping[str, str]
    timestamps: np.ndarray
    values: np.ndarray


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once: loading the CA bundle cost 5% of an alert storm's fetches (a client each)."""
    return httpx.create_ssl_context()


def _unix(value: TimeLike, name: str) -> float:
    return to_utc(value, field=name).value / 1e9


def _short(query: str, limit: int = 300) -> str:
    return query if len(query) <= limit else query[: limit - 3] + "..."


class PrometheusClient:
    """A synchronous client of the Prometheus HTTP API (``/api/v1/query_range``, ``/api/v1/query``).

    Parameters
    ----------
    base_url : str
        E.g. ``http://prometheus:9090`` (a path prefix is kept).
    timeout : float
        Seconds for each HTTP request; also sent as the query ``timeout``.
    headers : mapping, optional
        Extra headers (e.g. ``Authorization``) for a protected Prometheus.
    transport : httpx.BaseTransport, optional
        For tests.
    configured_by : str
        Where ``base_url`` came from (a setting or a CLI option), named in
        the "unreachable" error so the user knows what to fix.

    Examples
    --------
    >>> with PrometheusClient("http://127.0.0.1:9090") as prom:  # doctest: +SKIP
    ...     series = prom.query_range('up', "2024-05-01T12:00Z", "2024-05-01T13:00Z", 60)
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        configured_by: str = "RCA_PROMETHEUS_URL",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.configured_by = configured_by
        self.timeout = float(timeout)
        self.warnings: list[str] = []
        self._http = httpx.Client(
            base_url=self.base_url, timeout=self.timeout, headers=dict(headers or {}), transport=transport,
            verify=_tls_context(),
        )  # fmt: skip

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- raw API ----------------------------------------------------------------
    def _call(self, path: str, query: str, params: dict[str, Any], *, method: str = "POST") -> Any:
        form = {"query": query, "timeout": f"{self.timeout:g}s", **params}
        try:
            if method == "GET":  # the metadata endpoints (label values) take no form body
                resp = self._http.get(path, params=params)
            else:
                resp = self._http.post(path, data=form)
        except httpx.TimeoutException:
            raise PrometheusUnavailableError(
                f"Prometheus at {self.base_url} did not answer within {self.timeout:g}s for query {_short(query)!r}",
                query=query,
            ) from None
        except httpx.HTTPError as exc:
            raise PrometheusUnavailableError(
                f"Prometheus at {self.base_url} is unreachable ({type(exc).__name__}: {exc}) "
                f"for query {_short(query)!r}; check {self.configured_by}",
                query=query,
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        detail = body.get("error") if isinstance(body, dict) else None
        detail = detail or resp.text[:200] or resp.reason_phrase
        if resp.status_code == 400:
            raise PrometheusQueryError(
                f"Prometheus rejected query {_short(query)!r} (400 bad data): {detail}", query=query, status=400
            )
        if resp.status_code == 422:
            raise PrometheusQueryError(
                f"Prometheus cannot execute query {_short(query)!r} (422): {detail}", query=query, status=422
            )
        if resp.status_code == 503:
            raise PrometheusUnavailableError(
                f"Prometheus timed out or aborted query {_short(query)!r} (503): {detail}", query=query, status=503
            )
        if resp.status_code >= 400:
            raise PrometheusUnavailableError(
                f"Prometheus at {self.base_url} answered {resp.status_code} for query {_short(query)!r}: {detail}",
                query=query,
                status=resp.status_code,
            )
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), (dict, list)):
            raise PrometheusQueryError(
                f"Prometheus answered query {_short(query)!r} with an unexpected body: {resp.text[:200]!r}",
                query=query,
                status=resp.status_code,
            )
        for key in ("warnings", "infos"):
            for w in body.get(key) or []:
                note = f"{key[:-1]} for query {_short(query, 120)!r}: {w}"
                self.warnings.append(note)
                logger.info("prometheus %s", note)
        return body["data"]

    def query_range(self, query: str, start: TimeLike, end: TimeLike, step: float) -> list[Series]:
        """Evaluate ``query`` at ``start, start+step, ... <= end``; values parsed to float."""
        if not (isinstance(step, (int, float)) and step > 0):
            raise InvalidIncidentError(f"step must be positive seconds, got {step!r}", field="step")
        s, e = _unix(start, "start"), _unix(end, "end")
        data = self._call("/api/v1/query_range", query, {"start": f"{s:.3f}", "end": f"{e:.3f}", "step": f"{step:g}"})
        if data.get("resultType") != "matrix":
            raise PrometheusQueryError(
                f"query {_short(query)!r} returned {data.get('resultType')!r}, expected a range vector (matrix)",
                query=query,
            )
        out = []
        for item in data.get("result") or []:
            pts = item.get("values") or []
            ts = np.array([float(p[0]) for p in pts], dtype=float)
            # Values arrive as strings, including "NaN", "+Inf", "-Inf".
            vals = np.array([float(p[1]) for p in pts], dtype=float)
            out.append(Series(dict(item.get("metric") or {}), ts, vals))
        return out

    def query(self, query: str, time: TimeLike | None = None) -> list[tuple[dict[str, str], float]]:
        """Instant query: ``[(labels, value), ...]`` for a vector result."""
        params = {} if time is None else {"time": f"{_unix(time, 'time'):.3f}"}
        data = self._call("/api/v1/query", query, params)
        if data.get("resultType") != "vector":
            raise PrometheusQueryError(
                f"query {_short(query)!r} returned {data.get('resultType')!r}, expected an instant vector",
                query=query,
            )
        return [(dict(i.get("metric") or {}), float(i["value"][1])) for i in data.get("result") or []]

    def label_values(
        self, label: str, start: TimeLike | None = None, end: TimeLike | None = None, *, match: str | None = None
    ) -> list[str]:
        """The values of ``label`` (``__name__``: metric names) in ``[start, end]``, of series matching ``match``."""
        params: dict[str, Any] = {}
        if start is not None:
            params["start"] = f"{_unix(start, 'start'):.3f}"
        if end is not None:
            params["end"] = f"{_unix(end, 'end'):.3f}"
        if match is not None:
            params["match[]"] = match
        what = f"label values of {label}" + (f" for {match}" if match else "")
        data = self._call(f"/api/v1/label/{label}/values", what, params, method="GET")
        if not isinstance(data, list):
            raise PrometheusQueryError(f"{what}: expected a list of values, got {type(data).__name__}", query=what)
        return [str(v) for v in data]


def choose_step(start: TimeLike, end: TimeLike, *, min_step: float = 15.0, max_points: int = MAX_POINTS_PER_SERIES) -> float:
    """The smallest whole-second step >= ``min_step`` giving at most ``max_points`` per series.

    >>> choose_step(0, 3600, min_step=15)
    15.0
    >>> choose_step(0, 30 * 86400, min_step=15)  # 30 days: 236 s keeps it under 11,000
    236.0
    """
    span = _unix(end, "end") - _unix(start, "start")
    if span <= 0:
        raise InvalidIncidentError("the fetch window must end after it starts", field="end")
    step = max(float(min_step), math.ceil(span / (max_points - 1)))
    while math.floor(span / step) + 1 > max_points:
        step += 1
    return float(step)


_PROM_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_PROM_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _duration(value: str | float | timedelta | pd.Timedelta, name: str) -> pd.Timedelta:
    """A duration: seconds, a timedelta, Prometheus style (``90d``, ``1h30m``) or pandas style (``60min``)."""
    if isinstance(value, str) and _PROM_DURATION.match(value.strip()):
        secs = sum(int(n) * _PROM_UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h|d|w|y)", value))
        return pd.Timedelta(seconds=secs)
    try:
        td = pd.Timedelta(seconds=value) if isinstance(value, (int, float)) else pd.Timedelta(value)
    except (ValueError, TypeError):
        raise InvalidIncidentError(f"{name} must be a duration such as '60min', got {value!r}", field=name) from None
    if td < pd.Timedelta(0):
        raise InvalidIncidentError(f"{name} must not be negative, got {value!r}", field=name)
    return td


def _mean_by_timestamp(group: list[Series]) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (sorted, unique) and values of one service's series, the mean where several have a point."""
    if len(group) == 1:
        ts, vals = np.asarray(group[0].timestamps), np.asarray(group[0].values, dtype=float)
        if len(ts) < 2 or bool(np.all(ts[1:] > ts[:-1])):  # a range query's one series: already sorted, unique
            return ts, vals
    ts = np.concatenate([g.timestamps for g in group])
    vals = np.concatenate([g.values for g in group])
    df = pd.DataFrame({"ts": ts, "value": vals}).groupby("ts", sort=True)["value"].mean().reset_index()
    return df["ts"].to_numpy(), df["value"].to_numpy(dtype=float)


def _long_frame(parts: list[tuple[str, str, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """The long frame (``COLUMNS``) of ``(service, metric, timestamps, values)`` parts, sorted by service, metric, time."""
    if not parts:
        return pd.DataFrame({"timestamp": pd.to_datetime([], utc=True), "service": [], "metric": [], "value": []})
    lengths = [len(p[2]) for p in parts]
    out = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(np.concatenate([p[2] for p in parts]), unit="s", utc=True),
            "service": np.repeat(np.array([p[0] for p in parts], dtype=object), lengths),
            "metric": np.repeat(np.array([p[1] for p in parts], dtype=object), lengths),
            "value": np.concatenate([p[3] for p in parts]).astype(float, copy=False),
        }
    )
    return out.sort_values(["service", "metric", "timestamp"], kind="stable").reset_index(drop=True)


def fetch_metrics(
    client: PrometheusClient,
    catalog: MetricsCatalog,
    graph: ServiceGraph,
    symptom: str,
    start: TimeLike,
    end: TimeLike,
    baseline: str | float | timedelta | pd.Timedelta = "60min",
    depth: int | None = None,
    *,
    metrics: Iterable[str] | None = None,
    min_step: float = 15.0,
    max_points: int = MAX_POINTS_PER_SERIES,
    on_query: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Fetch what an analysis of ``symptom`` needs, as a long frame.

    The services are ``symptom`` and everything it depends on in ``graph``
    (transitively, at most ``depth`` call hops; None = all), the window is
    ``[start - baseline, end]``, and each catalog metric costs one
    ``query_range`` with a regex matcher over those services, at a step that
    keeps every series under ``max_points``.  ``on_query(metric)`` is called
    before each query (a progress bar).

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp`` (UTC), ``service``, ``metric``, ``value``.
        ``attrs`` holds ``step_seconds``, ``services``, ``queries``
        (metric -> PromQL), ``warnings`` (Prometheus partial-data warnings,
        duplicate series merged), ``missing`` (``service/metric`` pairs
        with no data), ``empty`` (entries whose query selected no series of
        the services) and ``issues`` (one ``catalog_no_series``
        :class:`~rca.engine.types.DataIssue` per empty entry, with hints).
    """
    if symptom not in graph:
        raise InvalidIncidentError(
            f"symptom service {symptom!r} is not in the topology ({len(graph)} services)", field="incident.service"
        )
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise InvalidIncidentError(f"depth must be a positive int or None, got {depth!r}", field="depth")
    t_end = to_utc(end, field="end")
    t0 = to_utc(start, field="start") - _duration(baseline, "baseline")
    step = choose_step(t0, t_end, min_step=min_step, max_points=max_points)
    services = sorted({symptom} | graph.dependencies(symptom, depth))
    names = list(catalog.metrics) if metrics is None else list(dict.fromkeys(metrics))
    for m in names:
        catalog.entry(m)

    warn_from = len(client.warnings)
    notes: list[str] = []
    # one (service, metric, timestamps, values) per series: the frame is built once at the end, because a
    # DataFrame per series cost 85% of a fetch (the string columns), most of the server's CPU in an alert storm
    parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    queries: dict[str, str] = {}
    wanted = set(services)
    empty: list[str] = []
    for metric in names:
        q = catalog.render(metric, services)
        queries[metric] = q
        if on_query is not None:
            on_query(metric)
        label = catalog.metrics[metric].service_label
        per_service: dict[str, list[Series]] = {}
        for s in client.query_range(q, t0, t_end, step):
            svc = s.labels.get(label)
            if svc is None or svc not in wanted:
                notes.append(
                    f"metric {metric!r}: a result series has {label}={svc!r}, not one of the requested services; ignored"
                )
                continue
            per_service.setdefault(svc, []).append(s)
        if not per_service:
            empty.append(metric)
        for svc, group in per_service.items():
            if len(group) > 1:
                notes.append(
                    f"metric {metric!r}: {len(group)} series for service {svc!r} were averaged; aggregate with "
                    f"'sum by ({label}) (...)' in the catalog to choose how"
                )
            parts.append((svc, metric, *_mean_by_timestamp(group)))
    out = _long_frame(parts)
    present = set(out[["service", "metric"]].drop_duplicates().itertuples(index=False, name=None))
    from rca.sources.prometheus_hints import no_series_message

    issues = [
        DataIssue("catalog_no_series", no_series_message(client, catalog, m, queries[m], services, t0, t_end), metric=m)
        for m in empty
    ]
    out.attrs.update(
        step_seconds=step,
        services=services,
        queries=queries,
        warnings=client.warnings[warn_from:] + notes,
        missing=[f"{s}/{m}" for m in names for s in services if (s, m) not in present],
        window=(t0.isoformat(), t_end.isoformat()),
        empty=empty,
        issues=issues,
    )
    return out
